package daemon

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/logring"
	"github.com/camagent/camagent/agent/outputtest"
	"github.com/camagent/camagent/agent/shell"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
)

// testClock is a settable clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fakeActions records the privileged actions instead of doing them.
type fakeActions struct {
	mu    sync.Mutex
	calls []string
}

func (a *fakeActions) record(name string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, name)
	return name + " done", nil
}

func (a *fakeActions) Reboot(context.Context) (string, error)       { return a.record("reboot") }
func (a *fakeActions) FormatSD(context.Context) (string, error)     { return a.record("format-sd") }
func (a *fakeActions) FactoryReset(context.Context) (string, error) { return a.record("factory-reset") }

func (a *fakeActions) done() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.calls)
}

// fakeClips is a clip store.
type fakeClips struct {
	clips []storage.ClipInfo
	st    storage.StoreStatus
}

func (f *fakeClips) Clips() ([]storage.ClipInfo, error) { return f.clips, nil }
func (f *fakeClips) Status() storage.StoreStatus        { return f.st }

// publishingHub is the capture hub with a camera that delivers one frame to
// each new subscriber (nil frame: a camera that delivers nothing).
type publishingHub struct {
	hub   capture.Hub
	frame func() *capture.Frame
}

func (h *publishingHub) Subscribe(name string, depth int) *capture.Queue {
	q := h.hub.Subscribe(name, depth)
	if h.frame != nil {
		f := h.frame()
		h.hub.Publish(f)
		f.Release()
	}
	return q
}

func (h *publishingHub) Unsubscribe(q *capture.Queue) { h.hub.Unsubscribe(q) }

// shellFixture is an agent serving the shell's routes on a temporary socket,
// with a device key, a vendor key, a paired owner, an SD card and a config
// file in a temporary folder.
type shellFixture struct {
	dir, sock, configPath, keyPath, vendorPriv, ownerPriv, strangerPriv, mount string

	key     *identity.DeviceKey
	clock   *testClock
	ring    *logring.Ring
	events  *EventRing
	motion  *MotionFeed
	actions *fakeActions
	client  *control.Client
	srv     *shellServer
	privs   map[string]*ecdsa.PrivateKey // by file
	hub     *publishingHub
	clips   *fakeClips
	mu      sync.Mutex
	cfg     config.Config
	src     config.Source
}

const fixtureConfig = "board = \"qemu-virt\"\n[log]\nlevel = \"info\"\n"

func writePrivateKey(t *testing.T, path string, k *ecdsa.PrivateKey, sec1 bool) {
	t.Helper()
	var blk *pem.Block
	if sec1 {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		blk = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	} else {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		blk = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writePublicKey(t *testing.T, path string, pub any) {
	t.Helper()
	b, err := identity.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, path, b)
}

func newShellFixture(t *testing.T) *shellFixture {
	t.Helper()
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "sh") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	fx := &shellFixture{dir: dir, sock: filepath.Join(sockDir, "s"), configPath: filepath.Join(dir, "camagent.toml"),
		keyPath: filepath.Join(dir, "id", "device.key"), mount: filepath.Join(dir, "sd"),
		clock: &testClock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}, ring: logring.New(100),
		events: NewEventRing(8), actions: &fakeActions{}, hub: &publishingHub{}, clips: &fakeClips{}}
	if err := os.MkdirAll(filepath.Dir(fx.keyPath), 0o700); err != nil {
		t.Fatal(err)
	}
	if fx.key, _, err = identity.OpenDeviceKey(fx.keyPath); err != nil {
		t.Fatal(err)
	}
	// The vendor's key, the owner's key (bound by the cloud) and a stranger's.
	vendor, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	owner, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cloud, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fx.vendorPriv, fx.ownerPriv, fx.strangerPriv = filepath.Join(dir, "vendor.pem"), filepath.Join(dir, "owner.pem"), filepath.Join(dir, "stranger.pem")
	fx.privs = map[string]*ecdsa.PrivateKey{fx.vendorPriv: vendor, fx.ownerPriv: owner, fx.strangerPriv: stranger}
	writePrivateKey(t, fx.vendorPriv, vendor, false)
	writePrivateKey(t, fx.ownerPriv, owner, true)
	writePrivateKey(t, fx.strangerPriv, stranger, false)
	writePublicKey(t, filepath.Join(dir, "vendor.pub"), &vendor.PublicKey)
	writePublicKey(t, filepath.Join(dir, "pairing.pub"), &cloud.PublicKey)
	ownerDER, _ := identity.PublicKeyDER(&owner.PublicKey)
	binding, err := identity.SignOwnerBinding(identity.OwnerBinding{DeviceID: fx.key.DeviceID(), OwnerAccount: "alice",
		OwnerKey: ownerDER, Issued: fx.clock.Now()}, cloud)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, identity.BindingPath(fx.keyPath), binding)

	if err := os.Mkdir(fx.mount, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(dir, "mounts"), []byte("/dev/vda "+fx.mount+" ext4 rw,noatime 0 0\n"))
	writeTestFile(t, fx.configPath, []byte(fixtureConfig))
	if fx.cfg, err = config.Parse([]byte(fixtureConfig)); err != nil {
		t.Fatal(err)
	}
	fx.src = config.Source{Path: fx.configPath}
	for i := range 5 {
		fmt.Fprintf(fx.ring, "level=INFO msg=\"line %d\"\n", i+1)
	}
	card := storage.NewCard(fx.mount, storage.WithStatFS(func(string) (uint64, uint64, error) { return 3 << 30, 4 << 30, nil }))
	card.MountTable = filepath.Join(dir, "mounts")
	fx.srv = newShellServer(shellConfig{
		Now: fx.clock.Now, Log: fx.ring, Hub: fx.hub,
		Card: func() *storage.Card { return card },
		Config: func() (config.Config, config.Source) {
			fx.mu.Lock()
			defer fx.mu.Unlock()
			return fx.cfg, fx.src
		},
		Events: fx.events,
		Motion: nil, // set by tests that want a detector
		Clips: func() clipStore {
			if fx.clips == nil {
				return nil
			}
			return fx.clips
		},
		KeyPath: fx.keyPath, VendorKeyPath: filepath.Join(dir, "vendor.pub"), PairingKeyPath: filepath.Join(dir, "pairing.pub"),
		Actions: fx.actions, SnapshotWait: time.Second,
	})
	fx.client = &control.Client{Socket: fx.sock}
	return fx
}

