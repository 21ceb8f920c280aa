package budget

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// vga is the QEMU camera's picture and clip settings (scripts/qemu/camagent.toml).
func vga(budget int64, viewers int) Settings {
	return Settings{Budget: budget, Frame: 640 * 480 * 2, Pixels: 640 * 480, CaptureFPS: 25,
		ClipFPS: 4, PreRoll: 2 * time.Second, PreRollMax: 4 << 20, Viewers: viewers, Fragment: time.Second}
}

// TestFitArithmetic checks a roomy plan line by line against the
// formulas written out by hand.
func TestFitArithmetic(t *testing.T) {
	s := vga(64*MiB, 1)
	p := Fit(s)
	if len(p.Steps) != 0 || p.Over != 0 {
		t.Fatalf("64 MiB: steps %v over %d, want none", p.Steps, p.Over)
	}
	// capture 1 + motion 1+1 + recorder 8+1 + snapshot 1 + one viewer 2+1
	if p.Frames != 1+2+9+1+3 {
		t.Errorf("frames = %d, want 16", p.Frames)
	}
	sample := 640 * 480 / 10
	// 4 fps over 2 s of pre-roll plus 1 s of event lag, and half again
	if want := sample * 4 * 3 * 3 / 2; p.PreRollBytes != want {
		t.Errorf("pre-roll bytes = %d, want %d", p.PreRollBytes, want)
	}
	want := map[string]int64{
		"runtime":    Runtime,
		"frames":     16 * 640 * 480 * 2,
		"encoder":    640*480*4 + 6*int64(sample),
		"peak frame": 640 * 480 * 2 / 4,     // kept at half width and height
		"fragment":   4 * int64(sample),     // 4 fps, 1 s fragments
		"pre-roll":   int64(sample) * 4 * 3, // the ring's expected fill, not its limit
		"motion":     640 * 480 * Motion,
		"source":     0,
		"live":       LiveSession,
		"upload":     Upload,
		"mqtt":       MQTT,
	}
	var heap int64
	for _, it := range p.Items {
		if it.Bytes != want[it.Name] {
			t.Errorf("%s = %d, want %d", it.Name, it.Bytes, want[it.Name])
		}
		heap += it.Bytes
		delete(want, it.Name)
	}
	if len(want) != 0 {
		t.Errorf("items missing: %v", want)
	}
	if p.Heap() != heap || p.Need() != Text+Overhead+heap*3/2 {
		t.Errorf("heap %d need %d, want %d and %d", p.Heap(), p.Need(), heap, Text+Overhead+heap*3/2)
	}
	if p.GoLimit != 64*MiB-Text || p.GCPercent != StartGCPercent {
		t.Errorf("go limit %d gc %d", p.GoLimit, p.GCPercent)
	}
	s.DriverBuffers = 4
	if p := Fit(s); p.GoLimit != 64*MiB-Text-4*640*480*2 || p.Need() != Text+Overhead+4*640*480*2+heap*3/2 {
		t.Errorf("go limit %d gc %d", p.GoLimit, p.GCPercent)
	}
	if p.ClipFPS != 4 || p.PreRoll != 2*time.Second || p.Viewers != 1 || p.RecorderQueue != MaxRecorderQueue {
		t.Errorf("settings changed in a roomy plan: %+v", p)
	}
}

// TestFitPreRollCap: the pre-roll ring never exceeds storage.pre_roll_mb,
// and a pre-roll of 0 gets the smallest ring.
func TestFitPreRollCap(t *testing.T) {
	s := vga(256*MiB, 0)
	s.ClipFPS, s.PreRoll, s.PreRollMax = 30, 30*time.Second, 1<<20
	if p := Fit(s); p.PreRollBytes != 1<<20 {
		t.Errorf("pre-roll bytes %d, want the 1 MiB cap", p.PreRollBytes)
	}
	s.PreRoll = 0
	if p := Fit(s); p.PreRollBytes != MinPreRollBytes {
		t.Errorf("pre-roll 0: bytes %d, want %d", p.PreRollBytes, MinPreRollBytes)
	}
	// H.264 pre-roll is at the camera's rate, not the clip rate, and has no encoder.
	s = vga(256*MiB, 0)
	s.Compressed, s.H264 = true, true
	p := Fit(s)
	if want := (640 * 480 / 16) * 25 * 3 * 3 / 2; p.PreRollBytes != want {
		t.Errorf("h264 pre-roll %d, want %d", p.PreRollBytes, want)
	}
	for _, it := range p.Items {
		if it.Name == "encoder" && it.Bytes != 0 {
			t.Errorf("h264: encoder %d, want 0", it.Bytes)
		}
	}
}

