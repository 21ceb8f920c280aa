package boardtest

import (
	"context"
	"sync"
	"time"

	"github.com/camagent/camagent/board/led"
)

// LED records the patterns set on it. Err, when set, is returned by
// SetPattern (the pattern is still recorded, as a failed attempt).
type LED struct {
	mu       sync.Mutex
	patterns []led.Pattern
	err      error
}

// SetPattern records p.
func (l *LED) SetPattern(p led.Pattern) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.patterns = append(l.patterns, p)
	return l.err
}

// Fail makes the following SetPattern calls return err (nil: succeed again).
func (l *LED) Fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = err
}

// Patterns returns the patterns set so far, in order.
func (l *LED) Patterns() []led.Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]led.Pattern(nil), l.patterns...)
}

// Last returns the last pattern set, and false if none was.
func (l *LED) Last() (led.Pattern, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.patterns) == 0 {
		return 0, false
	}
	return l.patterns[len(l.patterns)-1], true
}

// Pin is an output pin that records the values driven on it.
type Pin struct {
	mu     sync.Mutex
	values []bool
	err    error
}

// Out records on; it returns the error set by Fail (and then the pin's level
// does not change).
func (p *Pin) Out(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.values = append(p.values, on)
	return nil
}

// Fail makes the following Out calls return err (nil: succeed again).
func (p *Pin) Fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// Values returns the values driven so far, in order.
func (p *Pin) Values() []bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]bool(nil), p.values...)
}

// Level returns the value last driven, and false if none was.
func (p *Pin) Level() (on, set bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.values) == 0 {
		return false, false
	}
	return p.values[len(p.values)-1], true
}

// Watchdog records pets and the close. Err, set by Fail, is returned by Pet.
type Watchdog struct {
	// Interval is how often Run pets (one second when zero).
	Interval time.Duration

	mu     sync.Mutex
	pets   int
	closed bool
	err    error
	petted chan struct{}
}

// NewWatchdog returns a fake watchdog whose Petted channel receives (without
// blocking the caller; capacity 64) one value per successful Pet.
func NewWatchdog() *Watchdog { return &Watchdog{petted: make(chan struct{}, 64)} }

// Pet counts one keepalive.
func (w *Watchdog) Pet() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.pets++
	if w.petted != nil {
		select {
		case w.petted <- struct{}{}:
		default:
		}
	}
	return nil
}

// Run pets every Interval while healthy (nil: always) reports true, like
// watchdog.Watchdog.Run, until ctx ends. Use it under testing/synctest.
func (w *Watchdog) Run(ctx context.Context, healthy func() bool) error {
	iv := w.Interval
	if iv <= 0 {
		iv = time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if healthy == nil || healthy() {
			w.Pet()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Close records a clean (magic) close.
func (w *Watchdog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return nil
}

// Fail makes the following Pet calls return err (nil: succeed again).
func (w *Watchdog) Fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
}

// Pets returns how many times Pet succeeded.
func (w *Watchdog) Pets() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pets
}

// Closed reports whether Close was called.
func (w *Watchdog) Closed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// Petted receives one value per successful Pet (nil for a zero Watchdog).
func (w *Watchdog) Petted() <-chan struct{} { return w.petted }
