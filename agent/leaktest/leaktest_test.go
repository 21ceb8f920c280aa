package leaktest

import (
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps what Check reports.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recorder) Helper()               {}
func (r *recorder) Cleanup(f func())      { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(string, ...any) { r.errors = append(r.errors, "leak") }

func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestCheckFindsALeak(t *testing.T) {
	r := &recorder{TB: t}
	Check(r)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-stop
	}()
	r.finish()
	close(stop)
	<-done
	if len(r.errors) != 1 {
		t.Fatalf("a goroutine left running was not reported (%d reports)", len(r.errors))
	}
}

func TestCheckPassesWhenStopped(t *testing.T) {
	r := &recorder{TB: t}
	Check(r)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-stop
	}()
	close(stop)
	<-done
	r.finish()
	if len(r.errors) != 0 {
		t.Fatalf("reported a leak after the goroutine stopped: %v", r.errors)
	}
}

func TestGoroutinesSeesThisOne(t *testing.T) {
	for _, stack := range goroutines() {
		if strings.Contains(stack, "TestGoroutinesSeesThisOne") {
			return
		}
	}
	t.Fatal("goroutines() does not list the test's own goroutine")
}
