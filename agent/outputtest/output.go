package outputtest

import (
	"bytes"
	"regexp"
	"sync"
	"testing"
)

// Output collects writes. The zero value is ready; it is safe for concurrent
// use.
type Output struct {
	// Wake, when not nil, is sent to after each write, without blocking
	// (give it room for one): a test waiting on several things at once
	// (log lines, frames) selects on it.
	Wake chan struct{}

	mu     sync.Mutex
	b      bytes.Buffer
	change chan struct{} // closed at the next write
}

// Write appends p and wakes the waiters.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.b.Write(p)
	if o.change != nil {
		close(o.change)
		o.change = nil
	}
	o.mu.Unlock()
	if o.Wake != nil {
		select {
		case o.Wake <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// snapshot returns the text and a channel closed at the next write.
func (o *Output) snapshot() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.change == nil {
		o.change = make(chan struct{})
	}
	return o.b.String(), o.change
}

// WaitFor waits until the text after offset from matches re, and returns the
// first match and the offset after it. When the test's context ends first
// (the test timed out), it fails the test with the text so far.
func (o *Output) WaitFor(t testing.TB, from int, re *regexp.Regexp) (string, int) {
	t.Helper()
	for {
		s, ch := o.snapshot()
		if loc := re.FindStringIndex(s[from:]); loc != nil {
			return s[from+loc[0] : from+loc[1]], from + loc[1]
		}
		select {
		case <-ch:
		case <-t.Context().Done():
			t.Fatalf("output never showed %s:\n%s", re, s)
		}
	}
}
