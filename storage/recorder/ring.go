package recorder

import (
	"time"

	"github.com/camagent/camagent/storage/fmp4"
)

// kind is what makes samples muxable into one track: codec, picture size
// and, for H.264, the generation of the parameter sets.
type kind struct {
	codec         fmp4.Codec
	width, height int
	params        uint64
}

// item is one sample held in the ring.
type item struct {
	off, n int
	t      time.Time
	key    bool
	kind   kind
}

// ring is the pre-roll: the most recent encoded samples, in a byte arena and
// a fixed number of slots, oldest first. An H.264 ring always starts on a
// keyframe. The arena starts small and grows (doubling, up to limit) only
// when the samples of the last keep do not fit, so it is as large as the
// pictures need, not as the worst case the plan allows: 5 s of a 640x480
// scene at 4 fps take about 0.8 MB where the plan allows 2.2. It allocates
// only while it grows, so not in steady state.
type ring struct {
	limit int           // arena bytes at most
	keep  time.Duration // age of samples kept, from the newest
	arena []byte
	items []item
	head  int
	n     int
	bytes int
}

func newRing(limit, slots int, keep time.Duration) ring {
	return ring{limit: limit, keep: keep, items: make([]item, slots)}
}

func (r *ring) at(i int) *item { return &r.items[(r.head+i)%len(r.items)] }

func (r *ring) data(it *item) []byte { return r.arena[it.off : it.off+it.n] }

// clear empties the ring (its samples were recorded).
func (r *ring) clear() { r.head, r.n, r.bytes = 0, 0, 0 }

func (r *ring) evict() {
	r.bytes -= r.at(0).n
	r.head = (r.head + 1) % len(r.items)
	r.n--
	if r.n == 0 {
		r.head = 0
	}
}

// align drops samples from the head until it may start a clip.
func (r *ring) align() {
	for r.n > 0 && r.at(0).kind.codec == fmp4.H264 && !r.at(0).key {
		r.evict()
	}
}

// place returns where n bytes fit in the arena after the newest sample.
func (r *ring) place(n int) (int, bool) {
	if r.n == 0 {
		return 0, n <= len(r.arena)
	}
	head := r.at(0).off
	last := r.at(r.n - 1)
	tail := last.off + last.n
	if head < tail { // not wrapped: free space after the tail and before the head
		if len(r.arena)-tail >= n {
			return tail, true
		}
		return 0, head >= n
	}
	return tail, head-tail >= n
}

// push copies a sample into the ring, evicting the oldest as needed, and
// trims the ring to its age. It reports false when the sample cannot be held
// (larger than the arena, or an H.264 frame that cannot start the ring).
func (r *ring) push(data []byte, it item) bool {
	if r.n > 0 && r.at(0).kind != it.kind {
		for r.n > 0 {
			r.evict()
		}
	}
	if r.n == 0 && it.kind.codec == fmp4.H264 && !it.key {
		return false
	}
	if len(data) > r.limit || len(data) == 0 {
		return false
	}
	if r.arena == nil {
		r.arena = make([]byte, min(r.limit, max(ringStart, 4*len(data))))
	}
	for {
		if r.n < len(r.items) {
			if pos, ok := r.place(len(data)); ok {
				it.off, it.n = pos, len(data)
				break
			}
			if r.grow(len(data), it.t) {
				continue
			}
		}
		r.evict()
		r.align()
		if r.n == 0 && it.kind.codec == fmp4.H264 && !it.key {
			return false
		}
	}
	copy(r.arena[it.off:], data)
	*r.at(r.n) = it
	r.n++
	r.bytes += it.n
	r.trim(it.t)
	return true
}

// ringStart is the smallest arena the ring starts with.
const ringStart = 64 << 10

// grow enlarges the arena when a sample of n bytes at t does not fit and
// making room would evict a sample younger than keep (the pre-roll would
// come up short), and the arena is below its limit: to twice its size, or
// enough for n more, at most limit. The samples move to the start of the
// new arena, in order. It reports whether it grew.
func (r *ring) grow(n int, t time.Time) bool {
	if len(r.arena) >= r.limit {
		return false
	}
	if r.n > 0 && !r.at(0).t.After(t.Add(-r.keep)) {
		return false // the oldest is past keep anyway: evicting it loses nothing wanted
	}
	size := min(r.limit, max(2*len(r.arena), r.bytes+2*n))
	arena := make([]byte, size)
	off := 0
	for i := range r.n {
		it := r.at(i)
		copy(arena[off:], r.arena[it.off:it.off+it.n])
		it.off = off
		off += it.n
	}
	r.arena = arena
	return true
}

// trim drops samples older than keep before newest, keeping whole GOPs: the
// head is dropped only when the next sample that may start a clip is itself
// old enough.
func (r *ring) trim(newest time.Time) {
	cut := newest.Add(-r.keep)
	for r.n > 1 {
		next := r.nextStart(1)
		if next < 0 || r.at(next).t.After(cut) {
			return
		}
		for range next {
			r.evict()
		}
	}
}

// nextStart returns the index of the first sample from i on that may start a
// clip, or -1.
func (r *ring) nextStart(i int) int {
	for ; i < r.n; i++ {
		it := r.at(i)
		if it.kind.codec != fmp4.H264 || it.key {
			return i
		}
	}
	return -1
}

// from returns the index of the sample a clip whose pre-roll starts at t
// begins with: the last sample that may start a clip at or before t, or the
// first one.
func (r *ring) from(t time.Time) int {
	best := 0
	for i := 0; i < r.n; i++ {
		it := r.at(i)
		if it.t.After(t) {
			break
		}
		if it.kind.codec != fmp4.H264 || it.key {
			best = i
		}
	}
	return best
}