// start serves the routes until the test ends.
func (fx *shellFixture) start(t *testing.T) {
	t.Helper()
	routes := append(fx.srv.routes(), control.StatusRoute(func(context.Context) (control.Status, error) {
		return control.Status{Version: "test", Capture: control.CaptureStatus{Device: "/dev/video0", State: "running"}}, nil
	}), uploadsRoute((&Daemon{}).uploadStatus))
	s := control.NewServer(control.ServerConfig{Path: fx.sock, Routes: routes})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
}

// sign signs a challenge with the key in file, as sign-challenge does.
func (fx *shellFixture) sign(t *testing.T, keyFile, challenge string) string {
	t.Helper()
	resp, err := control.SignChallenge(fx.privs[keyFile], challenge)
	if err != nil {
		t.Fatalf("sign challenge: %v", err)
	}
	return resp
}

// runShell runs the serial shell (the terminal of `camagent shell`) on
// plain lines against the agent at sock.
func runShell(ctx context.Context, sock string, in io.Reader, out io.Writer) error {
	err := shell.New(shell.Config{Agent: &control.Client{Socket: sock}, In: in, Out: out,
		PrintStatus: control.WriteStatus}).Run(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (fx *shellFixture) challenge(t *testing.T) control.ChallengeResponse {
	t.Helper()
	var c control.ChallengeResponse
	if err := fx.client.Post(t.Context(), control.PathChallenge, nil, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// apiError returns the agent's status and message, or 200.
func apiError(err error) (int, string) {
	var ae *control.APIError
	if errors.As(err, &ae) {
		return ae.StatusCode, ae.Message
	}
	if err != nil {
		return -1, err.Error()
	}
	return 200, ""
}

func TestShellUnlockRoutes(t *testing.T) {
	fx := newShellFixture(t)
	fx.start(t)
	ctx := t.Context()
	setLevel := func(session, level string) error {
		return fx.client.Post(ctx, control.PathConfigSet, control.ConfigSetRequest{Session: session, Key: "log.level", Value: level}, nil)
	}

	// Privileged requests are refused before any unlock, with the reason.
	for _, session := range []string{"", "forged"} {
		if code, msg := apiError(setLevel(session, "debug")); code != 403 || !strings.Contains(msg, "locked") || !strings.Contains(msg, "run unlock") {
			t.Errorf("config set with session %q: %d %s", session, code, msg)
		}
		if code, _ := apiError(fx.client.Post(ctx, control.PathReboot, control.SessionRequest{Session: session}, nil)); code != 403 {
			t.Errorf("reboot with session %q: %d", session, code)
		}
	}
	if len(fx.actions.done()) != 0 {
		t.Fatalf("actions ran while locked: %v", fx.actions.done())
	}

	c := fx.challenge(t)
	if c.DeviceID != fx.key.DeviceID() || len(c.Keys) != 2 || c.KeysProblem != "" || c.TTLSeconds < 500 {
		t.Errorf("challenge = %+v", c)
	}

	// Refusals, each with its reason.
	wrong := fx.sign(t, fx.strangerPriv, c.Challenge)
	var ur control.UnlockResponse
	if code, msg := apiError(fx.client.Post(ctx, control.PathUnlock, control.UnlockRequest{Response: wrong}, &ur)); code != 403 ||
		!strings.Contains(msg, "not signed by the vendor or owner key") {
		t.Errorf("stranger's response: %d %s", code, msg)
	}
	good := fx.sign(t, fx.vendorPriv, c.Challenge) // the challenge was used up by the refused answer
	if code, msg := apiError(fx.client.Post(ctx, control.PathUnlock, control.UnlockRequest{Response: good}, &ur)); code != 403 ||
		!strings.Contains(msg, "unknown or already used challenge") {
		t.Errorf("answer to a used challenge: %d %s", code, msg)
	}
	c = fx.challenge(t)
	fx.clock.Advance(control.DefaultChallengeTTL + time.Second)
	if code, msg := apiError(fx.client.Post(ctx, control.PathUnlock, control.UnlockRequest{Response: fx.sign(t, fx.vendorPriv, c.Challenge)}, &ur)); code != 403 ||
		!strings.Contains(msg, "challenge expired") {
		t.Errorf("late answer: %d %s", code, msg)
	}
	if code, msg := apiError(fx.client.Post(ctx, control.PathUnlock, control.UnlockRequest{Response: "garbage"}, &ur)); code != 403 ||
		!strings.Contains(msg, "not an unlock response") {
		t.Errorf("garbage: %d %s", code, msg)
	}

	// The vendor's key unlocks; the response cannot be used twice.
	good = fx.sign(t, fx.vendorPriv, fx.challenge(t).Challenge)
	if err := fx.client.Post(ctx, control.PathUnlock, control.UnlockRequest{Response: good}, &ur); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ur.By, "vendor key sha256:") || ur.TTLSeconds != control.DefaultSessionTTL.Seconds() || ur.Session == "" {
		t.Errorf("unlock = %+v", ur)
	}
	if code, msg := apiError(fx.client.Post(ctx, control.PathUnlock, control.UnlockRequest{Response: good}, nil)); code != 403 ||
		!strings.Contains(msg, "unknown or already used challenge") {
		t.Errorf("replay: %d %s", code, msg)
	}
	if err := setLevel(ur.Session, "debug"); err != nil {
		t.Fatalf("config set after unlock: %v", err)
	}
	var ar control.ActionResponse
	if err := fx.client.Post(ctx, control.PathReboot, control.SessionRequest{Session: ur.Session}, &ar); err != nil || ar.Message != "reboot done" {
		t.Fatalf("reboot after unlock: %v %+v", err, ar)
	}
	// Locking ends it.
	if err := fx.client.Post(ctx, control.PathLock, control.SessionRequest{Session: ur.Session}, &ar); err != nil || ar.Message != "locked" {
		t.Fatalf("lock: %v %+v", err, ar)
	}
	if code, _ := apiError(setLevel(ur.Session, "warn")); code != 403 {
		t.Errorf("config set after lock: %d", code)
	}

	// The owner's key (from the verified binding) unlocks too, until the
	// session's time is up.
	if err := fx.client.Post(ctx, control.PathUnlock, control.UnlockRequest{Response: fx.sign(t, fx.ownerPriv, fx.challenge(t).Challenge)}, &ur); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ur.By, "owner account alice") {
		t.Errorf("by = %q", ur.By)
	}
	fx.clock.Advance(control.DefaultSessionTTL)
	if code, msg := apiError(fx.client.Post(ctx, control.PathFormatSD, control.SessionRequest{Session: ur.Session}, nil)); code != 403 || !strings.Contains(msg, "unlock expired") {
		t.Errorf("format-sd after the session's end: %d %s", code, msg)
	}
	if got := fx.actions.done(); !slices.Equal(got, []string{"reboot"}) {
		t.Errorf("actions = %v", got)
	}
}

func TestShellUnlockWithoutKeys(t *testing.T) {
	fx := newShellFixture(t)
	fx.srv.cfg.VendorKeyPath = filepath.Join(fx.dir, "missing.pub")
	fx.srv.cfg.PairingKeyPath = ""
	fx.start(t)
	c := fx.challenge(t)
	if len(c.Keys) != 0 || !strings.Contains(c.KeysProblem, "no vendor key at") || !strings.Contains(c.KeysProblem, "no cloud pairing key (identity.cloud_key) configured") {
		t.Errorf("challenge = %+v", c)
	}
	err := fx.client.Post(t.Context(), control.PathUnlock, control.UnlockRequest{Response: fx.sign(t, fx.vendorPriv, c.Challenge)}, nil)
	if code, msg := apiError(err); code != 403 || !strings.Contains(msg, "no key can unlock this device") || !strings.Contains(msg, "missing.pub") {
		t.Errorf("unlock without keys: %d %s", code, msg)
	}
	// Without a device key there is no challenge at all.
	os.Remove(fx.keyPath)
	err = fx.client.Post(t.Context(), control.PathChallenge, nil, nil)
	if code, msg := apiError(err); code != 503 || !strings.Contains(msg, "no device key at") {
		t.Errorf("challenge without a device key: %d %s", code, msg)
	}
}

// TestShellSession drives `camagent shell` through pipes against the agent's
// real routes, as a technician would: a refused privileged command, an
// unlock signed by sign-challenge, and the same command permitted.
func TestShellSession(t *testing.T) {
	fx := newShellFixture(t)
	fx.start(t)
	pr, pw := io.Pipe()
	out := &outputtest.Output{}
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runShell(t.Context(), fx.sock, pr, out) }()
	send := func(line string) {
		if _, err := io.WriteString(pw, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	pos := 0
	wait := func(re string) string {
		var m string
		m, pos = out.WaitFor(t, pos, regexp.MustCompile(re))
		return m
	}
	wait(`agent camagent test`)
	send("config set log.level debug")
	wait(`error: locked: config set needs an unlocked shell`)
	send("unlock")
	challenge := wait(`camagent-unlock-v1\.\S+`)
	wait(`response \(Enter cancels\): `)
	send(fx.sign(t, fx.vendorPriv, challenge))
	wait(`unlocked for 15m0s by vendor key sha256:[0-9a-f]+`)
	send("config set log.level debug")
	wait(`log.level: "info" -> "debug"\nwritten to ` + regexp.QuoteMeta(fx.configPath) + `; the agent reloads it \(changed: log\)`)
	send("exit")
	if err := <-done; err != nil {
		t.Fatalf("shell: %v\n%s", err, stderr.String())
	}
	pw.Close()
	data, err := os.ReadFile(fx.configPath)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := config.Parse(data); err != nil || c.Log.Level != "debug" || c.Board != "qemu-virt" {
		t.Errorf("config file after set: %v %+v\n%s", err, c.Log, data)
	}
	if !strings.HasSuffix(out.String(), "locked\n") {
		t.Errorf("the shell did not lock its session on exit:\n%s", out.String())
	}
}

// TestShellReadCommands runs the read-only commands against the real
// routes; id must never show the private key.
func TestShellReadCommands(t *testing.T) {
	fx := newShellFixture(t)
	fx.events.Add(control.Event{ID: 3, Start: fx.clock.Now(), End: fx.clock.Now().Add(4 * time.Second), PeakPercent: 25,
		Boxes: []control.Box{{X: 1, Y: 2, W: 30, H: 40}}, Clip: "100000-e3"})
	fx.start(t)
	script := "status\nlog 2\nconfig get log.level\nconfig get capture.fps\nconfig get nope\nid\nnet\nstorage\nevents\nclips\nmotion\nuploads\n"
	var out, stderr bytes.Buffer
	if err := runShell(t.Context(), fx.sock, strings.NewReader(script), &out); err != nil {
		t.Fatalf("shell: %v\n%s", err, stderr.String())
	}
	got := out.String()
	for _, w := range []string{
		"camagent test, up 0s (since -)",        // writeStatus
		"level=INFO msg=\"line 4\"\nlevel=INFO", // log 2
		"[log]\nlevel = \"info\"",
		"[capture]\nfps = 25.0",
		`error: config: no key "nope"`,
		"device id    " + fx.key.DeviceID(),
		"BEGIN PUBLIC KEY",
		"owner        account alice, key sha256:",
		"vendor key   sha256:",
		"certificate  none",
		"lo ", "127.0.0.1/8",
		"card     " + fx.mount + ": writable", "/dev/vda (ext4)", "1.0 GiB used, 3.0 GiB free of 4.0 GiB",
		"3      2026-03-01 10:00:00Z  4s later  25.0%  30x40@1,2  100000-e3",
		"no clips on the SD card",
		"error: motion detection not running",
		"uploads:      not running (no [upload] url configured",
		"queued:       0 clips, 0 B",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "line 3") {
		t.Errorf("log 2 printed more lines:\n%s", got)
	}
	assertNoPrivateKey(t, fx.keyPath, got)
}

func TestShellIDNeverShowsPrivateKey(t *testing.T) {
	fx := newShellFixture(t)
	// A certificate for the device, so every part of the answer is filled.
	ca := newTestCA(t)
	ca.issue(t, identity.CertPath(fx.keyPath), fx.key.Public(), fx.key.DeviceID(), x509.ExtKeyUsageClientAuth)
	fx.start(t)
	var raw json.RawMessage
	if err := fx.client.Get(t.Context(), control.PathID, &raw); err != nil {
		t.Fatal(err)
	}
	assertNoPrivateKey(t, fx.keyPath, string(raw))
	var id control.IDResponse
	if err := fx.client.Get(t.Context(), control.PathID, &id); err != nil {
		t.Fatal(err)
	}
	if id.Certificate == nil || !id.Certificate.MatchesKey || !strings.Contains(id.Certificate.Subject, fx.key.DeviceID()) ||
		id.Owner == nil || !id.Owner.Verified || id.Owner.Account != "alice" {
		t.Errorf("id = %+v cert %+v owner %+v", id, id.Certificate, id.Owner)
	}
	var out bytes.Buffer
	if err := runShell(t.Context(), fx.sock, strings.NewReader("id\n"), &out); err != nil {
		t.Fatal(err)
	}
	assertNoPrivateKey(t, fx.keyPath, out.String())
	if !strings.Contains(out.String(), "matches the device key") {
		t.Errorf("output:\n%s", out.String())
	}
	// A binding that the pairing key does not verify is shown as such.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writePublicKey(t, fx.srv.cfg.PairingKeyPath, &other.PublicKey)
	if err := fx.client.Get(t.Context(), control.PathID, &id); err != nil {
		t.Fatal(err)
	}
	if id.Owner == nil || id.Owner.Verified || !id.Owner.Paired || !strings.Contains(id.Owner.Error, "not signed by the cloud pairing key") {
		t.Errorf("owner with a bad binding = %+v", id.Owner)
	}
}

func TestConfigSetRoute(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
		code             int
		msg              string   // in the error, or ""
		sections         []string // on success
		check            func(c config.Config) bool
	}{
		{"level", "log.level", "debug", 200, "", []string{"log"}, func(c config.Config) bool { return c.Log.Level == "debug" }},
		{"number", "capture.fps", "12.5", 200, "", []string{"capture"}, func(c config.Config) bool { return c.Capture.FPS == 12.5 }},
		{"integer", "capture.width", "320", 200, "", []string{"capture"}, func(c config.Config) bool { return c.Capture.Width == 320 }},
		{"duration", "shutdown_timeout", "20s", 200, "", []string{"shutdown_timeout"}, func(c config.Config) bool { return c.ShutdownTimeout.Duration == 20*time.Second }},
		{"array", "capture.formats", `["YUYV", "GREY"]`, 200, "", []string{"capture"}, func(c config.Config) bool { return slices.Equal(c.Capture.Formats, []string{"YUYV", "GREY"}) }},
		{"control with spaces", "capture.controls.OSD Text Mode", "2", 200, "", []string{"capture"}, func(c config.Config) bool { return c.Capture.Controls["OSD Text Mode"] == 2 }},
		{"quoted string", "capture.device", `"/dev/video1"`, 200, "", []string{"capture"}, func(c config.Config) bool { return c.Capture.Device == "/dev/video1" }},
		{"unchanged", "log.level", "info", 200, "", []string{}, func(c config.Config) bool { return c.Log.Level == "info" }},
		{"unknown key", "log.levle", "debug", 400, "log.levle", nil, nil},
		{"unknown section", "nosuch.key", "1", 400, "nosuch", nil, nil},
		{"wrong type", "capture.fps", "fast", 400, "capture.fps", nil, nil},
		{"out of range", "capture.fps", "1000", 400, "capture.fps", nil, nil},
		{"bad value", "log.level", "loud", 400, "log.level", nil, nil},
		{"value under a value", "board.x", "1", 400, "board is a value, not a table", nil, nil},
		{"empty key", "", "1", 400, "bad key", nil, nil},
		{"empty part", "log..level", "1", 400, "bad key", nil, nil},
		{"control in value", "log.level", "de\x1bbug", 400, "control characters", nil, nil},
		{"newline injection", "log.level", "\"debug\"\n[x]\ny = 1", 400, "control characters", nil, nil},
		{"long value", "capture.device", strings.Repeat("a", 2000), 400, "at most 1024 bytes", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newShellFixture(t)
			fx.start(t)
			var ur control.UnlockResponse
			if err := fx.client.Post(t.Context(), control.PathUnlock, control.UnlockRequest{Response: fx.sign(t, fx.vendorPriv, fx.challenge(t).Challenge)}, &ur); err != nil {
				t.Fatal(err)
			}
			var r control.ConfigSetResponse
			err := fx.client.Post(t.Context(), control.PathConfigSet, control.ConfigSetRequest{Session: ur.Session, Key: tc.key, Value: tc.value}, &r)
			code, msg := apiError(err)
			if code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("config set = %d %q, want %d %q", code, msg, tc.code, tc.msg)
			}
			data, rerr := os.ReadFile(fx.configPath)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if code != 200 || len(tc.sections) == 0 {
				if string(data) != fixtureConfig {
					t.Errorf("file changed:\n%s", data)
				}
				return
			}
			if !slices.Equal(r.Sections, tc.sections) || r.Path != fx.configPath {
				t.Errorf("answer = %+v", r)
			}
			c, perr := config.Parse(data)
			if perr != nil || !tc.check(c) || c.Board != "qemu-virt" {
				t.Errorf("file after set: %v\n%s", perr, data)
			}
			if fi, _ := os.Stat(fx.configPath); fi.Mode().Perm() != 0o644 {
				t.Errorf("mode = %v", fi.Mode())
			}
		})
	}
}

