package y4m

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"time"

	"github.com/camagent/camagent/capture"
)

// ReaderOptions tunes a Reader. The zero value reads the file once with a pool
// of 4 frames, timed from the zero time.Time.
type ReaderOptions struct {
	// Loop replays the stream from its first frame when it ends, forever (until
	// a pass yields no good frame). The reader given to NewReader must then be an
	// io.ReadSeeker.
	Loop bool
	// Pool is how many frames the caller may hold at once (default 4). Each
	// costs one frame of memory.
	Pool int
	// Start is the capture time of frame 0; frame n is stamped Start + n/fps.
	Start time.Time
	// MaxWidth and MaxHeight lower the dimension limit; 0 means MaxDimension,
	// and larger values are capped at MaxDimension.
	MaxWidth, MaxHeight int
}

// Reader replays a Y4M stream as a capture.Source. It is meant for one
// goroutine: Next and Close must not run at the same time.
type Reader struct {
	src     io.Reader
	br      *bufio.Reader
	hdr     Header
	format  capture.Format
	pool    *capture.Pool
	scratch []byte // chroma planes (4:2:0) or the whole planar frame (4:2:2)
	start   time.Time
	loop    bool

	seeker    io.Seeker
	dataStart int64 // offset of the first FRAME marker, for Loop

	seq        uint64 // index of the next frame in the stream, across loops
	goodInPass int
	resync     bool // the last marker was bad: scan for the next one
	eof        bool
	skipped    uint64
	closed     bool
}

// NewReader parses the stream header of r and prepares the frame pool. It
// reads only the header; frames are read by Next.
func NewReader(r io.Reader, opt ReaderOptions) (*Reader, error) {
	maxW, maxH := limit(opt.MaxWidth), limit(opt.MaxHeight)
	if opt.Pool <= 0 {
		opt.Pool = 4
	}
	rd := &Reader{src: r, start: opt.Start, loop: opt.Loop}
	var startPos int64
	if opt.Loop {
		s, ok := r.(io.Seeker)
		if !ok {
			return nil, errors.New("y4m: open: Loop needs an io.ReadSeeker")
		}
		pos, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("y4m: open: %w", err)
		}
		rd.seeker, startPos = s, pos
	}
	rd.br = bufio.NewReaderSize(r, 64<<10)

	var line [MaxLine]byte
	n, err := readLine(rd.br, line[:])
	if err != nil {
		if errors.Is(err, errLongLine) {
			return nil, fmt.Errorf("y4m: open: %w: header line longer than %d bytes", ErrBadHeader, MaxLine)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("y4m: open: %w: stream ends inside the header", ErrBadHeader)
		}
		return nil, fmt.Errorf("y4m: open: %w", err)
	}
	rd.dataStart = startPos + int64(n)
	hdr, err := parseHeader(string(line[:n-1]), maxW, maxH)
	if err != nil {
		return nil, fmt.Errorf("y4m: open: %w", err)
	}
	pix, err := hdr.pixel()
	if err != nil {
		return nil, fmt.Errorf("y4m: open: %w", err)
	}
	rd.hdr = hdr
	rd.format = capture.Format{Pixel: pix, Width: hdr.Width, Height: hdr.Height, FPS: hdr.FPS()}
	switch pix {
	case capture.FormatYUYV:
		rd.format.Stride = 2 * hdr.Width
		rd.scratch = make([]byte, hdr.planarSize())
	case capture.FormatNV12:
		rd.format.Stride = hdr.Width
		rd.scratch = make([]byte, hdr.Width*hdr.Height/2)
	default:
		rd.format.Stride = hdr.Width
	}
	rd.pool = capture.NewPool(opt.Pool, rd.format.FrameSize())
	return rd, nil
}

func limit(v int) int {
	if v <= 0 || v > MaxDimension {
		return MaxDimension
	}
	return v
}

// Header returns the parsed stream header.
func (r *Reader) Header() Header { return r.hdr }

// Format returns the format of the frames Next returns.
func (r *Reader) Format() capture.Format { return r.format }

// Skipped returns how many bad frames Next has reported so far.
func (r *Reader) Skipped() uint64 { return r.skipped }

// Next returns the next frame, which the caller releases. It returns io.EOF at
// the end of the stream (never, with Loop, unless a whole pass was bad), an
// error wrapping capture.ErrBadFrame for a malformed frame (call Next again), an
// error wrapping capture.ErrPoolEmpty when the caller holds every pooled frame,
// and any other error when reading cannot go on. A read in progress is not
// interrupted by ctx.
func (r *Reader) Next(ctx context.Context) (*capture.Frame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.closed {
		return nil, fmt.Errorf("y4m: next: %w", os.ErrClosed)
	}
	if r.eof {
		if !r.loop || r.goodInPass == 0 {
			return nil, io.EOF
		}
		if err := r.rewind(); err != nil {
			return nil, err
		}
	}
	f, err := r.pool.Get()
	if err != nil {
		return nil, fmt.Errorf("y4m: next: %w", err)
	}
	if err := r.readFrame(f); err != nil {
		f.Release()
		if errors.Is(err, io.EOF) {
			r.eof = true
			if r.loop && r.goodInPass > 0 {
				return r.Next(ctx)
			}
			return nil, io.EOF
		}
		return nil, err
	}
	f.Format = r.format
	f.Seq = r.seq
	f.Time = r.start.Add(frameOffset(r.seq, r.hdr.FPSNum, r.hdr.FPSDen))
	r.seq++
	r.goodInPass++
	return f, nil
}

func (r *Reader) rewind() error {
	if _, err := r.seeker.Seek(r.dataStart, io.SeekStart); err != nil {
		return fmt.Errorf("y4m: rewind: %w", err)
	}
	r.br.Reset(r.src)
	r.eof, r.resync, r.goodInPass = false, false, 0
	return nil
}

