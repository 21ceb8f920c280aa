package jpegframe

import (
	"bytes"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/camagent/camagent/capture"
)

func TestEncodeFrame(t *testing.T) {
	grey := capture.Format{Pixel: capture.FormatGREY, Width: 64, Height: 48, Stride: 64}
	var raw bytes.Buffer
	if err := EncodeFrame(&raw, grey, bytes.Repeat([]byte{90}, 64*48), 85); err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(raw.Bytes()))
	if err != nil || img.Bounds().Dx() != 64 || img.Bounds().Dy() != 48 {
		t.Fatalf("raw frame: %v, %v", img, err)
	}
	var mj bytes.Buffer
	mjpeg := capture.Format{Pixel: capture.FormatMJPEG, Width: 64, Height: 48}
	if err := EncodeFrame(&mj, mjpeg, raw.Bytes(), 85); err != nil || !bytes.Equal(mj.Bytes(), raw.Bytes()) {
		t.Errorf("MJPEG frame not passed through: %v", err)
	}
	for name, tc := range map[string]struct {
		f    capture.Format
		data []byte
		want string
	}{
		"MJPEG without header": {mjpeg, []byte("not a jpeg"), "JPEG header"},
		"H.264":                {capture.Format{Pixel: capture.FormatH264, Width: 64, Height: 48}, []byte{0, 0, 0, 1}, "H.264"},
		"short raw":            {grey, make([]byte, 10), ""},
	} {
		var b bytes.Buffer
		if err := EncodeFrame(&b, tc.f, tc.data, 85); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}
