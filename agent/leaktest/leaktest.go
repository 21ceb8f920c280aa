package leaktest

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Check fails t when goroutines that did not exist when it was called are
// still running at cleanup. Call it first in the test, so that its cleanup
// runs after the others. Goroutines need a moment to return after the code
// that stopped them, so the cleanup polls, bounded (about 2 s): the one wait
// the tests that use it make, and not a timed assertion (a slow machine only
// makes it wait longer before it passes).
func Check(t testing.TB) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		var extra []string
		for wait := time.Millisecond; wait < 2*time.Second; wait *= 2 {
			extra = extra[:0]
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok && !strings.Contains(stack, "leaktest.Check") {
					extra = append(extra, stack)
				}
			}
			if len(extra) == 0 {
				return
			}
			time.Sleep(wait)
		}
		t.Errorf("%d goroutines leaked:\n%s", len(extra), strings.Join(extra, "\n\n"))
	})
}

// goroutines maps each goroutine's id line ("goroutine 7", without its
// state) to its stack.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := map[string]string{}
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		s := string(g)
		id, _, _ := strings.Cut(s, " [")
		out[id] = s
	}
	return out
}
