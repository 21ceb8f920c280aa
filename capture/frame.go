package capture

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// PixelFormat is a V4L2 fourcc.
type PixelFormat uint32

func fourcc(a, b, c, d byte) PixelFormat {
	return PixelFormat(uint32(a) | uint32(b)<<8 | uint32(c)<<16 | uint32(d)<<24)
}

// The pixel formats the agent understands, by their V4L2 fourcc.
var (
	FormatYUYV  = fourcc('Y', 'U', 'Y', 'V')
	FormatNV12  = fourcc('N', 'V', '1', '2')
	FormatGREY  = fourcc('G', 'R', 'E', 'Y')
	FormatMJPEG = fourcc('M', 'J', 'P', 'G')
	FormatH264  = fourcc('H', '2', '6', '4')
)

var formatNames = map[string]PixelFormat{
	"YUYV": FormatYUYV, "NV12": FormatNV12, "GREY": FormatGREY,
	"MJPEG": FormatMJPEG, "H264": FormatH264,
}

// FormatNames lists the names ParseFormat accepts, in preference order.
func FormatNames() []string { return []string{"H264", "MJPEG", "YUYV", "NV12", "GREY"} }

// ParseFormat returns the format named by one of FormatNames.
func ParseFormat(name string) (PixelFormat, error) {
	if f, ok := formatNames[name]; ok {
		return f, nil
	}
	return 0, fmt.Errorf("capture: unknown pixel format %q (allowed: %v)", name, FormatNames())
}

// String returns the format's name, or its fourcc text when it has none.
func (f PixelFormat) String() string {
	for n, v := range formatNames {
		if v == f {
			return n
		}
	}
	b := []byte{byte(f), byte(f >> 8), byte(f >> 16), byte(f >> 24)}
	return string(b)
}

// Compressed reports whether frames of this format are a bitstream rather than
// raw pixels.
func (f PixelFormat) Compressed() bool { return f == FormatMJPEG || f == FormatH264 }

// Format describes the frames a source produces, as the driver really chose it.
type Format struct {
	Pixel  PixelFormat
	Width  int
	Height int
	Stride int // bytes per line of the first plane; 0 for compressed formats
	// FPS is the negotiated frame rate (0 if unknown).
	FPS float64
}

// FrameSize returns the largest number of bytes one frame of f can hold.
func (f Format) FrameSize() int {
	switch f.Pixel {
	case FormatYUYV:
		return f.stride(2) * f.Height
	case FormatNV12:
		return f.stride(1) * f.Height * 3 / 2
	case FormatGREY:
		return f.stride(1) * f.Height
	default:
		// A compressed frame is bounded by the raw YUYV size of the picture.
		return f.Width * f.Height * 2
	}
}

func (f Format) stride(bpp int) int {
	if f.Stride > 0 {
		return f.Stride
	}
	return f.Width * bpp
}

func (f Format) String() string {
	return fmt.Sprintf("%s %dx%d stride %d @ %.4g fps", f.Pixel, f.Width, f.Height, f.Stride, f.FPS)
}

// Frame is one captured picture. Its Data lives in a pooled buffer: every holder
// calls Release exactly once when done, and Retain before handing it on.
type Frame struct {
	Format
	Seq  uint64    // sequence number from the source, starting at 0
	Time time.Time // capture time
	Data []byte    // the frame's bytes (len is the payload size)

	buf  []byte // the whole pooled buffer
	refs atomic.Int32
	pool *Pool
}

// Retain adds a holder of f.
func (f *Frame) Retain() { f.refs.Add(1) }

// Pool returns the pool f goes back to when its last holder releases it
// (nil for a frame made outside a pool), so that whoever plays a source
// can see or trim the pool behind its frames.
func (f *Frame) Pool() *Pool { return f.pool }

// Release drops a holder of f; the last one returns the buffer to its pool.
func (f *Frame) Release() {
	switch n := f.refs.Add(-1); {
	case n == 0:
		if f.pool != nil {
			f.pool.put(f)
		}
	case n < 0:
		panic("capture: Frame released more often than retained")
	}
}

