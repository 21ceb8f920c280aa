package daynight

import (
	"testing"
	"time"
)

var t0bench = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func BenchmarkObserve(b *testing.B) {
	c, _ := New(Config{})
	now := t0bench
	for i := 0; b.Loop(); i++ {
		now = now.Add(40e6)
		c.Observe(now, float64(i%200))
	}
}
