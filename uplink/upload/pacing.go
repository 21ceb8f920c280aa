package upload

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"
)

// clock is the uploader's time source: Now and a timer channel, both
// injectable so that tests control time.
type clock struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

func (c clock) fill() clock {
	if c.now == nil {
		c.now = time.Now
	}
	if c.after == nil {
		c.after = time.After
	}
	return c
}

// wait blocks for d or until ctx ends.
func (c clock) wait(ctx context.Context, d time.Duration) error {
	if err := c.waitDone(ctx.Done(), d); err != nil {
		return ctx.Err()
	}
	return nil
}

// errStopped is waitDone's error when done closed.
var errStopped = errors.New("upload: stopped")

// waitDone blocks for d or until done is closed.
func (c clock) waitDone(done <-chan struct{}, d time.Duration) error {
	select {
	case <-done:
		return errStopped
	default:
	}
	if d <= 0 {
		return nil
	}
	select {
	case <-done:
		return errStopped
	case <-c.after(d):
		return nil
	}
}

// bucket is a token bucket: rate tokens per second, at most burst banked.
// Taking more than there is leaves a debt that later takers wait for, so
// the long-run rate holds.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take takes n tokens at now and returns how long the taker must wait
// before going ahead (0 when the tokens were there).
func (b *bucket) take(now time.Time, n float64) time.Duration {
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt.Seconds()*b.rate)
		b.last = now
	}
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}

// empty drops the banked tokens (after an outage the backlog then starts at
// the steady rate, not with a burst).
func (b *bucket) empty(now time.Time) {
	b.tokens, b.last = min(b.tokens, 0), now
}

// Limiter caps a byte rate (the upload bandwidth cap). It is safe for
// concurrent use; all readers that share it share the rate.
type Limiter struct {
	mu    sync.Mutex
	b     *bucket
	clk   clock
	chunk int
}

// MinBandwidth is the lowest rate a Limiter paces to, in bytes per second.
const MinBandwidth = 1 << 10

// NewLimiter returns a limiter of bytesPerSecond (raised to MinBandwidth).
// now and after are the clock (nil: the real one).
func NewLimiter(bytesPerSecond int64, now func() time.Time, after func(time.Duration) <-chan time.Time) *Limiter {
	bytesPerSecond = max(bytesPerSecond, MinBandwidth)
	clk := clock{now: now, after: after}.fill()
	// Bank a quarter second, at least 4 KiB, so small writes are smooth
	// and a long stall does not turn into a burst.
	burst := max(int(bytesPerSecond/4), 4<<10)
	return &Limiter{b: newBucket(float64(bytesPerSecond), burst, clk.now()), clk: clk, chunk: min(burst, 32<<10)}
}

// WaitN waits until n bytes may go.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if err := l.waitN(ctx.Done(), n); err != nil {
		return ctx.Err()
	}
	return nil
}

func (l *Limiter) waitN(done <-chan struct{}, n int) error {
	l.mu.Lock()
	d := l.b.take(l.clk.now(), float64(n))
	l.mu.Unlock()
	return l.clk.waitDone(done, d)
}

// limitedReader paces a request body through a Limiter; done is the
// request context's Done channel.
type limitedReader struct {
	r    io.Reader
	l    *Limiter
	done <-chan struct{}
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if len(p) > r.l.chunk {
		p = p[:r.l.chunk]
	}
	n, err := r.r.Read(p)
	if n > 0 {
		if werr := r.l.waitN(r.done, n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

// Backoff is capped exponential backoff with full jitter: the n-th retry
// (n >= 1) waits a uniformly random time in [0, min(Cap, Base*2^(n-1))].
type Backoff struct {
	Base, Cap time.Duration
}

// Delay returns the wait before retry n, drawing from rnd.
func (b Backoff) Delay(n int, rnd *rand.Rand) time.Duration {
	if n < 1 {
		n = 1
	}
	ceil := b.Cap
	if n-1 < 62 {
		if d := b.Base << (n - 1); d > 0 && d < b.Cap && d>>(n-1) == b.Base {
			ceil = d
		}
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rnd.Int64N(int64(ceil) + 1))
}
