package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mosquitto"
	"github.com/camagent/camagent/uplink/upload"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// patchHandler applies config patches with the real parser.
type patchHandler struct {
	mu  sync.Mutex
	cfg config.Config
}

func (h *patchHandler) ApplyConfigPatch(_ context.Context, p string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := config.Patch(h.cfg, []byte(p))
	if err != nil {
		return err
	}
	h.cfg = c
	return nil
}
func (h *patchHandler) Snapshot(context.Context) (string, error) { return "", errors.New("no camera") }
func (h *patchHandler) UploadNow(context.Context) error          { return nil }
func (h *patchHandler) Reboot(context.Context) error             { return errors.New("no") }
func (h *patchHandler) FormatSD(context.Context) error           { return errors.New("no") }

// TestMQTTEndToEnd: camcloud serve starts mosquitto; a provisioned camera's
// events reach it verified and are shown to the owner's account only; an
// owner-signed command from `camcloud cmd` changes a setting on the camera.
func TestMQTTEndToEnd(t *testing.T) {
	if _, err := mosquitto.Find(); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	mustRun(t, "init", "-data", data, "-log-level", "error")
	alice := provision(t, data, "alice")
	provision(t, data, "bob")
	httpAddr, mqttAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "-data", data, "-listen", httpAddr, "-mqtt", mqttAddr, "-log-level", "error"}, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() { cancel(); <-served })
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "camcloud: mqtt broker on") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	// The camera: its key, certificate and owner binding from provisioning.
	caPEM := must(os.ReadFile(filepath.Join(data, "ca.crt")))
	tc, err := upload.TLSConfig(alice.key, alice.cert, caPEM, "")
	if err != nil {
		t.Fatal(err)
	}
	pairingPub, _ := identity.ParsePublicKeyPEM(must(os.ReadFile(filepath.Join(data, pairingPubFile))))
	b, err := identity.LoadOwnerBinding(alice.binding, pairingPub, alice.key.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	ownerKey, _ := identity.ParsePublicKey(b.OwnerKey)
	h := &patchHandler{cfg: config.Default()}
	cl, err := mqtt.New(mqtt.Config{Broker: "tls://" + mqttAddr, TLS: tc, Signer: alice.key, BootID: "boot",
		StoreDir: t.TempDir(), Owner: func() string { return b.OwnerAccount }, Handler: h,
		Keys:   func() (command.Keys, error) { return command.Keys{Owner: ownerKey, OwnerAccount: b.OwnerAccount}, nil },
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithCancel(context.Background())
	ddone := make(chan struct{})
	go func() { defer close(ddone); _ = cl.Run(dctx) }()
	t.Cleanup(func() { dcancel(); <-ddone })
	cl.Publish(event.Event{Kind: event.KindMotionStart, ScorePPM: 42000, MotionID: 1})

	// The owner's viewer shows the verified event (poll: the cloud stores
	// it asynchronously).
	deadline := time.Now().Add(time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var out string
	for {
		var o bytes.Buffer
		_ = run(context.Background(), []string{"events", "-data", data, "-account", "alice", "-url", "https://" + httpAddr}, &o, io.Discard)
		out = o.String()
		if strings.Contains(out, "motion-start") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's viewer never showed the event:\n%s", out)
		}
		<-tick.C
	}
	if !strings.Contains(out, "SHOW    ") || !strings.Contains(out, alice.key.DeviceID()) || strings.Contains(out, "REFUSE") {
		t.Fatalf("alice's viewer:\n%s", out)
	}
	var bobOut bytes.Buffer
	_ = run(context.Background(), []string{"events", "-data", data, "-account", "bob", "-url", "https://" + httpAddr}, &bobOut, io.Discard)
	if strings.Contains(bobOut.String(), alice.key.DeviceID()) {
		t.Fatalf("bob's viewer shows alice's camera:\n%s", bobOut.String())
	}

	// An owner-signed command changes a setting on the camera.
	res := mustRun(t, "cmd", "-data", data, "-account", "alice", "-device", alice.key.DeviceID(), "-op", "config-patch",
		"-patch", `[motion]\nthreshold = 21`, "-broker", "tls://"+mqttAddr)
	if !strings.Contains(res, "config-patch done") {
		t.Fatalf("cmd: %s", res)
	}
	h.mu.Lock()
	th := h.cfg.Motion.Threshold
	h.mu.Unlock()
	if th != 21 {
		t.Fatalf("threshold %d after the patch", th)
	}
	// Bob cannot command alice's camera with camcloud (not paired to him).
	var errb bytes.Buffer
	if err := run(context.Background(), []string{"cmd", "-data", data, "-account", "bob", "-device", alice.key.DeviceID(),
		"-op", "reboot", "-broker", "tls://" + mqttAddr}, io.Discard, &errb); err == nil {
		t.Fatal("bob's command was sent")
	}
}
