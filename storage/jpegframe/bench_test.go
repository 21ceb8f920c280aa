package jpegframe

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/camagent/camagent/capture"
)

// BenchmarkEncode converts and JPEG-encodes one 640x480 frame per op (what
// the recorder does per clip frame of a raw camera). allocs/op is what
// image/jpeg allocates inside Encode: the planes and output buffer are reused.
func BenchmarkEncode(b *testing.B) {
	for _, pix := range []capture.PixelFormat{capture.FormatYUYV, capture.FormatNV12, capture.FormatGREY} {
		b.Run(fmt.Sprint(pix), func(b *testing.B) {
			f, data := rawFrame(pix, 640, 480, 0, 100, 150)
			var p Picture
			var out bytes.Buffer
			b.ReportAllocs()
			for b.Loop() {
				out.Reset()
				if err := p.Load(f, data); err != nil {
					b.Fatal(err)
				}
				if err := p.Encode(&out, 75); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(out.Len()), "jpeg-bytes")
		})
	}
}

// BenchmarkLoad is the raw-to-planes conversion alone (done on the intake
// goroutine).
func BenchmarkLoad(b *testing.B) {
	f, data := rawFrame(capture.FormatYUYV, 640, 480, 0, 100, 150)
	var p Picture
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Load(f, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkThumbnail makes a 320-wide thumbnail of a 640x480 YUYV frame.
func BenchmarkThumbnail(b *testing.B) {
	f, data := rawFrame(capture.FormatYUYV, 640, 480, 0, 100, 150)
	var th Thumbnailer
	var out bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		out.Reset()
		if err := th.FromFrame(&out, f, data); err != nil {
			b.Fatal(err)
		}
	}
}
