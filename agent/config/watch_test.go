package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// guard bounds every wait, so that a broken watcher fails the test instead of
// hanging it. No test expects anything to take a particular time.
const guard = 20 * time.Second

// records sends every log record to a channel, so that tests wait for what
// the watcher did instead of sleeping.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	r <- rec.Clone()
	return nil
}
func (r records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r records) WithGroup(string) slog.Handler      { return r }

type applied struct {
	c   Config
	src Source
}

type harness struct {
	t       *testing.T
	path    string
	w       *Watcher
	logs    records
	applied chan applied
	cancel  context.CancelFunc
	done    chan error
}

// level returns a valid file whose log.level is level, and its Config.
func level(l string) (string, Config) {
	c := Default()
	c.Log.Level = l
	return fmt.Sprintf("# level %s\n[log]\nlevel = %q\n", l, l), c
}

// startWatcher runs a Watcher of path until the test ends. setup may change
// it before Run.
func startWatcher(t *testing.T, path string, getenv func(string) string, setup func(*Watcher)) *harness {
	t.Helper()
	h := &harness{
		t:       t,
		path:    path,
		logs:    make(records, 1000),
		applied: make(chan applied, 100),
		done:    make(chan error, 1),
	}
	h.w = NewWatcher(path, slog.New(h.logs), getenv)
	h.w.Debounce = time.Millisecond
	h.w.Poll = -1
	h.w.Now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	if setup != nil {
		setup(h.w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		h.done <- h.w.Run(ctx, func(c Config, src Source) { h.applied <- applied{c, src} })
	}()
	t.Cleanup(h.stop)
	return h
}

// stop ends Run and checks that it returned nil and left no goroutine.
func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(guard):
		h.t.Fatal("Run did not return after cancel")
	}
	h.done <- nil // a second stop is a no-op
	checkNoWatchGoroutines(h.t)
}

func checkNoWatchGoroutines(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "fsnotify") && !strings.Contains(stacks, "config.(*Watcher)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch goroutines left after Run returned:\n%s", stacks)
		}
		runtime.Gosched()
	}
}

func (h *harness) waitApply() applied {
	h.t.Helper()
	select {
	case a := <-h.applied:
		return a
	case <-time.After(guard):
		h.t.Fatal("apply was not called")
	}
	return applied{}
}

// waitApplyOf waits for the next apply and checks it carries want.
func (h *harness) waitApplyOf(want Config, content string) applied {
	h.t.Helper()
	a := h.waitApply()
	if !a.c.Equal(want) {
		h.t.Fatalf("applied %+v, want %+v", a.c, want)
	}
	if a.src.Hash != hash([]byte(content)) || a.src.Path != h.path || !a.src.Loaded.Equal(h.w.Now()) {
		h.t.Fatalf("applied Source %+v", a.src)
	}
	cur, src, ok := h.w.Current()
	if !ok || !cur.Equal(want) || src != a.src {
		h.t.Fatalf("Current = %+v %+v %v", cur, src, ok)
	}
	return a
}

// waitLog waits for a record with message msg and returns it with the
// records before it.
func (h *harness) waitLog(msg string) (slog.Record, []slog.Record) {
	h.t.Helper()
	var before []slog.Record
	for {
		select {
		case r := <-h.logs:
			if r.Message == msg {
				return r, before
			}
			before = append(before, r)
		case <-time.After(guard):
			h.t.Fatalf("no log %q", msg)
		}
	}
}

func (h *harness) noApply() {
	h.t.Helper()
	select {
	case a := <-h.applied:
		h.t.Fatalf("apply called with %+v", a.c)
	default:
	}
}

func attrs(r slog.Record) map[string]string {
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	return m
}

// replace writes content to path the way editors and provisioning tools do:
// a temporary file in the same directory, renamed over it.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherRename(t *testing.T) {
	dir := t.TempDir()
	a, ca := level("debug")
	p := writeFile(t, dir, "camagent.toml", a)
	writeFile(t, dir, "other.toml", "x")
	h := startWatcher(t, p, nil, nil)
	h.waitApplyOf(ca, a) // the first read

	b, cb := level("warn")
	replace(t, p, b)
	h.waitApplyOf(cb, b)
	r, _ := h.waitLog("config reloaded")
	if got := attrs(r)["changed"]; got != "[log]" {
		t.Errorf("changed = %s, want [log]", got)
	}
}

func TestWatcherInPlace(t *testing.T) {
	dir := t.TempDir()
	a, ca := level("debug")
	p := writeFile(t, dir, "camagent.toml", a)
	h := startWatcher(t, p, nil, nil)
	h.waitApplyOf(ca, a)

	// os.WriteFile truncates, then writes: the watcher may see the empty file
	// first, and must not apply it.
	b, cb := level("error")
	writeFile(t, dir, "camagent.toml", b)
	h.waitApplyOf(cb, b)
}

