package daemon

import (
	"context"
	"fmt"
	"github.com/camagent/camagent/agent/outputtest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camagent/camagent/agent/budget"
	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
)

// TestDaemonMemoryBudget runs the daemon on the synthetic camera with a
// tight memory_mb: the plan steps down in its order, the frame pool and the
// recorder's queue and clip rate are the plan's, and the status shows the
// budget, the resident size (from statm under ProcRoot), the heap and every
// pool's fill, none above its size.
func TestDaemonMemoryBudget(t *testing.T) {
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "cm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	card := filepath.Join(dir, "sd")
	os.Mkdir(card, 0o755)
	mounts := filepath.Join(dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda "+card+" vfat rw 0 0\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "self"), 0o755)
	os.WriteFile(filepath.Join(dir, "self", "statm"), []byte("9000 3000 500 600 0 2000 0\n"), 0o644)
	cfgPath := filepath.Join(dir, "camagent.toml")
	replaceFile(t, cfgPath, fmt.Sprintf("memory_mb = 16\n[control]\nsocket = %q\n[capture]\nsource = \"synthetic\"\n"+
		"width = 640\nheight = 480\nfps = 10\n[storage]\nmount = %q\nclip_fps = 10\npre_roll = \"5s\"\n[identity]\nkey = %q\n",
		sock, card, filepath.Join(dir, "id", "device.key")))
	cfg, src, err := config.LoadWith(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg, src, Deps{ProcRoot: dir, MountTable: mounts, NoBoard: true, Console: &outputtest.Output{}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	}()

	want := budget.Fit(d.memorySettings(cfg))
	if len(want.Steps) == 0 || want.ClipFPS >= 10 {
		t.Fatalf("16 MiB for 640x480 should step down the clip rate: %s %v", want.String(), want.Steps)
	}
	client := &control.Client{Socket: sock}
	var st control.Status
	waitFor(t, "frames, the recorder and the memory status", func() bool {
		st, err = client.Status(ctx)
		return err == nil && st.Capture.Frames > 0 && st.Recorder != nil && st.Memory != nil && len(st.Memory.Pools) >= 3
	})
	m := st.Memory
	if m.BudgetBytes != 16<<20 || m.RSSBytes != 3000*int64(os.Getpagesize()) || m.RSSFileBytes != 500*int64(os.Getpagesize()) || m.ChargedBytes != m.RSSBytes || m.HeapBytes == 0 || m.GoBytes < m.HeapBytes {
		t.Errorf("memory = %+v", m)
	}
	// The Go total in parts (runtime/metrics' classes, one snapshot): they
	// add up to it exactly.
	if m.StacksBytes == 0 || m.RuntimeBytes == 0 || m.GCCycles == 0 || m.HeapBytes+m.HeapFreeBytes+m.StacksBytes+m.RuntimeBytes != m.GoBytes {
		t.Errorf("go heap %d + free %d + stacks %d + runtime %d, want the go total %d", m.HeapBytes, m.HeapFreeBytes, m.StacksBytes, m.RuntimeBytes, m.GoBytes)
	}
	if m.GoLimitBytes != 0 {
		t.Errorf("go limit %d set by a daemon without RuntimeLimits", m.GoLimitBytes)
	}
	if len(m.Degraded) != len(want.Steps) || m.PeakBytes != want.Need() {
		t.Errorf("degraded %v peak %d, want %v %d", m.Degraded, m.PeakBytes, want.Steps, want.Need())
	}
	pools := map[string]control.PoolStatus{}
	for _, p := range m.Pools {
		pools[p.Name] = p
		if p.Used < 0 || p.Used > p.Size {
			t.Errorf("pool %+v above its size", p)
		}
	}
	if p := pools["frames"]; p.Size != int64(want.Frames) {
		t.Errorf("frame pool %+v, want %d frames", p, want.Frames)
	}
	if p := pools["queue recorder"]; p.Size != int64(want.RecorderQueue) {
		t.Errorf("recorder queue %+v, want depth %d", p, want.RecorderQueue)
	}
	if p := pools["pre-roll"]; p.Size != int64(want.PreRollBytes) {
		t.Errorf("pre-roll %+v, want %d bytes", p, want.PreRollBytes)
	}
	if st.Recorder.ClipFPS != 0 && st.Recorder.ClipFPS > want.ClipFPS {
		t.Errorf("recorder at %g fps, the plan allows %g", st.Recorder.ClipFPS, want.ClipFPS)
	}
}

