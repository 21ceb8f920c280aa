package shell

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkGoroutines fails the test if it leaves goroutines behind.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		var extra []string
		for wait := time.Millisecond; wait < 2*time.Second; wait *= 2 {
			extra = extra[:0]
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok && !strings.Contains(stack, "checkGoroutines") {
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

// goroutines maps each goroutine ("goroutine 7") to its stack.
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
	out := make(map[string]string)
	for _, g := range strings.Split(string(buf), "\n\n") {
		id, _, _ := strings.Cut(g, " [") // "goroutine 7", without its state
		out[id] = g
	}
	return out
}
