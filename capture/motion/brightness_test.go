package motion

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/camagent/camagent/capture"
)

// TestBrightness: every result carries the frame's mean luma, for raw and
// MJPEG frames alike (day/night switching follows it).
func TestBrightness(t *testing.T) {
	const w, h = 320, 240
	for _, f := range []capture.Format{
		rawFormat(capture.FormatYUYV, w, h), rawFormat(capture.FormatNV12, w, h),
		rawFormat(capture.FormatGREY, w, h), mjpegFormat(w, h),
	} {
		t.Run(f.Pixel.String(), func(t *testing.T) {
			d, err := New(DefaultConfig(), f, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, level := range []byte{200, 20, 120} {
				fr := frameOf(f, encode(t, f, bytes.Repeat([]byte{level}, w*h)), uint64(i))
				res, err := d.Process(fr)
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(res.Brightness-float64(level)) > 2 {
					t.Errorf("frame of luma %d: brightness %.2f", level, res.Brightness)
				}
			}
		})
	}
}

// TestBlurLanes checks the four-lane blur against the plain 3x3 binomial
// filter with edge replication, on grid widths that do and do not fill the
// last word, with values up to the top of the range.
func TestBlurLanes(t *testing.T) {
	for _, w := range []int{16, 17, 18, 19, 20, 161} {
		h := 12
		d := &Detector{g: grid{gw: w, gh: h}, cur: make([]uint16, w*h),
			packed: make([]uint64, (w+3)/4*h), packedH: make([]uint64, (w+3)/4*h)}
		rng := rand.New(rand.NewPCG(uint64(w), 3))
		for i := range d.cur {
			d.cur[i] = uint16(rng.IntN(4081))
			if rng.IntN(4) == 0 {
				d.cur[i] = 4080
			}
		}
		in := append([]uint16(nil), d.cur...)
		var sum int
		for _, v := range in {
			sum += int(v)
		}
		at := func(x, y int) int { return int(in[min(max(y, 0), h-1)*w+min(max(x, 0), w-1)]) }
		if got, want := d.blur(), float64(sum)/float64(w*h)/16; got != want {
			t.Errorf("width %d: mean %v, want %v", w, got, want)
		}
		for y := range h {
			for x := range w {
				v := 0
				for dy := -1; dy <= 1; dy++ {
					for dx := -1; dx <= 1; dx++ {
						v += at(x+dx, y+dy) * (2 - dx*dx) * (2 - dy*dy)
					}
				}
				if want := uint16((v + 8) >> 4); d.cur[y*w+x] != want {
					t.Fatalf("width %d: cell (%d,%d) = %d, want %d", w, x, y, d.cur[y*w+x], want)
				}
			}
		}
	}
}
