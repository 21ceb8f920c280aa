package jpegframe

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"testing"

	"github.com/camagent/camagent/capture"
)

// rawFrame makes a w x h frame of format pix with a stride of pad extra bytes
// per line: luma is a horizontal ramp, chroma constant (u, v).
func rawFrame(pix capture.PixelFormat, w, h, pad int, u, v byte) (capture.Format, []byte) {
	f := capture.Format{Pixel: pix, Width: w, Height: h}
	luma := func(x, y int) byte { return byte(16 + (x*200)/w) }
	var data []byte
	switch pix {
	case capture.FormatYUYV:
		f.Stride = 2*w + pad
		data = make([]byte, f.Stride*h)
		for y := range h {
			for x := 0; x < w; x += 2 {
				o := y*f.Stride + 2*x
				data[o], data[o+1], data[o+2], data[o+3] = luma(x, y), u, luma(x+1, y), v
			}
		}
	case capture.FormatNV12:
		f.Stride = w + pad
		data = make([]byte, f.Stride*h*3/2)
		for y := range h {
			for x := range w {
				data[y*f.Stride+x] = luma(x, y)
			}
		}
		for y := range h / 2 {
			for x := 0; x < w; x += 2 {
				o := f.Stride*h + y*f.Stride + x
				data[o], data[o+1] = u, v
			}
		}
	case capture.FormatGREY:
		f.Stride = w + pad
		data = make([]byte, f.Stride*h)
		for y := range h {
			for x := range w {
				data[y*f.Stride+x] = luma(x, y)
			}
		}
	}
	return f, data
}

func TestLoadEncode(t *testing.T) {
	for _, tc := range []struct {
		name string
		pix  capture.PixelFormat
		pad  int
		gray bool
	}{
		{"YUYV", capture.FormatYUYV, 0, false},
		{"YUYV padded stride", capture.FormatYUYV, 16, false},
		{"NV12", capture.FormatNV12, 0, false},
		{"NV12 padded stride", capture.FormatNV12, 8, false},
		{"GREY", capture.FormatGREY, 0, true},
		{"GREY padded stride", capture.FormatGREY, 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const w, h = 64, 48
			f, data := rawFrame(tc.pix, w, h, tc.pad, 90, 170)
			var p Picture
			if err := p.Load(f, data); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := p.Encode(&out, 90); err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatalf("decode our JPEG: %v", err)
			}
			if img.Bounds() != image.Rect(0, 0, w, h) {
				t.Fatalf("bounds %v", img.Bounds())
			}
			switch m := img.(type) {
			case *image.Gray:
				if !tc.gray {
					t.Fatal("colour frame came back gray")
				}
				checkNear(t, "luma", m.Pix[m.PixOffset(40, 20)], byte(16+40*200/w))
			case *image.YCbCr:
				if tc.gray {
					t.Fatal("gray frame came back in colour")
				}
				checkNear(t, "luma", m.Y[m.YOffset(40, 20)], byte(16+40*200/w))
				checkNear(t, "cb", m.Cb[m.COffset(40, 20)], 90)
				checkNear(t, "cr", m.Cr[m.COffset(40, 20)], 170)
			default:
				t.Fatalf("decoded %T", img)
			}
		})
	}
}

