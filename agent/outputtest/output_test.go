package outputtest

import (
	"fmt"
	"regexp"
	"testing"
)

// TestWaitFor: a waiter is woken by the write that makes the text match,
// and goes on from the offset after the match; Wake is told of each write.
func TestWaitFor(t *testing.T) {
	wake := make(chan struct{}, 1)
	o := &Output{Wake: wake}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 5 {
			fmt.Fprintf(o, "line %d\n", i)
		}
	}()
	m, pos := o.WaitFor(t, 0, regexp.MustCompile(`line \d`))
	if m != "line 0" {
		t.Errorf("first match %q", m)
	}
	if m, _ = o.WaitFor(t, pos, regexp.MustCompile(`line 4`)); m != "line 4" {
		t.Errorf("match %q", m)
	}
	<-done
	select {
	case <-wake:
	default:
		t.Error("Wake not told of the writes")
	}
	if got := o.String(); got != "line 0\nline 1\nline 2\nline 3\nline 4\n" {
		t.Errorf("String = %q", got)
	}
}
