package mqtt_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
	"github.com/camagent/camagent/uplink/mqtt/receiver"
	"github.com/camagent/camagent/uplink/upload"
)

// patience bounds every wait for the broker; it is a hang guard, not a
// timing assertion.
const patience = 60 * time.Second

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// got is one verified message the cloud side received.
type got struct {
	m    event.Message
	part string
}

// cloud is the receiving end: a receiver with pinned keys and a channel of
// what verified.
type cloud struct {
	r      *receiver.Receiver
	dir    string
	ch     chan got
	subbed chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	devs map[string]receiver.Device
}

func startCloud(t testing.TB, env *mqtttest.Env) *cloud {
	t.Helper()
	c := &cloud{dir: filepath.Join(t.TempDir(), "events"), ch: make(chan got, 4096), subbed: make(chan struct{}, 16), done: make(chan struct{}),
		devs: map[string]receiver.Device{}}
	r, err := receiver.New(receiver.Config{
		Broker: env.URL(), TLS: env.ServiceTLS(mqtttest.ServiceName), ClientID: mqtttest.ServiceName,
		Devices: func(id string) (receiver.Device, bool) {
			c.mu.Lock()
			defer c.mu.Unlock()
			d, ok := c.devs[id]
			return d, ok
		},
		Dir:          c.dir,
		Logger:       testLogger(t, "cloud"),
		Observe:      func(m event.Message, part string) { c.ch <- got{m, part} },
		OnSubscribed: func() { c.subbed <- struct{}{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	c.r = r
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-c.done })
	c.waitSubscribed(t)
	return c
}

func (c *cloud) pin(id string, pub crypto.PublicKey, account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.devs[id] = receiver.Device{Key: pub, Account: account}
}

func (c *cloud) waitSubscribed(t testing.TB) {
	t.Helper()
	select {
	case <-c.subbed:
	case <-time.After(patience):
		t.Fatal("the cloud's receiver did not subscribe")
	}
}

// next returns the next verified message on topic part (others skipped).
func (c *cloud) next(t testing.TB, part string) event.Message {
	t.Helper()
	for {
		select {
		case g := <-c.ch:
			if g.part == part {
				return g.m
			}
		case <-time.After(patience):
			t.Fatalf("no verified message on %q within %s; receiver stats %+v", part, patience, c.r.Stats())
		}
	}
}

// nextKind returns the next verified message of a kind.
func (c *cloud) nextKind(t testing.TB, k event.Kind) event.Message {
	t.Helper()
	for {
		select {
		case g := <-c.ch:
			if g.m.Kind == k {
				return g.m
			}
		case <-time.After(patience):
			t.Fatalf("no verified %s within %s; receiver stats %+v", k, patience, c.r.Stats())
		}
	}
}

// device is a camera's MQTT client under test.
type device struct {
	*mqtttest.Device
	dir    string
	c      *mqtt.Client
	cancel context.CancelFunc
	done   chan struct{}
}

type devOpts struct {
	keys    func() (command.Keys, error)
	handler mqtt.Handler
	owner   string
	queue   int
}

func newDevice(t *testing.T, env *mqtttest.Env, d *mqtttest.Device, dir string, o devOpts) *device {
	t.Helper()
	cfg := mqtt.Config{
		Broker: env.URL(), TLS: d.TLS, Signer: d.Key, BootID: "test-boot", StoreDir: dir,
		QueueSize: o.queue, BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
		KeepAlive: 5 * time.Second, ConnectTimeout: 5 * time.Second,
		Keys: o.keys, Handler: o.handler, Logger: testLogger(t, d.ID[:10]),
		Owner: func() string { return o.owner },
	}
	c, err := mqtt.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &device{Device: d, dir: dir, c: c}
}

func (d *device) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		if err := d.c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(d.stop)
}

func (d *device) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
		d.cancel = nil
	}
}

// testLogger writes to the test log.
func testLogger(t testing.TB, who string) *slog.Logger {
	if _, bench := t.(*testing.B); bench {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("who", who)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a log line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// handler is the daemon's side, recording what it was asked. Config
// patches are validated by the real configuration parser and applied to a
// Config only when valid.
type handler struct {
	mu       sync.Mutex
	cfg      config.Config
	patches  int
	uploads  int
	reboots  int
	formats  int
	snapshot int
}

func newHandler() *handler { return &handler{cfg: config.Default()} }

func (h *handler) ApplyConfigPatch(_ context.Context, patch string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := config.Patch(h.cfg, []byte(patch))
	if err != nil {
		return err
	}
	h.cfg = c
	h.patches++
	return nil
}

func (h *handler) Snapshot(context.Context) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.snapshot++
	return fmt.Sprintf("snapshot-%d.jpg", h.snapshot), nil
}

func (h *handler) UploadNow(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.uploads++
	return nil
}

func (h *handler) Reboot(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reboots++
	return nil
}

func (h *handler) FormatSD(context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.formats++
	return nil
}

func (h *handler) counts() [5]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return [5]int{h.patches, h.uploads, h.reboots, h.formats, h.snapshot}
}

func marshalKey(k *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	return base64.StdEncoding.EncodeToString(der), err
}

func parseKey(s string) (*ecdsa.PrivateKey, error) {
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	return k.(*ecdsa.PrivateKey), nil
}

func helperTLS(key *ecdsa.PrivateKey, certPath, caPath string) (*tls.Config, error) {
	ca, err := os.ReadFile(caPath)
	if err != nil {
		return nil, err
	}
	return upload.TLSConfig(key, certPath, ca, "")
}
