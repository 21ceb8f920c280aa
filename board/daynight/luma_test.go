package daynight

import (
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
)

// frame builds a frame whose luma is y(x, line) and whose chroma bytes are
// 255 (so a sampler reading chroma would be wrong).
func frame(pix capture.PixelFormat, w, h, stride int, y func(x, line int) byte) []byte {
	bpp := 1
	if pix == capture.FormatYUYV {
		bpp = 2
	}
	if stride == 0 {
		stride = w * bpp
	}
	rows := h
	if pix == capture.FormatNV12 {
		rows = h * 3 / 2
	}
	b := make([]byte, stride*rows)
	for i := range b {
		b[i] = 255
	}
	for line := range h {
		for x := range w {
			b[line*stride+x*bpp] = y(x, line)
		}
	}
	return b
}

func TestMeanLuma(t *testing.T) {
	flat := func(v byte) func(int, int) byte { return func(int, int) byte { return v } }
	half := func(x, _ int) byte { // left half 0, right half 200
		if x < 320 {
			return 0
		}
		return 200
	}
	tests := []struct {
		name   string
		f      capture.Format
		data   []byte
		want   float64
		wantOK bool
	}{
		{"YUYV flat", capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480},
			frame(capture.FormatYUYV, 640, 480, 0, flat(77)), 77, true},
		{"YUYV halves", capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480},
			frame(capture.FormatYUYV, 640, 480, 0, half), 100, true},
		{"YUYV padded stride", capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480, Stride: 1536},
			frame(capture.FormatYUYV, 640, 480, 1536, flat(30)), 30, true},
		{"NV12", capture.Format{Pixel: capture.FormatNV12, Width: 640, Height: 480},
			frame(capture.FormatNV12, 640, 480, 0, half), 100, true},
		{"GREY tiny", capture.Format{Pixel: capture.FormatGREY, Width: 3, Height: 2},
			frame(capture.FormatGREY, 3, 2, 0, flat(9)), 9, true},
		{"MJPEG", capture.Format{Pixel: capture.FormatMJPEG, Width: 640, Height: 480}, make([]byte, 1000), 0, false},
		{"short", capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480}, make([]byte, 640*2*479), 0, false},
		{"bad stride", capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480, Stride: 640},
			make([]byte, 640*2*480), 0, false},
		{"zero size", capture.Format{Pixel: capture.FormatGREY}, nil, 0, false},
	}
	for _, tc := range tests {
		got, ok := MeanLuma(tc.f, tc.data)
		if ok != tc.wantOK || got != tc.want {
			t.Errorf("%s: MeanLuma = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
	// The last line may be short of the stride (a driver's last buffer line).
	f := capture.Format{Pixel: capture.FormatGREY, Width: 16, Height: 16, Stride: 32}
	data := frame(capture.FormatGREY, 16, 16, 32, flat(50))[:32*15+16]
	if got, ok := MeanLuma(f, data); !ok || got != 50 {
		t.Errorf("short last line: %v, %v", got, ok)
	}
}

func TestMeanLumaAllocs(t *testing.T) {
	f := capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480}
	data := frame(capture.FormatYUYV, 640, 480, 0, func(x, y int) byte { return byte(x ^ y) })
	if n := testing.AllocsPerRun(10, func() { MeanLuma(f, data) }); n != 0 {
		t.Errorf("MeanLuma allocates %v times per frame", n)
	}
}

func BenchmarkMeanLuma640x480YUYV(b *testing.B) {
	f := capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480}
	data := frame(capture.FormatYUYV, 640, 480, 0, func(x, y int) byte { return byte(x ^ y) })
	for b.Loop() {
		MeanLuma(f, data)
	}
}

var t0bench = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func BenchmarkObserve(b *testing.B) {
	c, _ := New(Config{})
	now := t0bench
	for i := 0; b.Loop(); i++ {
		now = now.Add(40e6)
		c.Observe(now, float64(i%200))
	}
}
