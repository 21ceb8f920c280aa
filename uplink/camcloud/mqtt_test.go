package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/live"
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
		Keys: func() (command.Keys, error) {
			return command.Keys{Owners: []crypto.PublicKey{ownerKey}, OwnerAccount: b.OwnerAccount}, nil
		},
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
	// Live view through the cloud's relay: a viewer holding alice's CLI
	// key posts its signed offer to the page's API; camcloud relays it over
	// mosquitto to the camera, whose signed answer comes back the same way.
	checkLiveRelay(t, data, httpAddr, alice, cl.Signaling())

	// Bob cannot command alice's camera with camcloud (not paired to him).
	var errb bytes.Buffer
	if err := run(context.Background(), []string{"cmd", "-data", data, "-account", "bob", "-device", alice.key.DeviceID(),
		"-op", "reboot", "-broker", "tls://" + mqttAddr}, io.Discard, &errb); err == nil {
		t.Fatal("bob's command was sent")
	}
}

// httpOffers is the page's side of the relay for a Go viewer: Publish POSTs
// the offer to /app/api/live/{device}/offer and hands the answer in the
// response to the answer subscriber.
type httpOffers struct {
	url, token string
	hc         *http.Client
	mu         sync.Mutex
	answers    func([]byte)
}

func (h *httpOffers) Subscribe(_ context.Context, topic string, handle func([]byte)) (func(), error) {
	if topic != live.TopicAnswer {
		return nil, fmt.Errorf("subscribe %s", topic)
	}
	h.mu.Lock()
	h.answers = handle
	h.mu.Unlock()
	return func() {}, nil
}

func (h *httpOffers) Publish(ctx context.Context, topic string, offer []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(offer))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST offer: %s %s %v", resp.Status, b, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.answers(b)
	return nil
}

func checkLiveRelay(t *testing.T, data, httpAddr string, cam provisioned, sig live.Transport) {
	t.Helper()
	id := cam.key.DeviceID()
	pairingPub, _ := identity.ParsePublicKeyPEM(must(os.ReadFile(filepath.Join(data, pairingPubFile))))
	hub := &capture.Hub{}
	src, err := synth.New(synth.Config{Width: 160, Height: 120, FPS: 10, Frames: 1 << 20, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := live.NewServer(live.Config{DeviceID: id, Signer: cam.key, Hub: hub, Transport: sig,
		Owner:  func() (identity.OwnerBinding, error) { return identity.LoadOwnerBinding(cam.binding, pairingPub, id) },
		Format: src.Format, IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = srv.Run(ctx) })
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			f, err := src.Next(ctx)
			if err != nil {
				return
			}
			hub.Publish(f)
			f.Release()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	owner, err := accountKey(data, "alice")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(must(os.ReadFile(filepath.Join(data, "ca.crt"))))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	tok := strings.TrimSpace(mustRun(t, "token", "-data", data, "-account", "alice"))
	relay := &httpOffers{url: "https://" + httpAddr + "/app/api/live/" + id + "/offer", token: tok, hc: &http.Client{Transport: tr}}
	// The server subscribes to offers on its own goroutine: an offer relayed
	// before that subscription reaches the broker is lost (the relay answers
	// 504 after relayWait), so a lost first offer is tried again.
	var v *live.Viewer
	for try := 1; ; try++ {
		v, err = live.Dial(ctx, live.ViewerConfig{DeviceID: id, DeviceKey: cam.key.Public().(*ecdsa.PublicKey), Owner: owner,
			Transport: relay, IncludeLoopback: true})
		if err == nil {
			break
		}
		if try == 3 || !strings.Contains(err.Error(), "504") {
			t.Fatalf("live view through the cloud's MQTT relay (try %d): %v", try, err)
		}
	}
	defer v.Close()
	select {
	case p := <-v.Pictures:
		if _, err := jpeg.Decode(bytes.NewReader(p)); err != nil {
			t.Fatalf("picture through the relay: %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("no picture through the relay: %v", ctx.Err())
	}
	if st := srv.Status(); st.Accepted != 1 {
		t.Errorf("device live status %+v", st)
	}
	t.Logf("live view through camcloud's relay and mosquitto: session %s, %s, answer verified", v.Answer.Session, v.Answer.Media)
}
