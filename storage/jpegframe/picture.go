package jpegframe

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"

	"github.com/camagent/camagent/capture"
)

// Limits of the pictures this package handles.
const (
	// MaxSide is the largest width or height: what a JPEG can hold.
	MaxSide = 1<<16 - 1
	// MaxDecodePixels bounds the pictures FromJPEG decodes (16 Mpixel).
	MaxDecodePixels = 4096 * 4096
)

// Errors. Test them with errors.Is.
var (
	// ErrFormat: the pixel format is not one of YUYV, NV12 and GREY, or the
	// size is invalid for it.
	ErrFormat = errors.New("jpegframe: unsupported picture format")
	// ErrShortFrame: the frame holds fewer bytes than its format needs.
	ErrShortFrame = errors.New("jpegframe: frame shorter than its format")
	// ErrTooLarge: a JPEG to decode is larger than MaxDecodePixels.
	ErrTooLarge = errors.New("jpegframe: picture too large")
)

// Picture is a raw picture in image planes that are reused: loading a frame
// of the same size and format again allocates nothing. The zero value is
// empty and ready to use. A Picture is not safe for concurrent use.
type Picture struct {
	ycc  image.YCbCr
	gray image.Gray
	isGray,
	loaded bool
	opts jpeg.Options
}

// Bounds returns the picture's size (empty before the first Load).
func (p *Picture) Bounds() image.Rectangle {
	if !p.loaded {
		return image.Rectangle{}
	}
	if p.isGray {
		return p.gray.Rect
	}
	return p.ycc.Rect
}

// Image returns the picture as an image.Image that shares its planes; it is
// valid until the next Load.
func (p *Picture) Image() image.Image {
	if p.isGray {
		return &p.gray
	}
	return &p.ycc
}

// setYCbCr sizes the planes for w x h with the given chroma subsampling,
// reusing the old planes when they are large enough.
func (p *Picture) setYCbCr(w, h int, r image.YCbCrSubsampleRatio) {
	cw, ch := chromaSize(w, h, r)
	p.ycc.Y = grow(p.ycc.Y, w*h)
	p.ycc.Cb = grow(p.ycc.Cb, cw*ch)
	p.ycc.Cr = grow(p.ycc.Cr, cw*ch)
	p.ycc.YStride, p.ycc.CStride = w, cw
	p.ycc.SubsampleRatio = r
	p.ycc.Rect = image.Rect(0, 0, w, h)
	p.isGray, p.loaded = false, true
}

func (p *Picture) setGray(w, h int) {
	p.gray.Pix = grow(p.gray.Pix, w*h)
	p.gray.Stride = w
	p.gray.Rect = image.Rect(0, 0, w, h)
	p.isGray, p.loaded = true, true
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// chromaSize returns the size of a chroma plane of a w x h picture.
func chromaSize(w, h int, r image.YCbCrSubsampleRatio) (int, int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return (w + 1) / 2, h
	case image.YCbCrSubsampleRatio420:
		return (w + 1) / 2, (h + 1) / 2
	case image.YCbCrSubsampleRatio440:
		return w, (h + 1) / 2
	case image.YCbCrSubsampleRatio411:
		return (w + 3) / 4, h
	case image.YCbCrSubsampleRatio410:
		return (w + 3) / 4, (h + 1) / 2
	}
	return w, h
}

