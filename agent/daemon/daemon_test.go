package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/outputtest"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
)

// tickSource is a camera that yields a grey frame on every tick (and tells
// changed of each).
type tickSource struct {
	f       capture.Format
	pool    *capture.Pool
	tick    *time.Ticker
	seq     uint64
	changed changes
}

func newTickSource(changed changes) *tickSource {
	f := capture.Format{Pixel: capture.FormatGREY, Width: 64, Height: 48, Stride: 64, FPS: 100}
	return &tickSource{f: f, pool: capture.NewPool(4, f.FrameSize()), tick: time.NewTicker(10 * time.Millisecond), changed: changed}
}

func (s *tickSource) Format() capture.Format { return s.f }
func (s *tickSource) Close() error           { s.tick.Stop(); return nil }
func (s *tickSource) Next(ctx context.Context) (*capture.Frame, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.tick.C:
	}
	fr, err := s.pool.Get()
	if err != nil {
		return nil, err
	}
	fr.SetLen(s.f.FrameSize())
	fr.Format, fr.Seq, fr.Time = s.f, s.seq, time.Now()
	s.seq++
	defer s.changed.poke()
	return fr, nil
}

// changes wakes a test waiting in waitUntil when something it watches may
// have changed: a line of the daemon's log, a frame of the fake camera. A
// nil changes wakes no one.
type changes chan struct{}

func newChanges() changes { return make(changes, 1) }

func (c changes) poke() {
	if c == nil {
		return
	}
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitUntil waits until cond holds, checking it again each time c says
// something changed. The limit only ends a hung test; no time is asserted.
func waitUntil(t *testing.T, what string, c changes, cond func() bool) {
	t.Helper()
	limit := time.NewTimer(time.Minute)
	defer limit.Stop()
	for !cond() {
		select {
		case <-c:
		case <-limit.C:
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// replaceFile swaps in a new file by rename, as provisioning tools do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the test's patience (30 s) runs out.
// Only the tests with a real MQTT broker still use it: whether the live part
// serves is told by no log line or event; every other test waits with
// waitUntil.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDaemon runs the whole daemon with a fake camera: status over the control
// socket, hot reload (a bad file refused, a good one applied), a camera that
// fails and is reopened, and a clean shutdown that marks the run record.
func TestDaemon(t *testing.T) {
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "cd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	card := filepath.Join(dir, "sd")
	os.Mkdir(card, 0o755)
	mounts := filepath.Join(dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda "+card+" vfat rw 0 0\n"), 0o644)
	cfgPath := filepath.Join(dir, "camagent.toml")
	body := func(level string) string {
		return fmt.Sprintf("shutdown_timeout = \"5s\"\n[log]\nlevel = %q\n[control]\nsocket = %q\n[storage]\nmount = %q\n[identity]\nkey = %q\n",
			level, sock, card, filepath.Join(dir, "id", "device.key"))
	}
	replaceFile(t, cfgPath, body("info"))

	cfg, src, err := config.LoadWith(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	changed := newChanges()
	var opens sync.Mutex
	openCount := 0
	dp := Deps{ProcRoot: dir, MountTable: mounts, NoBoard: true,
		OpenSource: func(config.CaptureConfig, func(string, ...any)) (capture.Source, error) {
			opens.Lock()
			defer opens.Unlock()
			openCount++
			if openCount == 1 {
				return nil, errors.New("open /dev/video0: no such device")
			}
			return newTickSource(changed), nil
		}}
	console := &outputtest.Output{Wake: changed}
	dp.Console = console
	d := New(cfg, src, dp)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()

	client := &control.Client{Socket: sock}
	var st control.Status
	waitUntil(t, "frames in the status report", changed, func() bool {
		st, err = client.Status(ctx)
		return err == nil && st.Capture.Frames > 0
	})
	if st.ConfigPath != cfgPath || st.ConfigHash != src.Hash || st.Capture.Format != "GREY" || st.Capture.Width != 64 {
		t.Errorf("status = %+v", st)
	}
	parts := map[string]control.PartStatus{}
	for _, p := range st.Parts {
		parts[p.Name] = p
	}
	if c := parts["capture"]; c.State != "running" || c.Restarts != 1 || !strings.Contains(c.LastError, "no such device") {
		t.Errorf("capture part = %+v, want running after one restart", c)
	}
	if st.Identity == nil || !strings.HasPrefix(st.Identity.DeviceID, "cam-") || st.Identity.Owner != "" {
		t.Errorf("identity = %+v, want a device ID created at first start, not paired", st.Identity)
	}
	if st.Storage.State != storage.StateWritable {
		t.Errorf("storage = %+v", st.Storage)
	}

	// The fake camera has no controls: the request is refused with the reason.
	req := control.CaptureControl{Name: "Horizontal Movement", Value: 6}
	err = client.Post(ctx, control.PathCaptureControl, req, &req)
	if err == nil || !strings.Contains(err.Error(), "no running source with controls") {
		t.Errorf("ctl control on a camera without controls = %v", err)
	}

	// A malformed file is refused and the running config stays.
	replaceFile(t, cfgPath, body("loud"))
	waitUntil(t, "the bad config to be rejected", changed, func() bool { return strings.Contains(console.String(), "config rejected") })
	if !strings.Contains(console.String(), "log.level") {
		t.Errorf("rejection does not name the key:\n%s", console.String())
	}
	if st, _ := client.Status(ctx); st.ConfigHash != src.Hash {
		t.Errorf("hash changed to %s after a rejected file", st.ConfigHash)
	}
	// A good one is applied.
	replaceFile(t, cfgPath, body("debug"))
	waitUntil(t, "the new config", changed, func() bool {
		st, err := client.Status(ctx)
		return err == nil && st.ConfigHash != src.Hash
	})
	if d.level.Level().String() != "DEBUG" {
		t.Errorf("log level = %v after reload", d.level.Level())
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v, want a clean shutdown", err)
	}
	if n := strings.Count(console.String(), `msg="config reloaded"`); n != 1 {
		t.Errorf("%d \"config reloaded\" lines for one reload:\n%s", n, console.String())
	}
	rec, ok, err := storage.NewCard(card).LoadRunRecord()
	if err != nil || !ok || !rec.CleanShutdown || rec.Frames == 0 {
		t.Errorf("run record = %+v %v %v, want clean with frames", rec, ok, err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("control socket left behind: %v", err)
	}
}