// ErrPoolEmpty is returned by Pool.Get when every buffer is held.
var ErrPoolEmpty = errors.New("capture: frame pool empty")

// ErrFrameTooBig is returned by Frame.Fill when the payload exceeds the buffer.
var ErrFrameTooBig = errors.New("capture: frame larger than its pool buffer")

// Pool holds a fixed number of frame buffers of one size; it never grows.
// A buffer is made when its frame is first handed out, not by NewPool, and
// free frames are reused last in, first out: the frame just returned is the
// next one handed out, so buffers beyond what the pipeline holds at once
// (the spare the budget keeps for a stalled consumer, the shell's snapshot)
// are never made. Made but unwritten, they would stay out of the resident
// set yet count in the Go runtime's total, which the memory limit is
// measured against: in the QEMU camera that put the runtime 2 MB over its
// limit with nothing to collect, and it collected back to back (674 times
// in 30 s).
type Pool struct {
	mu   sync.Mutex
	free []*Frame // a stack: the top is the most recently returned
	n    int
	size int
	made atomic.Int32 // buffers made and not dropped by Trim
}

// NewPool makes a pool of n frames whose buffers, of size bytes each, are
// made on first use.
func NewPool(n, size int) *Pool {
	p := &Pool{free: make([]*Frame, 0, n), n: n, size: size}
	for range n {
		p.free = append(p.free, &Frame{pool: p})
	}
	return p
}

// BufferSize returns the size of each buffer.
func (p *Pool) BufferSize() int { return p.size }

// Size returns how many buffers the pool holds in all.
func (p *Pool) Size() int { return p.n }

// Available returns how many buffers are free now.
func (p *Pool) Available() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.free)
}

// Get returns a free frame with one holder, or ErrPoolEmpty without waiting.
func (p *Pool) Get() (*Frame, error) {
	p.mu.Lock()
	if len(p.free) == 0 {
		p.mu.Unlock()
		return nil, ErrPoolEmpty
	}
	f := p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.mu.Unlock()
	if f.buf == nil { // first use, or dropped by Trim
		f.buf = make([]byte, p.size)
		p.made.Add(1)
	}
	f.refs.Store(1)
	f.Data = f.buf[:0]
	return f, nil
}

// Trim drops the buffers of the frames that are free now; Get makes a
// frame's buffer again when it next hands that frame out. A passing burst
// of demand (a live viewer's queue) writes to buffers below the ones the
// pipeline cycles through, and those stay resident after it ends: after
// Trim and a collection that returns freed memory to the kernel
// (debug.FreeOSMemory), only the buffers the pipeline uses again are. It
// returns how many buffers it dropped.
func (p *Pool) Trim() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, f := range p.free {
		if f.buf != nil {
			f.buf = nil
			n++
		}
	}
	p.made.Add(int32(-n))
	return n
}

// Made returns how many buffers the pool holds now, free or handed out:
// those made on first use and not dropped by Trim since.
func (p *Pool) Made() int { return int(p.made.Load()) }

func (p *Pool) put(f *Frame) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) == p.n {
		panic("capture: frame returned to a full pool")
	}
	p.free = append(p.free, f)
}

// Fill copies src into the frame's buffer and sets Data to it.
func (f *Frame) Fill(src []byte) error {
	if len(src) > len(f.buf) {
		return fmt.Errorf("%w: %d > %d bytes", ErrFrameTooBig, len(src), len(f.buf))
	}
	f.Data = f.buf[:copy(f.buf, src)]
	return nil
}

// Buffer returns the frame's whole buffer, for sources that write into it
// directly; call SetLen afterwards.
func (f *Frame) Buffer() []byte { return f.buf }

// SetLen sets Data to the first n bytes of the buffer.
func (f *Frame) SetLen(n int) { f.Data = f.buf[:n] }
