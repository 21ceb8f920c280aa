package y4m

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/camagent/camagent/capture"
)

// Decoder limits.
const (
	// MaxDimension is the largest width or height a Reader accepts.
	MaxDimension = 8192
	// MaxLine is the longest stream header line and FRAME line, in bytes,
	// newline included.
	MaxLine = 1024
	// maxRate bounds the numerator and denominator of the F and A tags.
	maxRate = 1<<31 - 1
)

const (
	magic      = "YUV4MPEG2"
	frameMagic = "FRAME"
)

// Errors a caller can tell apart with errors.Is.
var (
	// ErrBadHeader marks a stream header that is not YUV4MPEG2 or breaks a limit.
	ErrBadHeader = errors.New("y4m: bad stream header")
	// ErrUnsupported marks a well-formed stream in a layout this package does not
	// convert (a colorspace other than 4:2:0, 4:2:2 and mono, odd chroma sizes).
	ErrUnsupported = errors.New("y4m: unsupported stream")
	// ErrLostSync is returned when, after a bad frame, no FRAME marker follows
	// within two frames' worth of bytes: the file is not worth reading further.
	ErrLostSync = errors.New("y4m: lost frame sync")
)

// Header is a parsed stream header.
type Header struct {
	Width, Height int
	// FPSNum/FPSDen is the F tag (25:1 when absent).
	FPSNum, FPSDen int
	// Interlace is the I tag's letter (p, t, b, m or ?); 0 when absent. Frames
	// are passed on as they are, fields interleaved, whatever it says.
	Interlace byte
	// AspectNum/AspectDen is the A tag (pixel aspect ratio); 0:0 when unknown.
	AspectNum, AspectDen int
	// Colorspace is the C tag without its letter ("420jpeg", "422", "mono");
	// "420" when absent.
	Colorspace string
}

// FPS returns the frame rate as a float.
func (h Header) FPS() float64 { return float64(h.FPSNum) / float64(h.FPSDen) }

// pixel returns the capture format frames of this header are converted to.
func (h Header) pixel() (capture.PixelFormat, error) {
	switch h.Colorspace {
	case "420", "420jpeg", "420paldv", "420mpeg2":
		if h.Width%2 != 0 || h.Height%2 != 0 {
			return 0, fmt.Errorf("%w: 4:2:0 needs an even width and height, have %dx%d", ErrUnsupported, h.Width, h.Height)
		}
		return capture.FormatNV12, nil
	case "422":
		if h.Width%2 != 0 {
			return 0, fmt.Errorf("%w: 4:2:2 needs an even width, have %d", ErrUnsupported, h.Width)
		}
		return capture.FormatYUYV, nil
	case "mono":
		return capture.FormatGREY, nil
	}
	return 0, fmt.Errorf("%w: colorspace tag %q (supported: C420jpeg, C420paldv, C420mpeg2, C420, C422, Cmono)",
		ErrUnsupported, "C"+h.Colorspace)
}

// planarSize returns the bytes of one frame as stored in the file.
func (h Header) planarSize() int {
	n := h.Width * h.Height
	switch h.Colorspace {
	case "422":
		return 2 * n
	case "mono":
		return n
	default:
		return n * 3 / 2
	}
}

// parseHeader parses one header line, without its newline, against the given
// dimension limits.
func parseHeader(line string, maxW, maxH int) (Header, error) {
	h := Header{FPSNum: 25, FPSDen: 1, Colorspace: "420"}
	rest, ok := strings.CutPrefix(line, magic)
	if !ok || (rest != "" && rest[0] != ' ') {
		return h, fmt.Errorf("%w: does not start with %q", ErrBadHeader, magic)
	}
	var haveW, haveH bool
	for _, tok := range strings.Split(rest, " ") {
		if tok == "" {
			continue
		}
		tag, val := tok[0], tok[1:]
		var err error
		switch tag {
		case 'W':
			h.Width, err = parseDim(val, maxW)
			haveW = true
		case 'H':
			h.Height, err = parseDim(val, maxH)
			haveH = true
		case 'F':
			h.FPSNum, h.FPSDen, err = parseRatio(val, false)
		case 'A':
			h.AspectNum, h.AspectDen, err = parseRatio(val, true)
		case 'I':
			if len(val) != 1 || !strings.Contains("ptbm?", val) {
				err = errors.New("not one of p, t, b, m, ?")
			} else {
				h.Interlace = val[0]
			}
		case 'C':
			h.Colorspace = val
		default:
			// X (extensions) and tags from later versions carry nothing we need.
		}
		if err != nil {
			return h, fmt.Errorf("%w: tag %q: %v", ErrBadHeader, truncate(tok), err)
		}
	}
	if !haveW || !haveH {
		return h, fmt.Errorf("%w: missing W or H tag", ErrBadHeader)
	}
	return h, nil
}

func parseDim(s string, limit int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, errors.New("not a positive integer")
	}
	if n > limit {
		return 0, fmt.Errorf("%d exceeds the limit of %d", n, limit)
	}
	return n, nil
}

// parseRatio parses "n:d"; zero allows the 0:0 "unknown" value.
func parseRatio(s string, zero bool) (int, int, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, errors.New("not n:d")
	}
	n, err1 := strconv.Atoi(a)
	d, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 0 || d < 0 || n > maxRate || d > maxRate {
		return 0, 0, errors.New("not n:d with n, d in 0..2^31-1")
	}
	if zero && n == 0 && d == 0 {
		return 0, 0, nil
	}
	if n == 0 || d == 0 {
		return 0, 0, errors.New("zero in ratio")
	}
	return n, d, nil
}

// truncate keeps error messages about hostile input short.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
