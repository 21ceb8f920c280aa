package jpegframe

import (
	"bytes"
	"image/jpeg"
	"testing"

	"github.com/camagent/camagent/capture"
)

// FuzzThumbnail feeds the thumbnailer corrupt camera frames: raw frames whose
// size, stride and bytes disagree, and damaged JPEG pictures (an MJPEG camera,
// or the last fragment of a clip recovered after a power cut). Each is
// refused with an error or makes a JPEG at most 320 pixels wide; none panics.
func FuzzThumbnail(f *testing.F) {
	for _, pix := range []capture.PixelFormat{capture.FormatYUYV, capture.FormatNV12, capture.FormatGREY} {
		fm, data := rawFrame(pix, 16, 8, 2, 100, 150)
		f.Add(uint8(0), uint32(pix), uint16(fm.Width), uint16(fm.Height), uint16(fm.Stride), data)
	}
	// A real JPEG, and its header alone.
	fm, data := rawFrame(capture.FormatYUYV, 64, 32, 0, 128, 128)
	var p Picture
	if err := p.Load(fm, data); err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.Encode(&buf, 70); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(1), uint32(0), uint16(0), uint16(0), uint16(0), buf.Bytes())
	f.Add(uint8(1), uint32(0), uint16(0), uint16(0), uint16(0), buf.Bytes()[:len(buf.Bytes())/2])
	f.Add(uint8(1), uint32(0), uint16(0), uint16(0), uint16(0), []byte{0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0x20, 0, 0x20, 0, 1, 1, 0x11, 0, 0xff, 0xda, 0, 2})
	f.Fuzz(func(t *testing.T, kind uint8, pix uint32, w, h, stride uint16, data []byte) {
		th := Thumbnailer{}
		var out bytes.Buffer
		var err error
		if kind%2 == 0 {
			pixels := []capture.PixelFormat{capture.FormatYUYV, capture.FormatNV12, capture.FormatGREY, capture.FormatMJPEG}
			f := capture.Format{Pixel: pixels[int(pix)%len(pixels)], Width: int(w), Height: int(h), Stride: int(stride)}
			err = th.FromFrame(&out, f, data)
		} else {
			err = th.FromJPEG(&out, data)
		}
		if err != nil {
			if out.Len() != 0 {
				t.Errorf("an error (%v) with %d bytes of thumbnail written", err, out.Len())
			}
			return
		}
		cfg, derr := jpeg.DecodeConfig(bytes.NewReader(out.Bytes()))
		if derr != nil || cfg.Width <= 0 || cfg.Width > 320 {
			t.Errorf("thumbnail %dx%d does not decode as a JPEG of at most 320 pixels: %v", cfg.Width, cfg.Height, derr)
		}
	})
}
