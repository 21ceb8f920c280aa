package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
	d := New(cfg, src, Deps{ProcRoot: dir, MountTable: mounts, NoBoard: true, Console: &syncBuffer{}})
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
	if m.BudgetBytes != 16<<20 || m.RSSBytes != 3000*int64(os.Getpagesize()) || m.HeapBytes == 0 || m.GoBytes < m.HeapBytes {
		t.Errorf("memory = %+v", m)
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
