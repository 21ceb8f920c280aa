package ingest

import (
	"testing"
	"time"
)

// TestGateHint: the Retry-After of refused requests is their place in the
// queue of requests already told to come back, at the gate's rate (slots /
// service time), at least a second, capped; and it spreads over [1/2, 3/2]
// of that place.
func TestGateHint(t *testing.T) {
	g := newGate(2, 0, time.Second, time.Minute)
	g.service.Store(int64(10 * time.Millisecond)) // 2 slots: one request per 5 ms
	now := time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)
	mid := func(n int64) int64 { return n / 2 } // the middle of the spread
	for k := 1; k <= 1000; k++ {
		d := g.hint(now, mid)
		want := max(time.Duration(k)*5*time.Millisecond, time.Second)
		if d < want-time.Microsecond || d > want+time.Microsecond {
			t.Fatalf("refusal %d: hint %v, want %v (its place in the queue at 200/s)", k, d, want)
		}
	}
	for range 20000 {
		g.hint(now, mid)
	}
	if d := g.hint(now, mid); d != time.Minute {
		t.Errorf("hint with a queue past the cap: %v, want the cap 1m", d)
	}
	// Time passing drains the promised queue: an hour later it is empty.
	if d := g.hint(now.Add(time.Hour), mid); d != time.Second {
		t.Errorf("hint an hour later: %v, want the minimum 1s", d)
	}
	// The spread: the lowest and highest draws.
	g2 := newGate(1, 0, time.Second, time.Hour)
	g2.service.Store(int64(time.Second))
	for range 9 {
		g2.hint(now, mid)
	}
	lo := g2.hint(now, func(int64) int64 { return 0 })                     // place 10 s
	hi := g2.hint(now, func(n int64) int64 { return n - 1 })               // place 11 s
	if lo != 5*time.Second || hi < 16*time.Second || hi > 17*time.Second { // [d/2, 3d/2]
		t.Errorf("spread: lowest %v (want 5s), highest %v (want 16.5s)", lo, hi)
	}
}

// TestLimitsDefaults: zero limits scale with the cores; negative queues
// mean none.
func TestLimitsDefaults(t *testing.T) {
	l := Limits{RequestQueue: -1}.fill(4)
	if l.MaxHandshakes != 4*DefaultHandshakesPerProc || l.MaxRequests != 4*DefaultRequestsPerProc ||
		l.MaxUploads != 4*DefaultUploadsPerProc || l.MaxConns != 4*DefaultConnsPerProc ||
		l.HandshakeQueue != 4*DefaultHandshakeQueuePerProc || l.RequestQueue != 0 {
		t.Errorf("limits for 4 cores: %+v", l)
	}
	if l.RequestWait != DefaultRequestWait || l.HandshakeWait != DefaultHandshakeWait ||
		l.HandshakeTimeout != DefaultHandshakeTimeout || l.MaxRetryHint != DefaultMaxRetryHint {
		t.Errorf("durations: %+v", l)
	}
}
