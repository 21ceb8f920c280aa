package jpegframe

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/camagent/camagent/capture"
)

// Thumbnailer makes small JPEG pictures, reusing its planes from call to
// call. It is not safe for concurrent use.
type Thumbnailer struct {
	// Width is the thumbnail's width (the height keeps the aspect ratio);
	// pictures narrower than that are not enlarged. Default 320.
	Width int
	// Quality is the JPEG quality, 1-100. Default 80.
	Quality int

	full, small Picture
}

func (t *Thumbnailer) defaults() (int, int) {
	w, q := t.Width, t.Quality
	if w <= 0 {
		w = 320
	}
	if q <= 0 || q > 100 {
		q = 80
	}
	return w, q
}

// FromFrame appends to dst the thumbnail of a raw frame (YUYV, NV12, GREY).
func (t *Thumbnailer) FromFrame(dst *bytes.Buffer, f capture.Format, data []byte) error {
	if err := t.full.Load(f, data); err != nil {
		return fmt.Errorf("jpegframe: thumbnail: %w", err)
	}
	return t.fromImage(dst, t.full.Image())
}

// FromJPEG appends to dst the thumbnail of a JPEG picture. Pictures larger
// than MaxDecodePixels are refused with ErrTooLarge before decoding.
func (t *Thumbnailer) FromJPEG(dst *bytes.Buffer, data []byte) error {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("jpegframe: thumbnail: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxDecodePixels {
		return fmt.Errorf("jpegframe: thumbnail: %w: %dx%d", ErrTooLarge, cfg.Width, cfg.Height)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("jpegframe: thumbnail: %w", err)
	}
	return t.fromImage(dst, img)
}

func (t *Thumbnailer) fromImage(dst *bytes.Buffer, img image.Image) error {
	width, quality := t.defaults()
	if err := Scale(&t.small, img, width); err != nil {
		return fmt.Errorf("jpegframe: thumbnail: %w", err)
	}
	return t.small.Encode(dst, quality)
}

// Scale sets dst to img scaled down to width pixels (keeping the aspect
// ratio; never enlarged) with a box filter. img is an *image.YCbCr (any
// subsampling) or an *image.Gray; dst becomes 4:2:0 or gray.
func Scale(dst *Picture, img image.Image, width int) error {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw <= 0 || sh <= 0 {
		return fmt.Errorf("%w: empty picture", ErrFormat)
	}
	dw := min(width, sw)
	dh := max(1, (sh*dw+sw/2)/sw)
	switch m := img.(type) {
	case *image.YCbCr:
		dst.setYCbCr(dw, dh, image.YCbCrSubsampleRatio420)
		y0 := m.YOffset(b.Min.X, b.Min.Y)
		scalePlane(dst.ycc.Y, dw, dh, dw, m.Y[y0:], sw, sh, m.YStride)
		scw, sch := chromaSize(sw, sh, m.SubsampleRatio)
		dcw, dch := chromaSize(dw, dh, image.YCbCrSubsampleRatio420)
		c0 := m.COffset(b.Min.X, b.Min.Y)
		scalePlane(dst.ycc.Cb, dcw, dch, dcw, m.Cb[c0:], scw, sch, m.CStride)
		scalePlane(dst.ycc.Cr, dcw, dch, dcw, m.Cr[c0:], scw, sch, m.CStride)
	case *image.Gray:
		dst.setGray(dw, dh)
		scalePlane(dst.gray.Pix, dw, dh, dw, m.Pix[m.PixOffset(b.Min.X, b.Min.Y):], sw, sh, m.Stride)
	default:
		return fmt.Errorf("%w: %T", ErrFormat, img)
	}
	return nil
}

// scalePlane box-filters the sw x sh plane src into the dw x dh plane dst:
// each output sample is the mean of the input samples its area covers.
func scalePlane(dst []byte, dw, dh, dstride int, src []byte, sw, sh, sstride int) {
	for y := range dh {
		y0, y1 := span(y, dh, sh)
		for x := range dw {
			x0, x1 := span(x, dw, sw)
			sum := 0
			for yy := y0; yy < y1; yy++ {
				row := src[yy*sstride+x0 : yy*sstride+x1]
				for _, v := range row {
					sum += int(v)
				}
			}
			n := (y1 - y0) * (x1 - x0)
			dst[y*dstride+x] = byte((sum + n/2) / n)
		}
	}
}

// span returns the input range [a, b) covered by output index i of n, for an
// input of size m; it is never empty.
func span(i, n, m int) (int, int) {
	a, b := i*m/n, (i+1)*m/n
	if b <= a {
		b = a + 1
	}
	return a, min(b, m)
}