// TestDaemonMemoryStepDown feeds the memory part resident sizes (memoryTick,
// the ticker's body) on a running daemon whose plan fits 64 MiB without
// steps: readings above the budget only by file-backed pages beyond the
// plan's allowance take none; readings above it take the plan's first step (the
// recorder's queue 8 -> 4) at run time, logged once, shown in the status
// and applied by restarting the recorder; readings with room step it back.
func TestDaemonMemoryStepDown(t *testing.T) {
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "cm")
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
	replaceFile(t, cfgPath, fmt.Sprintf("memory_mb = 64\n[control]\nsocket = %q\n[capture]\nsource = \"synthetic\"\n"+
		"width = 320\nheight = 240\nfps = 10\n[storage]\nmount = %q\nclip_fps = 10\npre_roll = \"2s\"\n[identity]\nkey = %q\n",
		sock, card, filepath.Join(dir, "id", "device.key")))
	cfg, src, err := config.LoadWith(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	console := &outputtest.Output{}
	d := New(cfg, src, Deps{MountTable: mounts, NoBoard: true, Console: console})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	}()
	client := &control.Client{Socket: sock}
	recorderQueue := func() (int64, []string) {
		st, err := client.Status(ctx)
		if err != nil || st.Memory == nil {
			return -1, nil
		}
		for _, p := range st.Memory.Pools {
			if p.Name == "queue recorder" {
				return p.Size, st.Memory.Degraded
			}
		}
		return -1, nil
	}
	waitFor(t, "the recorder's queue", func() bool { n, _ := recorderQueue(); return n == budget.MaxRecorderQueue })

	last := d.memoryPlan(cfg)
	if len(last.Steps) != 0 {
		t.Fatalf("64 MiB for 320x240 should need no steps: %v", last.Steps)
	}
	over := int64(65 << 20)
	// Above the budget only by file-backed pages beyond the plan's
	// allowance for code (what a live session pages in and leaves
	// resident): not a reason to step down.
	for range 2 * budget.OverSamples {
		last = d.memoryTick(cfg, last, budget.Resident{Total: over, File: budget.Text + 4<<20})
	}
	if last.Measured != 0 {
		t.Fatalf("stepped down for file-backed pages: %v", last.Steps)
	}
	for i := range budget.OverSamples {
		last = d.memoryTick(cfg, last, budget.Resident{Total: over})
		if i < budget.OverSamples-1 && last.Measured != 0 {
			t.Fatalf("stepped down after %d readings", i+1)
		}
	}
	if last.Measured != 1 || last.RecorderQueue != budget.MaxRecorderQueue/2 {
		t.Fatalf("after %d readings above: %+v", budget.OverSamples, last)
	}
	waitFor(t, "the recorder restarted with the smaller queue", func() bool {
		n, deg := recorderQueue()
		return n == budget.MaxRecorderQueue/2 && len(deg) == 1 && deg[0] == "recorder queue 8 -> 4 (measured)"
	})
	if n := strings.Count(console.String(), "stepping down at run time"); n != 1 {
		t.Errorf("step-down logged %d times, want once:\n%s", n, console.String())
	}
	// Still above but more readings: the next step (queue 4 -> 2) only
	// after OverSamples more.
	for range budget.OverSamples - 1 {
		last = d.memoryTick(cfg, last, budget.Resident{Total: over})
	}
	if last.Measured != 1 {
		t.Fatalf("second step too early: %v", last.Steps)
	}
	// Room again: back up after UnderSamples readings.
	for range budget.UnderSamples {
		last = d.memoryTick(cfg, last, budget.Resident{Total: 8 << 20})
	}
	if last.Measured != 0 || last.RecorderQueue != budget.MaxRecorderQueue {
		t.Fatalf("did not step back up: %+v", last)
	}
	waitFor(t, "the recorder restarted with the full queue", func() bool {
		n, deg := recorderQueue()
		return n == budget.MaxRecorderQueue && len(deg) == 0
	})
	if n := strings.Count(console.String(), "stepping back up"); n != 1 {
		t.Errorf("step-up logged %d times, want once", n)
	}
}

// TestDeparture: after the last live viewer leaves, the memory part trims
// the frame pool once and returns freed memory to the kernel on that
// sample and the next ones (a session's teardown outlives the sample that
// saw it end), until a viewer is back; when one of several leaves, once.
func TestDeparture(t *testing.T) {
	type step struct {
		viewers       int
		left          bool
		trim, release bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"no viewer", []step{{0, false, false, false}, {0, false, false, false}}},
		{"streaming", []step{{1, false, false, false}, {1, false, false, false}}},
		{"last left", []step{{1, false, false, false}, {0, true, true, true}, {0, false, false, true}, {0, false, false, true},
			{0, false, false, false}, {0, false, false, false}}},
		{"back before the releases end", []step{{0, true, true, true}, {1, false, false, false}, {1, false, false, false}, {0, true, true, true}}},
		{"one of two left", []step{{2, false, false, false}, {1, true, true, true}, {1, false, false, false}, {0, true, true, true}, {0, false, false, true}}},
	} {
		var dp departure
		for i, s := range tc.steps {
			trim, release := dp.observe(s.viewers, s.left)
			if trim != s.trim || release != s.release {
				t.Errorf("%s: sample %d (%d viewers, left %v): trim %v release %v, want %v %v", tc.name, i, s.viewers, s.left, trim, release, s.trim, s.release)
			}
		}
	}
}

func TestSessionsEnded(t *testing.T) {
	for _, tc := range []struct {
		name           string
		viewersBefore  int
		acceptedBefore uint64
		viewersNow     int
		acceptedNow    uint64
		ended          int
	}{
		{"no viewer", 0, 0, 0, 0, 0},
		{"one streams", 1, 1, 1, 1, 0},
		{"one joined", 0, 1, 1, 2, 0},
		{"the last left", 1, 1, 0, 1, 1},
		{"one came and went between the samples", 0, 1, 0, 2, 1},
		{"two came and went, one stays", 1, 3, 1, 5, 2},
		{"one left as another joined", 1, 3, 1, 4, 1},
		{"the live server restarted: counts from 0", 1, 7, 0, 1, 2},
		{"a session counted one sample late", 0, 1, 1, 1, 0},
	} {
		if got := sessionsEnded(tc.viewersBefore, tc.acceptedBefore, tc.viewersNow, tc.acceptedNow); got != tc.ended {
			t.Errorf("%s: %d sessions ended, want %d", tc.name, got, tc.ended)
		}
	}
}
