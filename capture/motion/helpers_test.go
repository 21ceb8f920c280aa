package motion

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
)

var errBadFrame = capture.ErrBadFrame

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const frameDur = 40 * time.Millisecond

func rawFormat(p capture.PixelFormat, w, h int) capture.Format {
	f := capture.Format{Pixel: p, Width: w, Height: h, FPS: 25}
	switch p {
	case capture.FormatYUYV:
		f.Stride = 2 * w
	case capture.FormatNV12, capture.FormatGREY:
		f.Stride = w
	}
	return f
}

func mjpegFormat(w, h int) capture.Format {
	return capture.Format{Pixel: capture.FormatMJPEG, Width: w, Height: h, FPS: 25}
}

func frameOf(f capture.Format, data []byte, seq uint64) *capture.Frame {
	return &capture.Frame{Format: f, Seq: seq, Time: t0.Add(time.Duration(seq) * frameDur), Data: data}
}

// rect is a moving object of the test scenes.
type rect struct {
	x, y, w, h int
	luma       uint8
	lift       int // when set, the object is the background brightened by lift
}

// scene renders simple test pictures: a textured background, a global gain
// and offset, objects, and sensor noise.
type scene struct {
	w, h  int
	bg    []uint8
	rng   *rand.Rand
	noise int    // uniform noise amplitude (+-)
	table []int8 // noise samples, read from a random offset per frame
}

func newScene(w, h int, seed uint64, noise int) *scene {
	s := &scene{w: w, h: h, bg: make([]uint8, w*h), rng: rand.New(rand.NewPCG(seed, 2)), noise: noise}
	// A blocky texture over a gradient, like a wall, a floor and furniture.
	for y := range h {
		for x := range w {
			v := 60 + 80*x/w + 40*y/h
			if (x/(w/10)+y/(h/8))%3 == 0 {
				v += 40
			}
			s.bg[y*w+x] = uint8(v)
		}
	}
	return s
}

// render writes the luma plane: (bg*gain + offset) with objects and noise.
func (s *scene) render(dst []uint8, gain float64, offset int, objs ...rect) {
	s.renderAt(dst, 0, 0, gain, offset, objs...)
}

// renderAt is render with the background moved by (dx, dy) pixels, as by a
// camera shake.
func (s *scene) renderAt(dst []uint8, dx, dy int, gain float64, offset int, objs ...rect) {
	g := int(gain * 256)
	for y := range s.h {
		sy := min(max(y-dy, 0), s.h-1)
		for x := range s.w {
			sx := min(max(x-dx, 0), s.w-1)
			dst[y*s.w+x] = clamp8(int(s.bg[sy*s.w+sx])*g/256 + offset)
		}
	}
	for _, o := range objs {
		for y := max(o.y, 0); y < min(o.y+o.h, s.h); y++ {
			for x := max(o.x, 0); x < min(o.x+o.w, s.w); x++ {
				if o.lift != 0 {
					dst[y*s.w+x] = clamp8(int(dst[y*s.w+x]) + o.lift)
				} else {
					dst[y*s.w+x] = clamp8(int(o.luma)*g/256 + offset)
				}
			}
		}
	}
	if s.noise > 0 {
		if s.table == nil {
			s.table = make([]int8, len(dst)+4096)
			for i := range s.table {
				s.table[i] = int8(s.rng.IntN(2*s.noise+1) - s.noise)
			}
		}
		n := s.table[s.rng.IntN(4096):]
		for i := range dst {
			dst[i] = clamp8(int(dst[i]) + int(n[i]))
		}
	}
}

// bands multiplies the rows of a picture by 1 + amp*sin(...), the bands of
// rolling mains flicker, drifting with phase.
func bands(y []uint8, w, h int, amp, phase float64) {
	for r := range h {
		g := 1 + amp*math.Sin(2*math.Pi*(phase+float64(r)*2.7/float64(h)))
		for x := range w {
			y[r*w+x] = clamp8(int(math.Round(float64(y[r*w+x]) * g)))
		}
	}
}

func clamp8(v int) uint8 { return uint8(min(max(v, 0), 255)) }

// encode packs a luma plane into a frame of format f (chroma set to 128).
func encode(t testing.TB, f capture.Format, y []uint8) []byte {
	t.Helper()
	w, h := f.Width, f.Height
	switch f.Pixel {
	case capture.FormatGREY:
		out := make([]byte, f.Stride*h)
		for r := range h {
			copy(out[r*f.Stride:], y[r*w:(r+1)*w])
		}
		return out
	case capture.FormatNV12:
		out := bytes.Repeat([]byte{128}, f.Stride*h*3/2)
		for r := range h {
			copy(out[r*f.Stride:], y[r*w:(r+1)*w])
		}
		return out
	case capture.FormatYUYV:
		out := bytes.Repeat([]byte{128}, f.Stride*h)
		for r := range h {
			for x := range w {
				out[r*f.Stride+2*x] = y[r*w+x]
			}
		}
		return out
	case capture.FormatMJPEG:
		img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
		for r := range h {
			copy(img.Y[r*img.YStride:], y[r*w:(r+1)*w])
		}
		for i := range img.Cb {
			img.Cb[i], img.Cr[i] = 128, 128
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	t.Fatalf("encode %s", f.Pixel)
	return nil
}
