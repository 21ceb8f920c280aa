package daemon

import (
	"slices"
	"sync"

	"github.com/camagent/camagent/agent/control"
)

// EventRing keeps the most recent motion events for the shell's `events`
// command. The agent calls Add when an event starts and again when it ends
// (an Add with the ID of a kept event replaces it). Safe for concurrent use.
type EventRing struct {
	mu   sync.Mutex
	buf  []control.Event
	next int // slot of the next new event
	n    int
}

// NewEventRing returns a ring of size events (1 to MaxEvents).
func NewEventRing(size int) *EventRing {
	return &EventRing{buf: make([]control.Event, min(max(size, 1), control.MaxEvents))}
}

// Add records e (a copy, with at most MaxBoxes boxes).
func (r *EventRing) Add(e control.Event) {
	e.Boxes = slices.Clone(e.Boxes[:min(len(e.Boxes), control.MaxBoxes)])
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.n {
		j := (r.next - 1 - i + 2*len(r.buf)) % len(r.buf)
		if r.buf[j].ID == e.ID {
			r.buf[j] = e
			return
		}
	}
	r.buf[r.next] = e
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

// Recent returns up to n of the newest events, oldest first.
func (r *EventRing) Recent(n int) []control.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(max(n, 0), r.n)
	out := make([]control.Event, 0, n)
	for i := n; i > 0; i-- {
		e := r.buf[(r.next-i+len(r.buf))%len(r.buf)]
		e.Boxes = slices.Clone(e.Boxes)
		out = append(out, e)
	}
	return out
}

// MotionFeed keeps the motion detector's last per-frame results for the
// shell's `motion` command, to tune detection in the field. The detector's
// goroutine calls Add for every frame; Add copies into preallocated slots and
// allocates nothing. Safe for concurrent use.
type MotionFeed struct {
	mu    sync.Mutex
	slots []motionSlot
	seq   uint64        // Seq of the newest sample
	wake  chan struct{} // made by a reader that waits, closed by Add
}

type motionSlot struct {
	s     control.MotionSample
	boxes [control.MaxBoxes]control.Box
}

// NewMotionFeed returns a feed that keeps the last size samples (1 to
// MaxMotion).
func NewMotionFeed(size int) *MotionFeed {
	return &MotionFeed{slots: make([]motionSlot, min(max(size, 1), control.MaxMotion))}
}

// Add records one frame's result; s.Seq is ignored (the feed numbers
// samples) and at most MaxBoxes boxes are kept.
func (f *MotionFeed) Add(s control.MotionSample) {
	f.mu.Lock()
	f.seq++
	slot := &f.slots[(f.seq-1)%uint64(len(f.slots))]
	n := copy(slot.boxes[:], s.Boxes)
	slot.s = s
	slot.s.Seq = f.seq
	slot.s.Boxes = slot.boxes[:n:n]
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
	f.mu.Unlock()
}

// Since returns up to n samples newer than seq, oldest first (samples
// already overwritten are skipped), the Seq of the newest sample, and a
// channel that is closed by the next Add.
func (f *MotionFeed) Since(seq uint64, n int) (out []control.MotionSample, last uint64, wait <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	size := uint64(len(f.slots))
	first := uint64(1)
	if f.seq > size {
		first = f.seq - size + 1
	}
	if seq < f.seq {
		first = max(first, seq+1)
	} else {
		first = f.seq + 1
	}
	for s := first; s <= f.seq && len(out) < n; s++ {
		m := f.slots[(s-1)%size].s
		m.Boxes = slices.Clone(m.Boxes)
		out = append(out, m)
	}
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	return out, f.seq, f.wake
}
