package y4m

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/camagent/camagent/capture"
)

// ErrFormat is returned by WriteFrame for a frame whose format differs from
// the stream's, and by NewWriter for a format it cannot store.
var ErrFormat = errors.New("y4m: frame format does not match the stream")

// Writer writes frames of one capture.Format as a Y4M stream: GREY as Cmono,
// NV12 as C420jpeg and YUYV as C422. It writes each frame with one Write call
// and allocates nothing per frame. It does not close the underlying writer.
type Writer struct {
	w   io.Writer
	f   capture.Format
	buf []byte // "FRAME\n" followed by the planar frame
}

// NewWriter writes the stream header for frames of format f (its FPS, or 25 when
// 0, becomes the F tag) and returns a Writer for those frames.
func NewWriter(w io.Writer, f capture.Format) (*Writer, error) {
	var cs string
	planar := f.Width * f.Height
	switch f.Pixel {
	case capture.FormatGREY:
		cs = "mono"
	case capture.FormatNV12:
		cs, planar = "420jpeg", planar*3/2
		if f.Width%2 != 0 || f.Height%2 != 0 {
			return nil, fmt.Errorf("y4m: new writer: %w: NV12 needs an even size, have %dx%d", ErrFormat, f.Width, f.Height)
		}
	case capture.FormatYUYV:
		cs, planar = "422", planar*2
		if f.Width%2 != 0 {
			return nil, fmt.Errorf("y4m: new writer: %w: YUYV needs an even width, have %d", ErrFormat, f.Width)
		}
	default:
		return nil, fmt.Errorf("y4m: new writer: %w: pixel format %v has no Y4M colorspace", ErrFormat, f.Pixel)
	}
	if f.Width <= 0 || f.Height <= 0 || f.Width > MaxDimension || f.Height > MaxDimension {
		return nil, fmt.Errorf("y4m: new writer: %w: size %dx%d outside 1..%d", ErrFormat, f.Width, f.Height, MaxDimension)
	}
	if f.FPS < 0 || math.IsNaN(f.FPS) || math.IsInf(f.FPS, 0) {
		return nil, fmt.Errorf("y4m: new writer: %w: frame rate %v", ErrFormat, f.FPS)
	}
	num, den := rational(f.FPS)
	hdr := fmt.Sprintf("%s W%d H%d F%d:%d Ip A1:1 C%s\n", magic, f.Width, f.Height, num, den, cs)
	if _, err := io.WriteString(w, hdr); err != nil {
		return nil, fmt.Errorf("y4m: write header: %w", err)
	}
	buf := make([]byte, len(frameMagic)+1+planar)
	copy(buf, frameMagic+"\n")
	return &Writer{w: w, f: f, buf: buf}, nil
}

// rational turns a frame rate into the F tag's n:d, recognising the NTSC
// rates (30000:1001 and friends).
func rational(fps float64) (int, int) {
	if fps == 0 {
		return 25, 1
	}
	for _, den := range []int{1, 1001, 1000, 1000000} {
		n := math.Round(fps * float64(den))
		if n >= 1 && n <= maxRate && math.Abs(n-fps*float64(den)) < 1e-6*float64(den) {
			g := gcd(int(n), den)
			return int(n) / g, den / g
		}
	}
	n := math.Max(1, math.Min(maxRate, math.Round(fps*1000)))
	g := gcd(int(n), 1000)
	return int(n) / g, 1000 / g
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// WriteFrame appends fr, which must have the stream's pixel format and size; its
// Stride may be larger than the packed line.
func (w *Writer) WriteFrame(fr *capture.Frame) error {
	if fr.Pixel != w.f.Pixel || fr.Width != w.f.Width || fr.Height != w.f.Height {
		return fmt.Errorf("y4m: write frame %d: %w: have %v %dx%d, stream is %v %dx%d",
			fr.Seq, ErrFormat, fr.Pixel, fr.Width, fr.Height, w.f.Pixel, w.f.Width, w.f.Height)
	}
	width, h := w.f.Width, w.f.Height
	bpp := 1
	if w.f.Pixel == capture.FormatYUYV {
		bpp = 2
	}
	stride := fr.Stride
	if stride == 0 {
		stride = width * bpp
	}
	need := stride*(h-1) + width*bpp
	if w.f.Pixel == capture.FormatNV12 {
		need = stride*h + stride*(h/2-1) + width
	}
	if stride < width*bpp || len(fr.Data) < need {
		return fmt.Errorf("y4m: write frame %d: %w: %d bytes with stride %d is short for %v %dx%d",
			fr.Seq, ErrFormat, len(fr.Data), stride, fr.Pixel, width, h)
	}
	out := w.buf[len(frameMagic)+1:]
	n := width * h
	switch w.f.Pixel {
	case capture.FormatGREY:
		copyPlane(out[:n], fr.Data, width, h, stride)
	case capture.FormatNV12:
		copyPlane(out[:n], fr.Data, width, h, stride)
		u, v := out[n:n+n/4], out[n+n/4:n+n/2]
		cw := width / 2
		for y := range h / 2 {
			row := fr.Data[stride*h+y*stride:][:width]
			for x := range cw {
				u[y*cw+x] = row[2*x]
				v[y*cw+x] = row[2*x+1]
			}
		}
	case capture.FormatYUYV:
		yp, u, v := out[:n], out[n:n+n/2], out[n+n/2:2*n]
		cw := width / 2
		for y := range h {
			row := fr.Data[y*stride:][:2*width]
			for x := range cw {
				q := row[4*x : 4*x+4]
				yp[y*width+2*x] = q[0]
				u[y*cw+x] = q[1]
				yp[y*width+2*x+1] = q[2]
				v[y*cw+x] = q[3]
			}
		}
	}
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("y4m: write frame %d: %w", fr.Seq, err)
	}
	return nil
}

// copyPlane copies a w x h plane of stride bytes per line into dst, packed.
func copyPlane(dst, src []byte, w, h, stride int) {
	if stride == w {
		copy(dst[:w*h], src[:w*h])
		return
	}
	for y := range h {
		copy(dst[y*w:(y+1)*w], src[y*stride:y*stride+w])
	}
}
