package mqtt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestBackoffFullJitterCapped: the wait before reconnect attempt n is
// spread over the whole of [BackoffMin/2, min(BackoffMax, BackoffMin*2^(n-1))]
// (full jitter: a fleet that failed together does not retry together), the
// ceiling doubles per failure and stops at BackoffMax, and a replaced Jitter
// (the storm's "no jitter" run) gives exactly the ceiling. paho's own
// reconnect (v1.5.1 backoff.go: 1 s doubling to MaxReconnectInterval, no
// randomness, first attempt at once) is switched off in session.
func TestBackoffFullJitterCapped(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 3 * time.Second
	c := &Client{cfg: Config{BackoffMin: lo, BackoffMax: hi}}
	c.rnd = newRand()
	ceil := func(n int) time.Duration {
		d := lo
		for i := 1; i < n && d < hi; i++ {
			d *= 2
		}
		return min(d, hi)
	}
	for _, n := range []int{1, 2, 3, 5, 6, 10, 40, 1000} {
		want := ceil(n)
		if n >= 6 && want != hi {
			t.Fatalf("n=%d: ceiling %v, want the cap %v", n, want, hi)
		}
		floor := lo / 2
		span := want - floor
		var low, high int
		const samples = 2000
		for range samples {
			d := c.backoff(n)
			if d < floor || d > want {
				t.Fatalf("n=%d: wait %v outside [%v, %v]", n, d, floor, want)
			}
			switch {
			case d < floor+span/4:
				low++
			case d > want-span/4:
				high++
			}
		}
		// Uniform: about a quarter of the samples in each outer quarter
		// (the chance of fewer than a tenth by luck is below 1e-40).
		if low < samples/10 || high < samples/10 {
			t.Errorf("n=%d: %d waits in the lowest quarter, %d in the highest, of %d: not spread over the range", n, low, high, samples)
		}
	}

	// Without jitter (the comparison run): exactly the ceiling, every time.
	c.cfg.Jitter = func(d time.Duration) time.Duration { return d }
	for n := 1; n < 12; n++ {
		if d := c.backoff(n); d != ceil(n) {
			t.Errorf("no jitter, n=%d: %v, want %v", n, d, ceil(n))
		}
	}
	// A Jitter out of range is clamped to [0, d].
	c.cfg.Jitter = func(d time.Duration) time.Duration { return 2*d + time.Hour }
	if d := c.jitter(time.Second); d != time.Second {
		t.Errorf("jitter clamped to %v, want 1s", d)
	}
	c.cfg.Jitter = func(time.Duration) time.Duration { return -time.Hour }
	if d := c.jitter(time.Second); d != 0 {
		t.Errorf("jitter clamped to %v, want 0", d)
	}
}

// neverToken is a paho token that never completes: what paho hands back
// for a QoS 1 publish whose connection was lost under a persistent session.
type neverToken struct{ done chan struct{} }

func (t neverToken) Wait() bool                     { <-t.done; return true }
func (t neverToken) WaitTimeout(time.Duration) bool { return false }
func (t neverToken) Done() <-chan struct{}          { return t.done }
func (t neverToken) Error() error                   { return nil }

// TestWaitEndsWhenConnectionLost: a wait on a token (the online state's
// publish, the command subscription) ends when the connection is lost,
// with the loss as its error; before, it waited on the token and ctx only
// and hung for good, leaving the camera "connected" with its outbox unsent.
func TestWaitEndsWhenConnectionLost(t *testing.T) {
	lost := make(chan error, 1)
	lost <- errors.New("EOF")
	err := waitLost(t.Context(), lost, neverToken{done: make(chan struct{})})
	if err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("got %v, want the connection's loss", err)
	}
	// A completed token still wins when nothing is lost.
	done := make(chan struct{})
	close(done)
	if err := waitLost(t.Context(), make(chan error), neverToken{done: done}); err != nil {
		t.Fatalf("completed token: %v", err)
	}
}
