package recorder

import (
	"testing"
	"time"

	"github.com/camagent/camagent/storage/fmp4"
)

// TestRingGrows: the arena grows to what keep's samples need, not to its
// limit, keeps every sample of the last keep, stops allocating once it is
// large enough, and never passes its limit when the samples would need more.
func TestRingGrows(t *testing.T) {
	const keep, every, size = 6 * time.Second, 250 * time.Millisecond, 10 << 10
	r := newRing(4<<20, 256, keep)
	data := make([]byte, size)
	t0 := time.Unix(1000, 0)
	k := kind{codec: fmp4.MJPEG, width: 640, height: 480}
	i := 0
	push := func() {
		if !r.push(data, item{t: t0.Add(time.Duration(i) * every), kind: k}) {
			t.Fatalf("push %d refused", i)
		}
		i++
	}
	for range 100 {
		push()
	}
	want := int(keep/every) + 1 // samples within keep of the newest, both ends
	if r.n != want {
		t.Errorf("ring holds %d samples, want %d (the last %v at %v)", r.n, want, keep, every)
	}
	if need := want * size; len(r.arena) < need || len(r.arena) > 2*need+ringStart {
		t.Errorf("arena %d bytes for %d bytes of samples (limit %d)", len(r.arena), need, r.limit)
	}
	if a := testing.AllocsPerRun(100, push); a != 0 {
		t.Errorf("%v allocations per push in steady state", a)
	}
	for j := range r.n - 1 { // in order, and the data was moved intact
		if a, b := r.at(j), r.at(j+1); !b.t.After(a.t) {
			t.Fatalf("samples %d and %d out of order", j, j+1)
		}
	}

	// Samples that would need more than the limit: the arena stops at the
	// limit and the oldest go.
	small := newRing(100<<10, 256, keep)
	for j := range 100 {
		if !small.push(data, item{t: t0.Add(time.Duration(j) * every), kind: k}) {
			t.Fatalf("push %d refused", j)
		}
	}
	if len(small.arena) != small.limit || small.n != small.limit/size {
		t.Errorf("limited ring: arena %d (limit %d), %d samples", len(small.arena), small.limit, small.n)
	}
}