// bad records a skipped frame and returns its error.
func (r *Reader) bad(format string, args ...any) error {
	r.skipped++
	r.seq++
	return fmt.Errorf("y4m: frame %d: %w: %s", r.seq-1, capture.ErrBadFrame, fmt.Sprintf(format, args...))
}

// readFrame reads one FRAME marker and its pixels into f. It returns io.EOF at
// a clean end of the stream.
func (r *Reader) readFrame(f *capture.Frame) error {
	if err := r.readMarker(); err != nil {
		return err
	}
	w, h := r.hdr.Width, r.hdr.Height
	n := w * h
	buf := f.Buffer()
	var err error
	switch r.format.Pixel {
	case capture.FormatGREY:
		_, err = io.ReadFull(r.br, buf[:n])
	case capture.FormatNV12:
		if _, err = io.ReadFull(r.br, buf[:n]); err == nil {
			_, err = io.ReadFull(r.br, r.scratch)
			interleaveUV(buf[n:n+n/2], r.scratch[:n/4], r.scratch[n/4:])
		}
	case capture.FormatYUYV:
		if _, err = io.ReadFull(r.br, r.scratch); err == nil {
			packYUYV(buf[:2*n], r.scratch[:n], r.scratch[n:n+n/2], r.scratch[n+n/2:], w, h)
		}
	}
	switch {
	case err == nil:
		f.SetLen(r.format.FrameSize())
		return nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		r.eof = true
		return r.bad("stream ends inside the frame (truncated file)")
	default:
		return fmt.Errorf("y4m: read frame %d: %w", r.seq, err)
	}
}

// readMarker consumes "FRAME[ params]\n". After a bad marker it first scans for
// the next one.
func (r *Reader) readMarker() error {
	if r.resync {
		if err := r.scanMarker(); err != nil {
			return err
		}
		r.resync = false
		return r.skipParams(len(frameMagic))
	}
	for i := 0; i < len(frameMagic); i++ {
		c, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if i == 0 {
					return io.EOF
				}
				r.eof = true
				return r.bad("stream ends inside the FRAME marker")
			}
			return fmt.Errorf("y4m: read frame %d: %w", r.seq, err)
		}
		if c != frameMagic[i] {
			if c == frameMagic[0] {
				_ = r.br.UnreadByte() // it may start the next marker
			}
			r.resync = true
			return r.bad("bad FRAME marker")
		}
	}
	return r.skipParams(len(frameMagic))
}

// skipParams consumes the rest of a FRAME line, which has used bytes so far.
func (r *Reader) skipParams(used int) error {
	for n := used; ; n++ {
		c, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				r.eof = true
				return r.bad("stream ends inside the FRAME line")
			}
			return fmt.Errorf("y4m: read frame %d: %w", r.seq, err)
		}
		switch {
		case c == '\n':
			return nil
		case n == used && c != ' ':
			r.resync = true
			return r.bad("bad FRAME marker")
		case n+1 >= MaxLine:
			r.resync = true
			return r.bad("FRAME line longer than %d bytes", MaxLine)
		}
	}
}

// scanMarker skips bytes up to and including the next "FRAME" followed by a
// space or newline (which it leaves unread), looking at most two frames ahead.
func (r *Reader) scanMarker() error {
	budget := 2*(r.hdr.planarSize()+MaxLine) + 1
	matched := 0
	for ; budget > 0; budget-- {
		c, err := r.br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return fmt.Errorf("y4m: resync: %w", err)
		}
		switch {
		case matched == len(frameMagic):
			if c == ' ' || c == '\n' {
				_ = r.br.UnreadByte()
				return nil
			}
			matched = 0
			if c == frameMagic[0] {
				matched = 1
			}
		case c == frameMagic[matched]:
			matched++
		case c == frameMagic[0]:
			matched = 1
		default:
			matched = 0
		}
	}
	return fmt.Errorf("y4m: frame %d: %w", r.seq, ErrLostSync)
}

// Close closes the underlying reader when it is an io.Closer. Frames the
// caller still holds stay valid.
func (r *Reader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if c, ok := r.src.(io.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("y4m: close: %w", err)
		}
	}
	return nil
}

var errLongLine = errors.New("line too long")

// readLine reads up to and including '\n' into buf and returns its length.
func readLine(br *bufio.Reader, buf []byte) (int, error) {
	for n := 0; n < len(buf); n++ {
		c, err := br.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && n > 0 {
				return n, io.ErrUnexpectedEOF
			}
			return n, err
		}
		buf[n] = c
		if c == '\n' {
			return n + 1, nil
		}
	}
	return len(buf), errLongLine
}

// frameOffset returns seq*den/num seconds, saturating far beyond any real file.
func frameOffset(seq uint64, num, den int) time.Duration {
	hi, lo := bits.Mul64(seq, uint64(den)*uint64(time.Second))
	if hi >= uint64(num) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(num))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(q)
}

// interleaveUV writes the planes u and v as NV12's interleaved UV plane.
func interleaveUV(uv, u, v []byte) {
	uv = uv[:2*len(u)]
	v = v[:len(u)]
	for i, c := range u {
		uv[2*i] = c
		uv[2*i+1] = v[i]
	}
}

// packYUYV writes planar 4:2:2 as YUYV.
func packYUYV(dst, y, u, v []byte, w, h int) {
	dst = dst[:2*w*h]
	y = y[:w*h]
	u = u[:w*h/2]
	v = v[:w*h/2]
	for i := range u {
		d := dst[4*i : 4*i+4]
		d[0] = y[2*i]
		d[1] = u[i]
		d[2] = y[2*i+1]
		d[3] = v[i]
	}
}