func TestConfigSetFileProblems(t *testing.T) {
	fx := newShellFixture(t)
	fx.start(t)
	var ur control.UnlockResponse
	if err := fx.client.Post(t.Context(), control.PathUnlock, control.UnlockRequest{Response: fx.sign(t, fx.vendorPriv, fx.challenge(t).Challenge)}, &ur); err != nil {
		t.Fatal(err)
	}
	set := func() (int, string) {
		return apiError(fx.client.Post(t.Context(), control.PathConfigSet, control.ConfigSetRequest{Session: ur.Session, Key: "log.level", Value: "debug"}, nil))
	}
	writeTestFile(t, fx.configPath, []byte("[log]\nlevel = \"shouting\"\n"))
	if code, msg := set(); code != 409 || !strings.Contains(msg, "fix it by hand") {
		t.Errorf("invalid file: %d %s", code, msg)
	}
	os.Remove(fx.configPath)
	if code, msg := set(); code != 409 || !strings.Contains(msg, "no such file") {
		t.Errorf("missing file: %d %s", code, msg)
	}
	fx.mu.Lock()
	fx.src.Path = ""
	fx.mu.Unlock()
	if code, msg := set(); code != 409 || !strings.Contains(msg, "without a config file") {
		t.Errorf("no file: %d %s", code, msg)
	}
	// A symlinked config is changed where it points, the link kept.
	target := filepath.Join(fx.dir, "real.toml")
	writeTestFile(t, target, []byte(fixtureConfig))
	link := filepath.Join(fx.dir, "link.toml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fx.mu.Lock()
	fx.src.Path = link
	fx.mu.Unlock()
	if code, msg := set(); code != 200 {
		t.Fatalf("symlinked file: %d %s", code, msg)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("link replaced: %v", err)
	}
	if data, _ := os.ReadFile(target); !strings.Contains(string(data), `level = "debug"`) {
		t.Errorf("target:\n%s", data)
	}
}

func TestLogRoute(t *testing.T) {
	fx := newShellFixture(t)
	fx.start(t)
	get := func(q string) control.LogResponse {
		t.Helper()
		var r control.LogResponse
		if err := fx.client.Get(t.Context(), control.PathLog+"?"+q, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := get("n=2"); len(r.Lines) != 2 || r.Lines[0].Seq != 4 || r.Last != 5 {
		t.Errorf("tail = %+v", r)
	}
	if r := get("after=3&n=10"); len(r.Lines) != 2 || r.Lines[0].Seq != 4 {
		t.Errorf("after 3 = %+v", r)
	}
	if r := get("n=0"); len(r.Lines) != 0 || r.Last != 5 {
		t.Errorf("n=0 = %+v", r)
	}
	// An agent that restarted has fewer lines than asked for: no wait.
	if r := get("after=100&wait=15000"); len(r.Lines) != 0 || r.Last != 5 {
		t.Errorf("after beyond the end = %+v", r)
	}
	// A long poll returns the line written while it waits.
	got := make(chan control.LogResponse, 1)
	go func() {
		var r control.LogResponse
		_ = fx.client.Get(t.Context(), control.PathLog+"?after=5&wait=15000", &r)
		got <- r
	}()
	fmt.Fprintln(fx.ring, "level=INFO msg=late")
	if r := <-got; len(r.Lines) != 1 || r.Lines[0].Text != "level=INFO msg=late" || r.Lines[0].Seq != 6 {
		t.Errorf("long poll = %+v", r)
	}
	for _, q := range []string{"n=-1", "n=1001", "after=x", "wait=99999", "n=1e3"} {
		if code, _ := apiError(fx.client.Get(t.Context(), control.PathLog+"?"+q, nil)); code != 400 {
			t.Errorf("%s: %d, want 400", q, code)
		}
	}
}

func TestMotionRoute(t *testing.T) {
	fx := newShellFixture(t)
	feed := NewMotionFeed(8)
	fx.srv.cfg.Motion = feed
	fx.start(t)
	feed.Add(control.MotionSample{Frame: 7, ScorePercent: 50, Motion: true, Boxes: []control.Box{{X: 1, Y: 1, W: 2, H: 2}}})
	var r control.MotionResponse
	if err := fx.client.Get(t.Context(), control.PathMotion+"?n=0", &r); err != nil || r.Last != 1 || len(r.Samples) != 0 {
		t.Fatalf("n=0: %+v %v", r, err)
	}
	got := make(chan control.MotionResponse, 1)
	go func() {
		var r control.MotionResponse
		_ = fx.client.Get(t.Context(), control.PathMotion+"?after=1&n=5&wait=15000", &r)
		got <- r
	}()
	feed.Add(control.MotionSample{Frame: 8, ScorePercent: 25})
	if r := <-got; len(r.Samples) != 1 || r.Samples[0].Frame != 8 || r.Last != 2 {
		t.Errorf("long poll = %+v", r)
	}
	fx.srv.cfg.Motion = nil
	if code, msg := apiError(fx.client.Get(t.Context(), control.PathMotion, nil)); code != 503 || msg != "motion detection not running" {
		t.Errorf("without a detector: %d %s", code, msg)
	}
}

func TestClipRoutes(t *testing.T) {
	fx := newShellFixture(t)
	// A clip signed by this device, and one whose video was changed.
	dir := filepath.Join(fx.mount, "camagent", "clips", "2026", "03", "01")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var infos []storage.ClipInfo
	for _, name := range []string{"100000-e1", "100500-e2"} {
		video := append([]byte("ftyp-fake-video-"), name...)
		path := filepath.Join(dir, name+storage.ExtClip)
		writeTestFile(t, path, video)
		obj, err := manifest.HashObject(manifest.RoleClip, "video/mp4", bytes.NewReader(video))
		if err != nil {
			t.Fatal(err)
		}
		cose, err := manifest.Sign(manifest.Manifest{Owner: "alice", Seq: 1, BootID: "b", StartMS: 1, EndMS: 2,
			Objects: []manifest.Object{obj}}, fx.key)
		if err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, manifest.SidecarPath(path), cose)
		infos = append(infos, storage.ClipInfo{Name: name, Path: path, State: storage.ClipSealed, Size: int64(len(video)),
			Duration: 4 * time.Second, Start: fx.clock.Now(), Codec: "mjpeg", Manifest: manifest.SidecarPath(path)})
	}
	writeTestFile(t, infos[1].Path, []byte("tampered"))
	fx.clips.clips = infos
	fx.start(t)
	var out bytes.Buffer
	script := "clips\nclips info 100000-e1\nclips verify 100000-e1\nclips verify 100500-e2\nclips info nope\n"
	if err := runShell(t.Context(), fx.sock, strings.NewReader(script), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, w := range []string{
		"100000-e1  sealed", "100500-e2  sealed",
		"duration  4s, 0 frames",
		"OK   device: " + fx.key.DeviceID() + " is the pinned device",
		"verified: every check passed",
		"FAIL",
		"NOT verified",
		`error: no clip named "nope"`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("output lacks %q:\n%s", w, got)
		}
	}
	fx.clips = nil
	if code, msg := apiError(fx.client.Get(t.Context(), control.PathClips, nil)); code != 503 || msg != "clip store not running (no writable SD card, or the storage part has stopped; status says which)" {
		t.Errorf("without a store: %d %s", code, msg)
	}
	var st control.StorageResponse
	if err := fx.client.Get(t.Context(), control.PathStorage, &st); err != nil || st.Store != nil || st.StoreMissing == "" {
		t.Errorf("storage without a store: %+v %v", st, err)
	}
}

// rawFrame makes a frame of format f filled with a gradient.
func rawFrame(t *testing.T, f capture.Format, data []byte) func() *capture.Frame {
	return func() *capture.Frame {
		size := max(f.FrameSize(), len(data))
		p := capture.NewPool(1, size)
		fr, err := p.Get()
		if err != nil {
			t.Fatal(err)
		}
		if data != nil {
			if err := fr.Fill(data); err != nil {
				t.Fatal(err)
			}
		} else {
			fr.SetLen(f.FrameSize())
			for i := range fr.Data {
				fr.Data[i] = byte(i)
			}
		}
		fr.Format, fr.Seq, fr.Time = f, 77, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		return fr
	}
}

func TestSnapshotRoute(t *testing.T) {
	mjpeg := func() []byte {
		var b bytes.Buffer
		img := imageGray(32, 16)
		if err := jpeg.Encode(&b, img, nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()
	for _, tc := range []struct {
		name   string
		format capture.Format
		data   []byte
		code   int
		msg    string
	}{
		{"yuyv", capture.Format{Pixel: capture.FormatYUYV, Width: 64, Height: 48, Stride: 128}, nil, 200, ""},
		{"nv12", capture.Format{Pixel: capture.FormatNV12, Width: 64, Height: 48, Stride: 64}, nil, 200, ""},
		{"grey", capture.Format{Pixel: capture.FormatGREY, Width: 64, Height: 48, Stride: 64}, nil, 200, ""},
		{"mjpeg", capture.Format{Pixel: capture.FormatMJPEG, Width: 32, Height: 16}, mjpeg, 200, ""},
		{"bad mjpeg", capture.Format{Pixel: capture.FormatMJPEG, Width: 32, Height: 16}, []byte("not a jpeg"), 415, "does not start with a JPEG header"},
		{"h264", capture.Format{Pixel: capture.FormatH264, Width: 32, Height: 16}, []byte{0, 0, 0, 1, 0x67}, 415, "H.264"},
		{"short frame", capture.Format{Pixel: capture.FormatYUYV, Width: 64, Height: 48, Stride: 128}, []byte{1, 2, 3}, 415, "shorter than its format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newShellFixture(t)
			fx.hub.frame = rawFrame(t, tc.format, tc.data)
			fx.start(t)
			var r control.SnapshotResponse
			err := fx.client.Post(t.Context(), control.PathSnapshot, nil, &r)
			if code, msg := apiError(err); code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("snapshot = %d %s, want %d %s", code, msg, tc.code, tc.msg)
			}
			if tc.code != 200 {
				if ents, _ := os.ReadDir(filepath.Join(fx.mount, "camagent", "snapshots")); len(ents) != 0 {
					t.Errorf("files written: %v", ents)
				}
				return
			}
			if filepath.Dir(r.Path) != filepath.Join(fx.mount, "camagent", "snapshots") || r.Frame != 77 || r.Width != tc.format.Width {
				t.Errorf("answer = %+v", r)
			}
			data, err := os.ReadFile(r.Path)
			if err != nil || len(data) != r.Bytes {
				t.Fatalf("read %s: %v (%d bytes, answer says %d)", r.Path, err, len(data), r.Bytes)
			}
			img, err := jpeg.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("not a JPEG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != tc.format.Width || b.Dy() != tc.format.Height {
				t.Errorf("JPEG is %v, want %dx%d", b, tc.format.Width, tc.format.Height)
			}
			if tc.data != nil && !bytes.Equal(data, tc.data) {
				t.Error("MJPEG frame not saved as it was")
			}
			if st := fx.hub.hub.Stats(); len(st) != 0 {
				t.Errorf("snapshot queue left subscribed: %+v", st)
			}
		})
	}
}

func TestSnapshotProblems(t *testing.T) {
	fx := newShellFixture(t)
	fx.srv.cfg.SnapshotWait = time.Millisecond // a camera that sends nothing
	fx.start(t)
	if code, msg := apiError(fx.client.Post(t.Context(), control.PathSnapshot, nil, nil)); code != 503 || !strings.Contains(msg, "no frame from the camera in 1ms") {
		t.Errorf("no frames: %d %s", code, msg)
	}
	writeTestFile(t, filepath.Join(fx.dir, "mounts"), []byte("/dev/vda "+fx.mount+" ext4 ro 0 0\n"))
	if code, msg := apiError(fx.client.Post(t.Context(), control.PathSnapshot, nil, nil)); code != 409 || !strings.Contains(msg, "the SD card is read-only") {
		t.Errorf("read-only card: %d %s", code, msg)
	}
	writeTestFile(t, filepath.Join(fx.dir, "mounts"), []byte(""))
	if code, msg := apiError(fx.client.Post(t.Context(), control.PathSnapshot, nil, nil)); code != 409 || !strings.Contains(msg, "the SD card is missing") {
		t.Errorf("no card: %d %s", code, msg)
	}
}

func TestShellRoutesFromDaemon(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Identity.Key = filepath.Join(dir, "device.key")
	d := New(cfg, config.Source{}, Deps{Console: io.Discard, NoBoard: true, ProcRoot: dir, MountTable: filepath.Join(dir, "mounts")})
	routes := d.shellRoutes()
	if len(routes) < 15 {
		t.Fatalf("%d routes", len(routes))
	}
	sockDir, err := os.MkdirTemp("", "sd")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	s := control.NewServer(control.ServerConfig{Path: filepath.Join(sockDir, "s"), Routes: routes})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	c := &control.Client{Socket: filepath.Join(sockDir, "s")}
	var id control.IDResponse
	if err := c.Get(t.Context(), control.PathID, &id); err != nil || !strings.Contains(id.KeyError, "no device key at "+cfg.Identity.Key) {
		t.Errorf("id = %+v, %v", id, err)
	}
	if _, err := os.Stat(cfg.Identity.Key); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("id created a device key: %v", err)
	}
	var ev control.EventsResponse
	if err := c.Get(t.Context(), control.PathEvents, &ev); err != nil || ev.Events == nil || len(ev.Events) != 0 {
		t.Errorf("events = %+v, %v", ev, err)
	}
}

// imageGray is a w x h grey gradient.
func imageGray(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 3)
	}
	return img
}