// TestFitOrder: as the budget shrinks, the steps come in the documented
// order, each kind only after the one before is exhausted, and every plan
// Fit calls fitting does fit.
func TestFitOrder(t *testing.T) {
	kinds := []string{"recorder queue", "gc target", "clip_fps", "pre_roll", "live viewers"}
	s := vga(0, 2)
	s.ClipFPS, s.PreRoll = 10, 5*time.Second
	var last []string
	for mb := int64(64); mb >= 8; mb-- {
		s.Budget = mb * MiB
		p := Fit(s)
		rank := 0
		for _, st := range p.Steps {
			k := slices.IndexFunc(kinds, func(k string) bool { return strings.HasPrefix(st, k) })
			if k < 0 {
				t.Fatalf("%d MiB: unknown step %q", mb, st)
			}
			if k < rank {
				t.Fatalf("%d MiB: step %q after a later kind: %v", mb, st, p.Steps)
			}
			rank = k
		}
		if !slices.Equal(p.Steps[:min(len(last), len(p.Steps))], last[:min(len(last), len(p.Steps))]) || len(p.Steps) < len(last) {
			t.Fatalf("%d MiB: steps %v do not extend the larger budget's %v", mb, p.Steps, last)
		}
		last = p.Steps
		if p.Over == 0 && p.Need() > s.Budget {
			t.Fatalf("%d MiB: need %d > budget with Over 0", mb, p.Need())
		}
		if p.Over > 0 && (p.RecorderQueue != MinRecorderQueue || p.GCPercent != MinGCPercent ||
			p.ClipFPS != MinClipFPS || p.PreRoll != MinPreRoll || p.Viewers != 0) {
			t.Fatalf("%d MiB: over budget with a step left: %+v", mb, p)
		}
	}
	want := []string{
		"recorder queue 8 -> 4", "recorder queue 4 -> 2", "recorder queue 2 -> 1",
		"gc target 50% -> 25%",
		"clip_fps 10 -> 5", "clip_fps 5 -> 2.5", "clip_fps 2.5 -> 2",
		"pre_roll 5s -> 2.5s", "pre_roll 2.5s -> 1.3s", "pre_roll 1.3s -> 1s",
		"live viewers 2 -> 1", "live viewers 1 -> 0",
	}
	if !slices.Equal(last, want) {
		t.Errorf("8 MiB steps:\n got %v\nwant %v", last, want)
	}
}

// TestFitKeepsLowerSettings: Fit never raises what was asked below its
// floors.
func TestFitKeepsLowerSettings(t *testing.T) {
	s := vga(8*MiB, 0)
	s.ClipFPS, s.PreRoll = 1, 500*time.Millisecond
	p := Fit(s)
	if p.ClipFPS != 1 || p.PreRoll != 500*time.Millisecond {
		t.Errorf("clip %v pre-roll %v, want 1 and 500ms as asked", p.ClipFPS, p.PreRoll)
	}
	if p.Over == 0 {
		t.Errorf("8 MiB for VGA fits? %s", p.String())
	}
	if !strings.Contains(p.String(), "OVER by") {
		t.Errorf("String does not say it is over: %s", p.String())
	}
}

// TestPoolsBoundedUnderBudget: for every picture size the agent accepts
// up to 1080p and the budgets of the boards, a plan that says it fits keeps
// its peak (every pool and queue full, every viewer connected, the GC's
// headroom) within the budget, and the Go limit leaves Text outside.
func TestPoolsBoundedUnderBudget(t *testing.T) {
	sizes := [][2]int{{320, 240}, {640, 360}, {640, 480}, {1280, 720}, {1920, 1080}}
	for _, wh := range sizes {
		for _, mb := range []int64{16, 24, 32, 48, 64, 128} {
			for viewers := range 5 {
				s := vga(mb*MiB, viewers)
				s.Pixels, s.Frame = wh[0]*wh[1], wh[0]*wh[1]*2
				s.ClipFPS, s.PreRoll, s.DriverBuffers = 10, 5*time.Second, 4
				p := Fit(s)
				if p.Over > 0 {
					continue
				}
				frames := int64(p.Frames) * int64(s.Frame)
				if frames > p.Heap() || p.Need() > s.Budget || p.GoLimit+Text+int64(4*s.Frame) != s.Budget {
					t.Errorf("%dx%d %d MiB %d viewers: %s", wh[0], wh[1], mb, viewers, p.String())
				}
				if p.Frames != 1+MotionQueue+1+p.RecorderQueue+1+1+p.Viewers*(LiveQueue+1) {
					t.Errorf("%dx%d: pool %d does not cover the queues", wh[0], wh[1], p.Frames)
				}
			}
		}
	}
}