func checkNear(t *testing.T, what string, got, want byte) {
	t.Helper()
	if d := int(got) - int(want); d < -4 || d > 4 {
		t.Errorf("%s = %d, want %d ± 4", what, got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	good, data := rawFrame(capture.FormatYUYV, 16, 8, 0, 128, 128)
	for _, tc := range []struct {
		name string
		f    capture.Format
		data []byte
		want error
	}{
		{"short YUYV", good, data[:len(data)-1], ErrShortFrame},
		{"odd YUYV width", capture.Format{Pixel: capture.FormatYUYV, Width: 15, Height: 8}, data, ErrFormat},
		{"odd NV12", capture.Format{Pixel: capture.FormatNV12, Width: 16, Height: 7}, data, ErrFormat},
		{"short NV12", capture.Format{Pixel: capture.FormatNV12, Width: 16, Height: 8}, data[:16*12-1], ErrShortFrame},
		{"short GREY", capture.Format{Pixel: capture.FormatGREY, Width: 16, Height: 8, Stride: 20}, data[:20*7+15], ErrShortFrame},
		{"stride too small", capture.Format{Pixel: capture.FormatGREY, Width: 16, Height: 8, Stride: 8}, data, ErrFormat},
		{"MJPEG is not raw", capture.Format{Pixel: capture.FormatMJPEG, Width: 16, Height: 8}, data, ErrFormat},
		{"empty", capture.Format{Pixel: capture.FormatGREY}, data, ErrFormat},
		{"huge", capture.Format{Pixel: capture.FormatGREY, Width: 1 << 16, Height: 1}, data, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Picture
			if err := p.Load(tc.f, tc.data); !errors.Is(err, tc.want) {
				t.Errorf("Load = %v, want %v", err, tc.want)
			}
		})
	}
	var p Picture
	if err := p.Encode(new(bytes.Buffer), 75); !errors.Is(err, ErrFormat) {
		t.Errorf("Encode of an empty picture = %v", err)
	}
}

func TestScaleBoxFilter(t *testing.T) {
	// A 4x2 gray picture scaled to 2x1 averages 2x2 blocks.
	src := &image.Gray{Pix: []byte{0, 10, 100, 200, 20, 30, 0, 100}, Stride: 4, Rect: image.Rect(0, 0, 4, 2)}
	var dst Picture
	if err := Scale(&dst, src, 2); err != nil {
		t.Fatal(err)
	}
	g := dst.Image().(*image.Gray)
	if g.Rect != image.Rect(0, 0, 2, 1) || g.Pix[0] != 15 || g.Pix[1] != 100 {
		t.Errorf("scaled to %v %v, want 2x1 [15 100]", g.Rect, g.Pix[:2])
	}
	// Never enlarged.
	if err := Scale(&dst, src, 100); err != nil || dst.Bounds().Dx() != 4 {
		t.Errorf("Scale up: %v, %v", err, dst.Bounds())
	}
}

func TestThumbnail(t *testing.T) {
	for _, pix := range []capture.PixelFormat{capture.FormatYUYV, capture.FormatNV12, capture.FormatGREY} {
		t.Run(pix.String(), func(t *testing.T) {
			f, data := rawFrame(pix, 640, 480, 0, 100, 150)
			var th Thumbnailer
			var out bytes.Buffer
			if err := th.FromFrame(&out, f, data); err != nil {
				t.Fatal(err)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(out.Bytes()))
			if err != nil || cfg.Width != 320 || cfg.Height != 240 {
				t.Fatalf("thumbnail %dx%d, %v; want 320x240", cfg.Width, cfg.Height, err)
			}
			// The same again from the full-size JPEG.
			var p Picture
			p.Load(f, data)
			var full bytes.Buffer
			p.Encode(&full, 75)
			out.Reset()
			if err := th.FromJPEG(&out, full.Bytes()); err != nil {
				t.Fatal(err)
			}
			img, err := jpeg.Decode(bytes.NewReader(out.Bytes()))
			if err != nil || img.Bounds().Dx() != 320 || img.Bounds().Dy() != 240 {
				t.Fatalf("thumbnail from JPEG: %v %v", img.Bounds(), err)
			}
		})
	}
}

func TestThumbnailRejects(t *testing.T) {
	var th Thumbnailer
	if err := th.FromJPEG(new(bytes.Buffer), []byte{0xff, 0xd8, 0xff, 0xd9}); err == nil {
		t.Error("FromJPEG accepted a picture without a frame header")
	}
	// A JPEG header claiming 8192x8192 is refused before decoding.
	hdr := []byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0x20, 0, 0x20, 0, 1, 1, 0x11, 0, 0xff, 0xda, 0, 2}
	if err := th.FromJPEG(new(bytes.Buffer), hdr); !errors.Is(err, ErrTooLarge) {
		t.Errorf("FromJPEG of 8192x8192 = %v, want ErrTooLarge", err)
	}
}
