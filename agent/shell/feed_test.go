package shell

import (
	"slices"
	"testing"
	"time"
)

func TestEventRing(t *testing.T) {
	r := NewEventRing(3)
	if got := r.Recent(10); len(got) != 0 {
		t.Fatalf("empty ring: %v", got)
	}
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	boxes := []Box{{1, 2, 3, 4}}
	r.Add(Event{ID: 1, Start: t0, Boxes: boxes})
	boxes[0].X = 99 // the ring keeps its own copy
	r.Add(Event{ID: 1, Start: t0, End: t0.Add(time.Second), PeakScore: 0.5, Boxes: []Box{{5, 6, 7, 8}}})
	r.Add(Event{ID: 2, Start: t0.Add(time.Minute)})
	r.Add(Event{ID: 3, Start: t0.Add(2 * time.Minute)})
	r.Add(Event{ID: 4, Start: t0.Add(3 * time.Minute), Boxes: make([]Box, MaxBoxes+5)})
	got := r.Recent(10)
	var ids []uint64
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []uint64{2, 3, 4}) {
		t.Fatalf("ids = %v, want [2 3 4]", ids)
	}
	if len(got[2].Boxes) != MaxBoxes {
		t.Errorf("event kept %d boxes, want %d", len(got[2].Boxes), MaxBoxes)
	}
	if last := r.Recent(1); len(last) != 1 || last[0].ID != 4 {
		t.Errorf("Recent(1) = %v", last)
	}
	r2 := NewEventRing(2)
	r2.Add(Event{ID: 7, Boxes: []Box{{X: 1}}})
	r2.Add(Event{ID: 7, End: t0, Boxes: []Box{{X: 2}}})
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
	boxes := []Box{{1, 1, 2, 2}}
	f.Add(MotionSample{Frame: 10, Score: 0.1, Boxes: boxes})
	select {
	case <-wait:
	default:
		t.Fatal("Add did not wake the reader")
	}
	boxes[0].X = 50
	for i := range 5 {
		f.Add(MotionSample{Frame: uint64(11 + i), Boxes: make([]Box, MaxBoxes+3)})
	}
	got, last, _ = f.Since(0, 10)
	if last != 6 || len(got) != 4 || got[0].Seq != 3 || got[3].Seq != 6 || got[3].Frame != 15 {
		t.Fatalf("Since(0) = %d samples (first seq %d), last %d", len(got), got[0].Seq, last)
	}
	if len(got[0].Boxes) != MaxBoxes {
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
	f := NewMotionFeed(MaxMotion)
	s := MotionSample{Frame: 1, Time: time.Now(), Motion: true, Score: 0.2, Noise: 2, Threshold: 12,
		Boxes: []Box{{1, 2, 3, 4}, {5, 6, 7, 8}}}
	b.ReportAllocs()
	for b.Loop() {
		s.Frame++
		f.Add(s)
	}
}

func TestMotionFeedAddDoesNotAllocate(t *testing.T) {
	f := NewMotionFeed(8)
	s := MotionSample{Boxes: []Box{{1, 2, 3, 4}}}
	if n := testing.AllocsPerRun(100, func() { f.Add(s) }); n != 0 {
		t.Fatalf("Add allocates %.1f times", n)
	}
}