func TestParseStatm(t *testing.T) {
	for _, tc := range []struct {
		in          string
		total, file int64
		ok          bool
	}{
		{"6023 1380 602 1035 0 766 0\n", 1380 * 4096, 602 * 4096, true},
		{"1 0 0", 0, 0, true},
		{"", 0, 0, false},
		{"12", 0, 0, false},
		{"1 0", 0, 0, false},
		{"12 x 3", 0, 0, false},
		{"12 5 x", 0, 0, false},
		{"12 -4 3", 0, 0, false},
		{"12 4 -3", 0, 0, false},
		{"12 4 5", 0, 0, false}, // more shared than resident
		{"12 99999999999999999999 3", 0, 0, false},
	} {
		got, err := parseStatm([]byte(tc.in), 4096)
		if (err == nil) != tc.ok || got.Total != tc.total || got.File != tc.file {
			t.Errorf("parseStatm(%q) = %+v, %v; want %d/%d ok=%v", tc.in, got, err, tc.total, tc.file, tc.ok)
		}
	}
}

func FuzzParseStatm(f *testing.F) {
	for _, s := range []string{"6023 1380 602 1035 0 766 0\n", "1 0 0", "", "12 x 3", "12 4 5"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseStatm(b, 4096)
		if err == nil && (r.File < 0 || r.Anon() < 0) {
			t.Fatalf("resident %+v: a negative part", r)
		}
	})
}

func TestReadResident(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "self", "statm"), []byte("100 25 3 4 0 5 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r, err := ReadResident(dir, 4096); err != nil || r.Total != 25*4096 || r.File != 3*4096 || r.Anon() != 22*4096 {
		t.Errorf("ReadResident = %+v, %v", r, err)
	}
	if _, err := ReadResident(t.TempDir(), 4096); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no statm: %v, want ErrNotExist", err)
	}
}

// TestCharged: the budget counts anonymous memory whole and file-backed
// pages up to the plan's allowance for them (Text and the driver's
// buffers), no further.
func TestCharged(t *testing.T) {
	s := vga(24*MiB, 0)
	s.DriverBuffers = 2
	allow := Text + 2*int64(s.Frame)
	for _, tc := range []struct {
		r    Resident
		want int64
	}{
		{Resident{Total: 20 * MiB, File: 0}, 20 * MiB},
		{Resident{Total: 20 * MiB, File: 5 * MiB}, 20 * MiB},
		{Resident{Total: 10*MiB + allow, File: allow}, 10*MiB + allow},
		{Resident{Total: 10*MiB + allow + 3*MiB, File: allow + 3*MiB}, 10*MiB + allow},
	} {
		if got := tc.r.Charged(s); got != tc.want {
			t.Errorf("%+v: charged %d, want %d", tc.r, got, tc.want)
		}
	}
}

// BenchmarkFit is the cost of planning (at start and at each config change).
func BenchmarkFit(b *testing.B) {
	s := vga(16*MiB, 2)
	s.ClipFPS, s.PreRoll = 10, 5*time.Second
	b.ReportAllocs()
	for b.Loop() {
		_ = Fit(s)
	}
}

