package motion

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// blockMeans returns the mean luma (Q4) of every whole 8x8 block of a decoded
// JPEG, and the number of blocks across.
func blockMeans(t testing.TB, img image.Image) ([]int, int, int) {
	t.Helper()
	var pix []byte
	var stride int
	switch m := img.(type) {
	case *image.Gray:
		pix, stride = m.Pix, m.Stride
	case *image.YCbCr:
		pix, stride = m.Y, m.YStride
	default:
		t.Fatalf("decoded %T", img)
	}
	b := img.Bounds()
	bw, bh := b.Dx()/8, b.Dy()/8
	out := make([]int, bw*bh)
	for by := range bh {
		for bx := range bw {
			sum := 0
			for y := by * 8; y < by*8+8; y++ {
				for x := bx * 8; x < bx*8+8; x++ {
					sum += int(pix[y*stride+x])
				}
			}
			out[by*bw+bx] = sum * 16 / 64
		}
	}
	return out, bw, bh
}

// checkDC decodes data with both decoders and compares the block means.
func checkDC(t *testing.T, data []byte, tolerance int) {
	t.Helper()
	ref, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("image/jpeg: %v", err)
	}
	b := ref.Bounds()
	j, err := newJPEGDC(b.Dx(), b.Dy())
	if err != nil {
		t.Fatal(err)
	}
	if err := j.decode(data); err != nil {
		t.Fatalf("DC decode: %v", err)
	}
	want, bw, bh := blockMeans(t, ref)
	worst := 0
	for by := range bh {
		for bx := range bw {
			d := int(j.out[by*j.bw+bx]) - want[by*bw+bx]
			worst = max(worst, d, -d)
		}
	}
	if worst > tolerance {
		t.Errorf("DC means differ from block means by up to %.2f levels (tolerance %.2f)", float64(worst)/16, float64(tolerance)/16)
	}
}

func testPicture(w, h int, gray bool, seed uint64) image.Image {
	r := rand.New(rand.NewPCG(seed, 1))
	var img interface {
		image.Image
		Set(x, y int, c color.Color)
	}
	if gray {
		img = image.NewGray(image.Rect(0, 0, w, h))
	} else {
		img = image.NewRGBA(image.Rect(0, 0, w, h))
	}
	// Smooth gradients, a few flat shapes and a little noise.
	for y := range h {
		for x := range w {
			v := 40 + 150*x/w + 40*y/h + r.IntN(9)
			img.Set(x, y, color.RGBA{uint8(v), uint8(255 - v), uint8(v / 2), 255})
		}
	}
	for range 4 {
		x0, y0 := r.IntN(w), r.IntN(h)
		c := uint8(r.IntN(256))
		for y := y0; y < min(h, y0+h/5); y++ {
			for x := x0; x < min(w, x0+w/6); x++ {
				img.Set(x, y, color.RGBA{c, c, 255 - c, 255})
			}
		}
	}
	return img
}

func encodeJPEG(t testing.TB, img image.Image, quality int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// stripDHT removes the Huffman table segments, as MJPEG cameras send frames.
// Go's encoder uses the Annex K tables, so the result is still decodable.
func stripDHT(data []byte) []byte {
	out := append([]byte(nil), data[:2]...)
	pos := 2
	for pos+4 <= len(data) && data[pos] == 0xFF {
		m := data[pos+1]
		n := int(data[pos+2])<<8 | int(data[pos+3])
		if m == 0xDA {
			break
		}
		if m != 0xC4 {
			out = append(out, data[pos:pos+2+n]...)
		}
		pos += 2 + n
	}
	return append(out, data[pos:]...)
}

func TestJPEGDCMatchesFullDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		w, h       int
		gray       bool
		quality    int
		stripTable bool
	}{
		{"gray 64x48", 64, 48, true, 90, false},
		{"colour 4:2:0 640x480", 640, 480, false, 75, false},
		{"colour 4:2:0 odd size 100x75", 100, 75, false, 80, false},
		{"colour without DHT", 320, 240, false, 75, true},
		{"gray without DHT", 72, 40, true, 50, true},
		{"low quality", 160, 120, false, 10, false},
		{"high quality", 160, 120, false, 100, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := encodeJPEG(t, testPicture(tt.w, tt.h, tt.gray, uint64(i)), tt.quality)
			if tt.stripTable {
				data = stripDHT(data)
				if bytes.Contains(data, []byte{0xFF, 0xC4}) {
					t.Fatal("DHT not stripped")
				}
				j, _ := newJPEGDC(tt.w, tt.h)
				if err := j.decode(data); err != nil {
					t.Fatalf("DC decode without DHT: %v", err)
				}
				// image/jpeg needs the tables: compare against the original.
				data = encodeJPEG(t, testPicture(tt.w, tt.h, tt.gray, uint64(i)), tt.quality)
				want := append([]uint16(nil), j.out...)
				if err := j.decode(data); err != nil {
					t.Fatal(err)
				}
				if !equalU16(want, j.out) {
					t.Fatal("without DHT the DC image differs")
				}
			}
			checkDC(t, data, 2*16)
		})
	}
}

