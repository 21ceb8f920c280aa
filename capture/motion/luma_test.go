package motion

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/camagent/camagent/capture"
)

// TestLumaGrid checks every luma path (the 64-bit lane sums and the plain
// loop) against a direct area average, over formats, sizes, strides and grid
// widths.
func TestLumaGrid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		w, h, gridWidth, pad int
	}{
		{320, 240, 160, 0},  // scale 2
		{640, 480, 160, 0},  // scale 4
		{1280, 720, 160, 0}, // scale 8
		{1920, 1080, 160, 0},
		{640, 480, 320, 0},
		{640, 480, 128, 0}, // scale 5: plain loop
		{640, 480, 640, 0}, // scale 1
		{642, 482, 160, 32},
		{100, 60, 16, 6}, // scale 6
		{64, 48, 20, 0},  // scale 3
	}
	for _, p := range []capture.PixelFormat{capture.FormatYUYV, capture.FormatNV12, capture.FormatGREY} {
		for i, tt := range tests {
			f := rawFormat(p, tt.w, tt.h)
			f.Stride += tt.pad
			g, err := newGrid(f, tt.gridWidth)
			if err != nil {
				t.Fatal(err)
			}
			l, err := newLuma(f, g)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			y := make([]uint8, tt.w*tt.h)
			for k := range y {
				y[k] = uint8(rng.IntN(256))
			}
			data := encodeStride(t, f, y)
			got := make([]uint16, g.gw*g.gh)
			if err := l.read(data, got); err != nil {
				t.Fatal(err)
			}
			s, step := g.scale, cellRowStep(g.scale) // 4x4 cells: lines 0 and 2
			for gy := range g.gh {
				for gx := range g.gw {
					sum, n := 0, 0
					for yy := gy * s; yy < gy*s+s; yy += step {
						for xx := gx * s; xx < gx*s+s; xx++ {
							sum += int(y[yy*tt.w+xx])
							n++
						}
					}
					want := float64(sum) * 16 / float64(n)
					if d := float64(got[gy*g.gw+gx]) - want; d > 1 || d < -1 {
						t.Fatalf("%s %dx%d grid %d: cell (%d,%d) = %d, want %.1f", p, tt.w, tt.h, tt.gridWidth, gx, gy, got[gy*g.gw+gx], want)
					}
				}
			}
		}
	}
}

func encodeStride(t *testing.T, f capture.Format, y []uint8) []byte {
	t.Helper()
	tight := f
	bpp := 1
	if f.Pixel == capture.FormatYUYV {
		bpp = 2
	}
	tight.Stride = f.Width * bpp
	packed := encode(t, tight, y)
	if f.Stride == tight.Stride {
		return packed
	}
	out := make([]byte, f.FrameSize())
	rows := len(packed) / tight.Stride
	for r := range rows {
		copy(out[r*f.Stride:], packed[r*tight.Stride:(r+1)*tight.Stride])
	}
	return out
}

func TestGridGeometry(t *testing.T) {
	tests := []struct {
		f          capture.Format
		gridWidth  int
		gw, gh, sz int
		err        error
	}{
		{rawFormat(capture.FormatYUYV, 640, 480), 160, 160, 120, 4, nil},
		{rawFormat(capture.FormatYUYV, 1920, 1080), 160, 160, 90, 12, nil},
		{rawFormat(capture.FormatYUYV, 1280, 720), 160, 160, 90, 8, nil},
		{rawFormat(capture.FormatGREY, 800, 600), 160, 160, 120, 5, nil},
		{rawFormat(capture.FormatGREY, 100, 100), 160, 100, 100, 1, nil},
		{mjpegFormat(640, 480), 160, 80, 60, 8, nil},
		{mjpegFormat(1920, 1080), 160, 120, 67, 16, nil},
		{rawFormat(capture.FormatGREY, 3, 3), 160, 0, 0, 0, ErrUnsupported},
		{rawFormat(capture.FormatGREY, 40000, 100), 16, 0, 0, 0, ErrUnsupported},
	}
	for _, tt := range tests {
		g, err := newGrid(tt.f, tt.gridWidth)
		if !errors.Is(err, tt.err) {
			t.Errorf("%v: err %v, want %v", tt.f, err, tt.err)
			continue
		}
		if err == nil && (g.gw != tt.gw || g.gh != tt.gh || g.cell != tt.sz) {
			t.Errorf("%v: grid %dx%d cell %d, want %dx%d cell %d", tt.f, g.gw, g.gh, g.cell, tt.gw, tt.gh, tt.sz)
		}
	}
}
