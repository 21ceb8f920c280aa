package recorder

import (
	"testing"
	"time"
)

// TestClipRate feeds frame times at a source rate through due and checks the
// clip rate that comes out: the asked-for rate on average (or the source's,
// when slower), and gaps between kept frames no further apart than one
// source frame interval from each other (even spacing).
func TestClipRate(t *testing.T) {
	for _, tc := range []struct {
		name           string
		src, clip      float64
		want           float64 // kept frames per second over the run
		minGap, maxGap int     // kept frames are this many source frames apart
	}{
		{"25 to 4 (the QEMU camera)", 25, 4, 4, 6, 7},
		{"30 to 10", 30, 10, 10, 3, 3},
		{"25 to 10", 25, 10, 10, 2, 3},
		{"25 to 25", 25, 25, 25, 1, 1},
		{"10 to 25 (source slower)", 10, 25, 10, 1, 1},
		{"60 to 7", 60, 7, 7, 8, 9},
		{"5 to 4", 5, 4, 4, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Recorder{cfg: Config{FPS: tc.clip}}
			const seconds = 60
			n := int(seconds * tc.src)
			interval := time.Duration(float64(time.Second) / tc.src)
			kept, last := 0, -1
			for i := range n {
				if !r.due(base.Add(time.Duration(i)*interval), tc.src) {
					continue
				}
				if last >= 0 {
					if gap := i - last; gap < tc.minGap || gap > tc.maxGap {
						t.Fatalf("frames %d and %d kept: %d apart, want %d..%d", last, i, gap, tc.minGap, tc.maxGap)
					}
				}
				kept, last = kept+1, i
			}
			if got := float64(kept) / seconds; got < tc.want*0.99 || got > tc.want*1.01 {
				t.Errorf("kept %d frames in %d s = %.3f fps, want %.2f", kept, seconds, got, tc.want)
			}
			if got := r.skippedRate.Load(); got != uint64(n-kept) {
				t.Errorf("skipped %d, want %d", got, n-kept)
			}
		})
	}
}

// TestClipRateJitter: capture times that wander by a few milliseconds around
// a 25 fps grid still give 4 fps.
func TestClipRateJitter(t *testing.T) {
	r := &Recorder{cfg: Config{FPS: 4}}
	kept := 0
	for i := range 25 * 60 {
		j := time.Duration((i*7919)%11-5) * time.Millisecond
		if r.due(base.Add(time.Duration(i)*40*time.Millisecond+j), 25) {
			kept++
		}
	}
	if kept < 238 || kept > 242 {
		t.Errorf("kept %d frames in 60 s, want 240 (4 fps)", kept)
	}
}
