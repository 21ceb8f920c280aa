package recorder

import (
	"testing"

	"github.com/camagent/camagent/capture"
)

// TestHalveYUYV: the half copy of the peak frame holds, at each of its
// pixels, the full frame's pixel at twice the coordinates (luma) and the
// chroma of that pixel's macropixel.
func TestHalveYUYV(t *testing.T) {
	for _, stride := range []int{0, 640*2 + 64} {
		f := capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480, Stride: stride}
		st := f.FrameSize() / f.Height
		src := make([]byte, f.FrameSize())
		for y := range f.Height {
			for x := range f.Width {
				src[y*st+2*x] = byte(x + 3*y) // luma
				// chroma: U at even pixels' second byte, V at odd pixels'
				src[y*st+2*x+1] = byte(x/2*7 + y + x%2*100)
			}
		}
		if !halvable(f, len(src), 320) {
			t.Fatalf("stride %d: 640x480 YUYV not halvable for a 320 thumbnail", stride)
		}
		h := capture.Format{Pixel: capture.FormatYUYV, Width: 320, Height: 240}
		dst := make([]byte, h.FrameSize())
		halveYUYV(dst, src, f)
		for y := range h.Height {
			for x := range h.Width {
				sy, sx := 2*y, 2*x
				if got, want := dst[y*640+2*x], src[sy*st+2*sx]; got != want {
					t.Fatalf("stride %d: luma at %d,%d = %d, want %d", stride, x, y, got, want)
				}
				// The half macropixel's chroma: U and V of the first full
				// macropixel of the two it is made of.
				mp := sy*st + x/2*8
				want := src[mp+1]
				if x%2 == 1 {
					want = src[mp+3]
				}
				if got := dst[y*640+2*x+1]; got != want {
					t.Fatalf("stride %d: chroma at %d,%d = %d, want %d", stride, x, y, got, want)
				}
			}
		}
	}
	for _, c := range []struct {
		f     capture.Format
		thumb int
	}{
		{capture.Format{Pixel: capture.FormatYUYV, Width: 320, Height: 240}, 320},  // half would be narrower than the thumbnail
		{capture.Format{Pixel: capture.FormatYUYV, Width: 642, Height: 480}, 320},  // half width odd
		{capture.Format{Pixel: capture.FormatNV12, Width: 640, Height: 480}, 320},  // not YUYV
		{capture.Format{Pixel: capture.FormatYUYV, Width: 1280, Height: 720}, 640}, // halvable
	} {
		want := c.f.Width == 1280
		if got := halvable(c.f, c.f.FrameSize(), c.thumb); got != want {
			t.Errorf("halvable(%v, thumbnail %d) = %v, want %v", c.f, c.thumb, got, want)
		}
	}
}