func TestMotionConversions(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	res := motion.Result{Frame: 9, Time: at, Motion: true, Score: 0.3, Noise: 2, Threshold: 11, Light: true,
		Boxes: make([]motion.Box, control.MaxBoxes+2)}
	res.Boxes[0] = motion.Box{X: 1, Y: 2, W: 3, H: 4}
	var buf [control.MaxBoxes]control.Box
	feed := NewMotionFeed(4)
	if n := testing.AllocsPerRun(50, func() { feed.Add(motionSample(&res, &buf)) }); n != 0 {
		t.Errorf("feeding a result allocates %.1f times", n)
	}
	got, _, _ := feed.Since(0, 1)
	// Scores leave the daemon in percent of the picture (issue 15: one
	// scale): 0.3 of the picture is 30 %.
	if len(got) != 1 || got[0].Frame != 9 || !got[0].Motion || !got[0].Light || got[0].Threshold != 11 || got[0].ScorePercent != 30 ||
		len(got[0].Boxes) != control.MaxBoxes || got[0].Boxes[0] != (control.Box{X: 1, Y: 2, W: 3, H: 4}) {
		t.Errorf("sample = %+v", got)
	}
	ev := shellEvent(&motion.Event{ID: 4, Start: at, End: at.Add(time.Second), PeakScore: 0.5, PeakTime: at,
		Boxes: []motion.Box{{X: 5, Y: 6, W: 7, H: 8}}})
	if ev.ID != 4 || ev.End != at.Add(time.Second) || len(ev.Boxes) != 1 || ev.Boxes[0].W != 7 || ev.PeakPercent != 50 {
		t.Errorf("event = %+v", ev)
	}
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShellEventsNameClips is issue 15's second defect: events showed
// "CLIP -" although a clip was recorded for each. An event is named by the
// first clip that shows it; an event without a clip stays "-".
func TestShellEventsNameClips(t *testing.T) {
	fx := newShellFixture(t)
	t0 := fx.clock.Now()
	for id := uint64(5); id <= 8; id++ {
		fx.events.Add(control.Event{ID: id, Start: t0, End: t0.Add(time.Second), PeakPercent: 50})
	}
	fx.clips.clips = []storage.ClipInfo{
		{Name: "2026/05/14/100010-e5", State: storage.ClipSealed, Start: t0.Add(10 * time.Second), Events: []uint64{5}, Part: 2},
		{Name: "2026/05/14/100000-e5", State: storage.ClipSealed, Start: t0, Events: []uint64{5}, Part: 1},
		{Name: "2026/05/14/100100-e6", State: storage.ClipSealed, Start: t0.Add(time.Minute), Events: []uint64{6, 7}, Part: 1},
	}
	fx.start(t)
	var out bytes.Buffer
	if err := runShell(t.Context(), fx.sock, strings.NewReader("events\n"), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, re := range []string{`(?m)^5 .* 2026/05/14/100000-e5$`, `(?m)^6 .* 2026/05/14/100100-e6$`,
		`(?m)^7 .* 2026/05/14/100100-e6$`, `(?m)^8 .* -$`} {
		if !regexp.MustCompile(re).MatchString(got) {
			t.Errorf("events output does not match %s:\n%s", re, got)
		}
	}
}