func equalU16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The fixtures come from libjpeg (OpenCV) and ffmpeg: restart intervals,
// 4:2:2, 4:4:4, grey, progressive. See testdata/jpeg/make.sh.
func TestJPEGDCFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		wantErr error
	}{
		{"rst420.jpg", nil},
		{"grey_rst.jpg", nil},
		{"yuvj422p.jpg", nil},
		{"yuvj444p.jpg", nil},
		{"progressive.jpg", ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "jpeg", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != nil {
				j, _ := newJPEGDC(72, 40)
				if err := j.decode(data); !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				return
			}
			checkDC(t, data, 3*16)
		})
	}
}

func TestJPEGDCBadInput(t *testing.T) {
	good := encodeJPEG(t, testPicture(64, 48, false, 7), 75)
	sos := bytes.Index(good, []byte{0xFF, 0xDA})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"no SOI", good[2:]},
		{"only SOI", good[:2]},
		{"truncated header", good[:sos/2]},
		{"truncated at SOS", good[:sos+2]},
		{"truncated scan", good[:sos+40]},
		{"truncated near end", good[:len(good)-40]},
		{"EOI only", []byte{0xFF, 0xD8, 0xFF, 0xD9}},
		{"wrong size", encodeJPEG(t, testPicture(32, 48, false, 7), 75)},
		{"garbage scan", append(append([]byte(nil), good[:sos+20]...), bytes.Repeat([]byte{0xFF, 0xD3, 0x12}, 300)...)},
	}
	j, _ := newJPEGDC(64, 48)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := j.decode(tt.data); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if err := j.decode(good); err != nil {
		t.Fatalf("good frame after bad ones: %v", err)
	}
}

// FuzzMJPEGLuma feeds arbitrary bytes to the DC path through the detector.
// It must return an error or a grid, never panic or hang.
func FuzzMJPEGLuma(f *testing.F) {
	for i, sz := range [][2]int{{64, 48}, {72, 40}} {
		f.Add(encodeJPEG(f, testPicture(sz[0], sz[1], i == 1, uint64(i)), 75), uint8(i))
	}
	f.Add(stripDHT(encodeJPEG(f, testPicture(64, 48, false, 3), 50)), uint8(0))
	entries, _ := os.ReadDir(filepath.Join("testdata", "jpeg"))
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".jpg" {
			data, err := os.ReadFile(filepath.Join("testdata", "jpeg", e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data, uint8(1))
		}
	}
	sizes := [][2]int{{64, 48}, {72, 40}}
	f.Fuzz(func(t *testing.T, data []byte, size uint8) {
		sz := sizes[int(size)%len(sizes)]
		cfg := DefaultConfig()
		cfg.GridWidth = 16
		d, err := New(cfg, mjpegFormat(sz[0], sz[1]), nil)
		if err != nil {
			t.Fatal(err)
		}
		f := frameOf(mjpegFormat(sz[0], sz[1]), data, 0)
		for range 2 {
			if _, err := d.Process(f); err != nil && !errors.Is(err, errBadFrame) {
				t.Fatalf("error %v does not wrap capture.ErrBadFrame", err)
			}
		}
	})
}
