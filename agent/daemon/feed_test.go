package daemon

import (
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/control"
)

func TestEventRing(t *testing.T) {
	r := NewEventRing(3)
	if got := r.Recent(10); len(got) != 0 {
		t.Fatalf("empty ring: %v", got)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	boxes := []control.Box{{X: 1, Y: 2, W: 3, H: 4}}
	r.Add(control.Event{ID: 1, Start: t0, Boxes: boxes})
	boxes[0].X = 99 // the ring keeps its own copy
	r.Add(control.Event{ID: 1, Start: t0, End: t0.Add(time.Second), PeakPercent: 50, Boxes: []control.Box{{X: 5, Y: 6, W: 7, H: 8}}})
	r.Add(control.Event{ID: 2, Start: t0.Add(time.Minute)})
	r.Add(control.Event{ID: 3, Start: t0.Add(2 * time.Minute)})
	r.Add(control.Event{ID: 4, Start: t0.Add(3 * time.Minute), Boxes: make([]control.Box, control.MaxBoxes+5)})
	got := r.Recent(10)
	var ids []uint64
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []uint64{2, 3, 4}) {
		t.Fatalf("ids = %v, want [2 3 4]", ids)
	}
	if len(got[2].Boxes) != control.MaxBoxes {
		t.Errorf("event kept %d boxes, want %d", len(got[2].Boxes), control.MaxBoxes)
	}
	if last := r.Recent(1); len(last) != 1 || last[0].ID != 4 {
		t.Errorf("Recent(1) = %v", last)
	}
	r2 := NewEventRing(2)
	r2.Add(control.Event{ID: 7, Boxes: []control.Box{{X: 1}}})
	r2.Add(control.Event{ID: 7, End: t0, Boxes: []control.Box{{X: 2}}})
	if e := r2.Recent(5); len(e) != 1 || e[0].End != t0 || e[0].Boxes[0].X != 2 {
		t.Errorf("update of an event: %+v", e)
	}
	e := r2.Recent(1)
	e[0].Boxes[0].X = 42
	if r2.Recent(1)[0].Boxes[0].X != 2 {
		t.Error("Recent shares boxes with the ring")
	}
}

func TestMotionFeed(t *testing.T) {
	f := NewMotionFeed(4)
	got, last, wait := f.Since(0, 10)
	if len(got) != 0 || last != 0 {
		t.Fatalf("empty feed: %v %d", got, last)
	}
	boxes := []control.Box{{X: 1, Y: 1, W: 2, H: 2}}
	f.Add(control.MotionSample{Frame: 10, ScorePercent: 10, Boxes: boxes})
	select {
	case <-wait:
	default:
		t.Fatal("Add did not wake the reader")
	}
	boxes[0].X = 50
	for i := range 5 {
		f.Add(control.MotionSample{Frame: uint64(11 + i), Boxes: make([]control.Box, control.MaxBoxes+3)})
	}
	got, last, _ = f.Since(0, 10)
	if last != 6 || len(got) != 4 || got[0].Seq != 3 || got[3].Seq != 6 || got[3].Frame != 15 {
		t.Fatalf("Since(0) = %d samples (first seq %d), last %d", len(got), got[0].Seq, last)
	}
	if len(got[0].Boxes) != control.MaxBoxes {
		t.Errorf("sample kept %d boxes", len(got[0].Boxes))
	}
	got, _, _ = f.Since(4, 1)
	if len(got) != 1 || got[0].Seq != 5 {
		t.Errorf("Since(4, 1) = %+v", got)
	}
	if got, _, _ := f.Since(6, 10); len(got) != 0 {
		t.Errorf("Since(last) = %+v", got)
	}
	if got, _, _ := f.Since(^uint64(0), 10); len(got) != 0 {
		t.Errorf("Since(max) = %+v", got)
	}
	got, _, _ = f.Since(5, 10)
	got[0].Boxes[0].X = 7
	if again, _, _ := f.Since(5, 10); again[0].Boxes[0].X == 7 {
		t.Error("Since shares boxes with the feed")
	}
}

// BenchmarkMotionFeedAdd is the per-frame cost the detector pays; it must
// not allocate.
func BenchmarkMotionFeedAdd(b *testing.B) {
	f := NewMotionFeed(control.MaxMotion)
	s := control.MotionSample{Frame: 1, Time: time.Now(), Motion: true, ScorePercent: 20, Noise: 2, Threshold: 12,
		Boxes: []control.Box{{X: 1, Y: 2, W: 3, H: 4}, {X: 5, Y: 6, W: 7, H: 8}}}
	b.ReportAllocs()
	for b.Loop() {
		s.Frame++
		f.Add(s)
	}
}

func TestMotionFeedAddDoesNotAllocate(t *testing.T) {
	f := NewMotionFeed(8)
	s := control.MotionSample{Boxes: []control.Box{{X: 1, Y: 2, W: 3, H: 4}}}
	if n := testing.AllocsPerRun(100, func() { f.Add(s) }); n != 0 {
		t.Fatalf("Add allocates %.1f times", n)
	}
}