func TestWatcherRejectsInvalid(t *testing.T) {
	dir := t.TempDir()
	a, ca := level("debug")
	p := writeFile(t, dir, "camagent.toml", a)
	h := startWatcher(t, p, nil, nil)
	h.waitApplyOf(ca, a)

	bad := "[capture]\nfps = 500\n"
	replace(t, p, bad)
	r, _ := h.waitLog("config rejected")
	if r.Level != slog.LevelError {
		t.Errorf("level %v", r.Level)
	}
	at := attrs(r)
	if at["path"] != p || at["err"] != "config: capture.fps: 500 is out of range 1..120" || at["hash"] != hash([]byte(bad)) {
		t.Errorf("attrs %v", at)
	}
	h.noApply()
	if cur, src, _ := h.w.Current(); !cur.Equal(ca) || src.Hash != hash([]byte(a)) {
		t.Errorf("Current after a rejected file = %+v %+v", cur, src)
	}

	// The same bad file again is not logged again.
	replace(t, p, bad)
	c, cc := level("info")
	replace(t, p, c)
	h.waitApplyOf(cc, c)
	if _, before := h.waitLog("config reloaded"); len(before) != 0 {
		for _, r := range before {
			t.Errorf("unexpected log %q %v", r.Message, attrs(r))
		}
	}

	// A syntax error.
	replace(t, p, "# a\n[log\n")
	r, _ = h.waitLog("config rejected")
	if got := attrs(r)["err"]; got != `config: line 2: expected '.' or ']' to end table name, but got '\n' instead` {
		t.Errorf("err = %q", got)
	}
	h.noApply()
}

func TestWatcherDeleteRecreate(t *testing.T) {
	dir := t.TempDir()
	a, ca := level("debug")
	p := writeFile(t, dir, "camagent.toml", a)
	h := startWatcher(t, p, nil, nil)
	h.waitApplyOf(ca, a)

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	r, _ := h.waitLog("config file missing; keeping the running config")
	if r.Level != slog.LevelWarn || attrs(r)["path"] != p {
		t.Errorf("record %v %v", r.Level, attrs(r))
	}
	if cur, _, ok := h.w.Current(); !ok || !cur.Equal(ca) {
		t.Errorf("Current = %+v", cur)
	}
	// Back with the running contents: nothing to apply. Then a new file.
	writeFile(t, dir, "camagent.toml", a)
	b, cb := level("warn")
	replace(t, p, b)
	h.waitApplyOf(cb, b)
}

func TestWatcherSkipsUnchanged(t *testing.T) {
	dir := t.TempDir()
	a, _ := level("debug")
	p := writeFile(t, dir, "camagent.toml", a)
	c, src, err := LoadWith(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := startWatcher(t, p, nil, func(w *Watcher) { w.SetCurrent(c, src) })
	// Neither the first read nor rewriting the same bytes applies anything:
	// the first apply is the new file's.
	writeFile(t, dir, "camagent.toml", a)
	replace(t, p, a)
	b, cb := level("warn")
	replace(t, p, b)
	h.waitApplyOf(cb, b)
}

func TestWatcherEnv(t *testing.T) {
	dir := t.TempDir()
	a, ca := level("debug")
	p := writeFile(t, dir, "camagent.toml", a)
	env := map[string]string{EnvLogFormat: "json", EnvLogLevel: "error"}
	h := startWatcher(t, p, func(k string) string { return env[k] }, nil)
	ca.Log.Format, ca.Log.Level = "json", "error"
	h.waitApplyOf(ca, a)
}

// A Kubernetes ConfigMap volume: the file is a symlink through "..data",
// which is swapped atomically to a new timestamped directory.
func TestWatcherDataSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	a, ca := level("debug")
	b, cb := level("warn")
	mk := func(ts, content string) {
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, ts), "camagent.toml", content)
	}
	mk("..2025_01_01", a)
	if err := os.Symlink("..2025_01_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "camagent.toml")
	if err := os.Symlink("..data/camagent.toml", p); err != nil {
		t.Fatal(err)
	}
	h := startWatcher(t, p, nil, nil)
	h.waitApplyOf(ca, a)

	mk("..2025_01_02", b)
	if err := os.Symlink("..2025_01_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	h.waitApplyOf(cb, b)
}

func TestWatcherDirectoryRecreated(t *testing.T) {
	sub := filepath.Join(t.TempDir(), "etc")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	a, ca := level("debug")
	p := writeFile(t, sub, "camagent.toml", a)
	h := startWatcher(t, p, nil, func(w *Watcher) { w.Poll = 2 * time.Millisecond })
	h.waitApplyOf(ca, a)

	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	h.waitLog("config directory gone; watching it again when it is back")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	b, cb := level("warn")
	replace(t, p, b)
	h.waitApplyOf(cb, b)
	h.waitLog("config watch restored")
}

func TestWatcherMissingDirectoryAtStart(t *testing.T) {
	sub := filepath.Join(t.TempDir(), "later")
	p := filepath.Join(sub, "camagent.toml")
	h := startWatcher(t, p, nil, func(w *Watcher) { w.Poll = 2 * time.Millisecond })
	h.waitLog("config watch failed; reading the file every poll")
	if _, _, ok := h.w.Current(); ok {
		t.Fatal("Current reports a config before any file")
	}
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	a, ca := level("debug")
	replace(t, p, a)
	h.waitApplyOf(ca, a)
}

// A file symlinked from another directory raises no event where the watcher
// looks; the poll finds the change.
func TestWatcherPollFindsSymlinkedChange(t *testing.T) {
	etc, sd := t.TempDir(), t.TempDir()
	a, ca := level("debug")
	target := writeFile(t, sd, "camagent.toml", a)
	p := filepath.Join(etc, "camagent.toml")
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	h := startWatcher(t, p, nil, func(w *Watcher) { w.Poll = 2 * time.Millisecond })
	h.waitApplyOf(ca, a)
	b, cb := level("warn")
	replace(t, target, b)
	h.waitApplyOf(cb, b)
}

func TestWatcherStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	a, ca := level("debug")
	p := writeFile(t, dir, "camagent.toml", a)
	h := startWatcher(t, p, nil, func(w *Watcher) { w.Debounce = time.Hour; w.Poll = time.Hour })
	h.waitApplyOf(ca, a)
	// A change pending in the debounce does not hold Run.
	b, _ := level("warn")
	replace(t, p, b)
	h.stop()
	h.noApply()
}