// TestStepDown feeds StepDown resident sizes: it steps down only after
// OverSamples readings in a row above the budget, in Fit's order, marks
// those steps measured, stops when nothing is left, and steps back up only
// after UnderSamples readings in a row with room for the step, one step at
// a time.
func TestStepDown(t *testing.T) {
	s := vga(64*MiB, 1)
	s.ClipFPS, s.PreRoll = 10, 5*time.Second
	if p := Fit(s); len(p.Steps) != 0 {
		t.Fatalf("64 MiB should fit without steps: %v", p.Steps)
	}
	var d StepDown
	over, fits := s.Budget+MiB, s.Budget/2
	// Readings above the budget that are not OverSamples in a row do nothing.
	for range 5 {
		for range OverSamples - 1 {
			if d.Observe(over, s) != 0 {
				t.Fatal("stepped down before OverSamples readings in a row")
			}
		}
		d.Observe(fits, s)
	}
	if d.Extra != 0 {
		t.Fatalf("extra = %d after interrupted runs", d.Extra)
	}
	// Always above: every OverSamples readings one more step, in order.
	total := 0
	for i := 0; i < 200; i++ {
		switch d.Observe(over, s) {
		case 1:
			total++
			if (i+1)%OverSamples != 0 {
				t.Fatalf("step at reading %d, want every %d", i+1, OverSamples)
			}
		case -1:
			t.Fatal("stepped up while above the budget")
		}
	}
	p := FitMore(s, d.Extra)
	want := []string{"recorder queue 8 -> 4 (measured)", "recorder queue 4 -> 2 (measured)", "recorder queue 2 -> 1 (measured)",
		"gc target 50% -> 25% (measured)",
		"clip_fps 10 -> 5 (measured)", "clip_fps 5 -> 2.5 (measured)", "clip_fps 2.5 -> 2 (measured)",
		"pre_roll 5s -> 2.5s (measured)", "pre_roll 2.5s -> 1.3s (measured)", "pre_roll 1.3s -> 1s (measured)",
		"live viewers 1 -> 0 (measured)"}
	if !slices.Equal(p.Steps, want) || total != len(want) || p.Measured != len(want) {
		t.Fatalf("steps %v (%d taken), want %v", p.Steps, total, want)
	}
	if p.ClipFPS != MinClipFPS || p.PreRoll != MinPreRoll || p.Viewers != 0 || p.GCPercent != MinGCPercent {
		t.Errorf("fully stepped down plan %+v", p)
	}
	// Room for the next step up, but readings in between without it reset
	// the count.
	for range 3 {
		for range UnderSamples - 1 {
			if d.Observe(fits, s) != 0 {
				t.Fatal("stepped up before UnderSamples readings in a row")
			}
		}
		d.Observe(s.Budget-StepUpRoom/2, s) // within the budget, no room for a step
	}
	if d.Extra != len(want) {
		t.Fatalf("extra = %d, want %d", d.Extra, len(want))
	}
	// Room: back up one step per UnderSamples readings, to none.
	for i := 0; d.Extra > 0; i++ {
		if i > 1000 {
			t.Fatal("never stepped back up")
		}
		before := d.Extra
		if r := d.Observe(fits, s); r == -1 && d.Extra != before-1 {
			t.Fatalf("step up went %d -> %d", before, d.Extra)
		}
	}
	if p := FitMore(s, 0); len(p.Steps) != 0 || p.ClipFPS != 10 || p.Viewers != 1 {
		t.Errorf("back at the start: %+v", p)
	}
}

// TestStepUpHysteresis: a plan whose next step up would cost more than the
// room below the budget stays down.
func TestStepUpHysteresis(t *testing.T) {
	s := vga(64*MiB, 1)
	all := FitMore(s, 100).Measured
	d := StepDown{Extra: all} // everything given up, the viewer last
	up, now := FitMore(s, all-1), FitMore(s, all)
	cost := up.Need() - now.Need() // one live viewer
	if cost <= 0 {
		t.Fatalf("a viewer costs %d", cost)
	}
	tight := s.Budget - cost - StepUpRoom + 1
	for range 10 * UnderSamples {
		if d.Observe(tight, s) != 0 {
			t.Fatal("stepped up without room for the step")
		}
	}
	for range UnderSamples - 1 {
		d.Observe(tight-1, s)
	}
	if d.Observe(tight-1, s) != -1 || d.Extra != all-1 {
		t.Fatalf("did not step up with just enough room: extra %d", d.Extra)
	}
}

// TestFitQEMULiveViewer: the QEMU camera's settings (issue 11's 5 s
// pre-roll at 4 fps, 2 driver buffers, two viewers asked) on the qemu-virt
// budget (24 MiB, 12 MiB more while a viewer is connected) keep the
// pre-roll and clip rate and allow a live viewer, with the idle plan within
// 24 MiB; without the live allowance no viewer fits.
func TestFitQEMULiveViewer(t *testing.T) {
	s := vga(24*MiB, 2)
	s.PreRoll, s.DriverBuffers, s.LiveBudget = 5*time.Second, 2, 12*MiB
	p := Fit(s)
	if p.Viewers < 1 || p.Over != 0 || p.PreRoll != 5*time.Second || p.ClipFPS != 4 {
		t.Errorf("24+12 MiB: %s %v", p.String(), p.Steps)
	}
	if p.Idle() > s.Budget || p.Need() > s.Budget+s.LiveBudget {
		t.Errorf("idle %d, with viewers %d: over %d / %d", p.Idle(), p.Need(), s.Budget, s.Budget+s.LiveBudget)
	}
	if p.GoLimitLive != p.GoLimit+s.LiveBudget {
		t.Errorf("go limit %d, live %d", p.GoLimit, p.GoLimitLive)
	}
	s.LiveBudget = 0
	if p := Fit(s); p.Viewers != 0 {
		t.Errorf("24 MiB without a live allowance: %d viewers: %s", p.Viewers, p.String())
	}
}
