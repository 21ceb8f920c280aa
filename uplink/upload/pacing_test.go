package upload

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: 30 * time.Second}
	tests := []struct {
		n    int
		ceil time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {5, 16 * time.Second},
		{6, 30 * time.Second}, {40, 30 * time.Second}, {70, 30 * time.Second}, {1 << 30, 30 * time.Second},
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, tc := range tests {
		lo, hi := tc.ceil, time.Duration(0)
		for range 2000 {
			d := b.Delay(tc.n, rnd)
			if d < 0 || d > tc.ceil {
				t.Fatalf("retry %d: %v outside [0, %v]", tc.n, d, tc.ceil)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter: the draws cover the whole range, not just its top.
		if lo > tc.ceil/10 || hi < tc.ceil*9/10 {
			t.Errorf("retry %d: draws in [%v, %v], want spread over [0, %v]", tc.n, lo, hi, tc.ceil)
		}
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newBucket(2, 3, now) // 2 per second, 3 banked
	steps := []struct {
		advance time.Duration
		take    float64
		wait    time.Duration
	}{
		{0, 1, 0}, {0, 1, 0}, {0, 1, 0}, // the burst
		{0, 1, 500 * time.Millisecond}, // in debt by one
		{500 * time.Millisecond, 1, 500 * time.Millisecond},
		{10 * time.Second, 3, 0}, // refilled, but only to the burst
		{0, 1, 500 * time.Millisecond},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := b.take(now, s.take); got != s.wait {
			t.Errorf("step %d: wait %v, want %v", i, got, s.wait)
		}
	}
	b.empty(now)
	if got := b.take(now, 1); got <= 0 {
		t.Errorf("after empty: wait %v, want > 0", got)
	}
}

// TestLimiter: a bandwidth cap makes a transfer last size/rate (less the
// banked burst), measured on a fake clock.
func TestLimiter(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(0, 0)
	var waited time.Duration
	clockNow := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	after := func(d time.Duration) <-chan time.Time {
		mu.Lock()
		defer mu.Unlock()
		now, waited = now.Add(d), waited+d
		ch := make(chan time.Time, 1)
		ch <- now
		return ch
	}
	const rate, total = 40 << 10, 400 << 10 // 40 KiB/s, 400 KiB
	l := NewLimiter(rate, clockNow, after)
	for sent := 0; sent < total; sent += 4096 {
		if err := l.WaitN(context.Background(), 4096); err != nil {
			t.Fatal(err)
		}
	}
	want := time.Duration(float64(total-rate/4) / rate * float64(time.Second))
	if waited < want-50*time.Millisecond || waited > want+150*time.Millisecond {
		t.Errorf("400 KiB at 40 KiB/s waited %v, want about %v", waited, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.WaitN(ctx, 1<<20); err == nil {
		t.Error("WaitN with a cancelled context returned nil")
	}
}