// Load converts one raw frame (YUYV, NV12 or GREY) of format f into the
// picture's planes.
func (p *Picture) Load(f capture.Format, data []byte) error {
	w, h := f.Width, f.Height
	if w <= 0 || h <= 0 || w > MaxSide || h > MaxSide {
		return fmt.Errorf("%w: %dx%d", ErrFormat, w, h)
	}
	switch f.Pixel {
	case capture.FormatYUYV:
		if w%2 != 0 {
			return fmt.Errorf("%w: YUYV width %d is odd", ErrFormat, w)
		}
		stride := f.Stride
		if stride == 0 {
			stride = 2 * w
		}
		if stride < 2*w {
			return fmt.Errorf("%w: YUYV stride %d below %d", ErrFormat, stride, 2*w)
		}
		if need := stride*(h-1) + 2*w; len(data) < need {
			return fmt.Errorf("%w: %d bytes, YUYV %dx%d needs %d", ErrShortFrame, len(data), w, h, need)
		}
		p.setYCbCr(w, h, image.YCbCrSubsampleRatio422)
		loadYUYV(&p.ycc, data, stride)
	case capture.FormatNV12:
		if w%2 != 0 || h%2 != 0 {
			return fmt.Errorf("%w: NV12 size %dx%d is odd", ErrFormat, w, h)
		}
		stride := f.Stride
		if stride == 0 {
			stride = w
		}
		if stride < w {
			return fmt.Errorf("%w: NV12 stride %d below %d", ErrFormat, stride, w)
		}
		if need := stride*h + stride*(h/2-1) + w; len(data) < need {
			return fmt.Errorf("%w: %d bytes, NV12 %dx%d needs %d", ErrShortFrame, len(data), w, h, need)
		}
		p.setYCbCr(w, h, image.YCbCrSubsampleRatio420)
		loadNV12(&p.ycc, data, stride)
	case capture.FormatGREY:
		stride := f.Stride
		if stride == 0 {
			stride = w
		}
		if stride < w {
			return fmt.Errorf("%w: GREY stride %d below %d", ErrFormat, stride, w)
		}
		if need := stride*(h-1) + w; len(data) < need {
			return fmt.Errorf("%w: %d bytes, GREY %dx%d needs %d", ErrShortFrame, len(data), w, h, need)
		}
		p.setGray(w, h)
		for y := range h {
			copy(p.gray.Pix[y*w:(y+1)*w], data[y*stride:])
		}
	default:
		return fmt.Errorf("%w: %v", ErrFormat, f.Pixel)
	}
	return nil
}

func loadYUYV(m *image.YCbCr, data []byte, stride int) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	for y := range h {
		row := data[y*stride : y*stride+2*w]
		yr := m.Y[y*m.YStride : y*m.YStride+w]
		cb := m.Cb[y*m.CStride : y*m.CStride+w/2]
		cr := m.Cr[y*m.CStride : y*m.CStride+w/2]
		for x := range cb {
			q := row[4*x : 4*x+4 : 4*x+4]
			yr[2*x] = q[0]
			cb[x] = q[1]
			yr[2*x+1] = q[2]
			cr[x] = q[3]
		}
	}
}

func loadNV12(m *image.YCbCr, data []byte, stride int) {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	for y := range h {
		copy(m.Y[y*m.YStride:y*m.YStride+w], data[y*stride:])
	}
	uv := data[stride*h:]
	for y := range h / 2 {
		row := uv[y*stride : y*stride+w]
		cb := m.Cb[y*m.CStride : y*m.CStride+w/2]
		cr := m.Cr[y*m.CStride : y*m.CStride+w/2]
		for x := range cb {
			q := row[2*x : 2*x+2 : 2*x+2]
			cb[x] = q[0]
			cr[x] = q[1]
		}
	}
}

// flushBuffer gives a bytes.Buffer the Flush method image/jpeg looks for, so
// that it writes straight into the buffer instead of through a new bufio.Writer.
type flushBuffer struct{ *bytes.Buffer }

func (flushBuffer) Flush() error { return nil }

// Encode appends the picture as a baseline JPEG (4:2:0, or grayscale) of the
// given quality (1-100) to dst.
func (p *Picture) Encode(dst *bytes.Buffer, quality int) error {
	if !p.loaded {
		return fmt.Errorf("jpegframe: encode: %w: no picture loaded", ErrFormat)
	}
	p.opts.Quality = quality
	var err error
	if p.isGray {
		err = jpeg.Encode(flushBuffer{dst}, &p.gray, &p.opts)
	} else {
		err = jpeg.Encode(flushBuffer{dst}, &p.ycc, &p.opts)
	}
	if err != nil {
		return fmt.Errorf("jpegframe: encode: %w", err)
	}
	return nil
}
