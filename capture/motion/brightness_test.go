package motion

import (
	"bytes"
	"math"
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
