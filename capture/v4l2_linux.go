package capture

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/blackjack/webcam"
	"golang.org/x/sys/unix"
)

// V4L2 is a Source over a V4L2 capture device.
type V4L2 struct {
	cam    *webcam.Webcam
	format Format
	pool   *Pool
	now    func() time.Time
	seq    uint64
}

// OpenV4L2 opens the device, negotiates the first preferred format the device
// offers at the asked size and rate, reads back what the driver really chose,
// applies the named controls and starts streaming.
func OpenV4L2(cfg V4L2Config) (*V4L2, error) {
	cam, err := webcam.Open(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("capture: open %s: %w", cfg.Device, err)
	}
	s := &V4L2{cam: cam, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.setup(cfg); err != nil {
		cam.Close()
		return nil, err
	}
	return s, nil
}

func (s *V4L2) setup(cfg V4L2Config) error {
	offered := map[PixelFormat]bool{}
	for f := range s.cam.GetSupportedFormats() {
		offered[PixelFormat(f)] = true
	}
	pix, err := pickFormat(cfg.Formats, offered)
	if err != nil {
		return fmt.Errorf("capture: %s: %w", cfg.Device, err)
	}
	if _, _, _, err := s.cam.SetImageFormat(webcam.PixelFormat(pix), uint32(cfg.Width), uint32(cfg.Height)); err != nil {
		return fmt.Errorf("capture: %s: set format %s %dx%d: %w", cfg.Device, pix, cfg.Width, cfg.Height, err)
	}
	// blackjack/webcam returns the size asked for; ask the driver what it chose.
	f, err := readFormat(cfg.Device)
	if err != nil {
		return err
	}
	if cfg.FPS > 0 {
		if err := s.cam.SetFramerate(float32(cfg.FPS)); err != nil {
			return fmt.Errorf("capture: %s: set frame rate %g: %w", cfg.Device, cfg.FPS, err)
		}
	}
	if fps, err := s.cam.GetFramerate(); err == nil {
		f.FPS = float64(fps)
	}
	s.format = f
	if err := s.applyControls(cfg); err != nil {
		return err
	}
	bufs := cfg.Buffers
	if bufs <= 0 {
		bufs = 4
	}
	if err := s.cam.SetBufferCount(uint32(bufs)); err != nil {
		return fmt.Errorf("capture: %s: buffers: %w", cfg.Device, err)
	}
	poolN := cfg.Pool
	if poolN <= 0 {
		poolN = 8
	}
	s.pool = NewPool(poolN, f.FrameSize())
	if err := s.cam.StartStreaming(); err != nil {
		return fmt.Errorf("capture: %s: start streaming: %w", cfg.Device, err)
	}
	return nil
}

func (s *V4L2) applyControls(cfg V4L2Config) error {
	if len(cfg.Controls) == 0 {
		return nil
	}
	byName := map[string]webcam.ControlID{}
	for id, c := range s.cam.GetControls() {
		byName[c.Name] = id
	}
	for name, v := range cfg.Controls {
		id, ok := byName[name]
		if !ok {
			if cfg.Warn != nil {
				cfg.Warn("capture: device has no such control", "control", name, "device", cfg.Device)
			}
			continue
		}
		if err := s.cam.SetControl(id, v); err != nil {
			return fmt.Errorf("capture: %s: set control %q=%d: %w", cfg.Device, name, v, err)
		}
	}
	return nil
}

// SetControl sets a named control while streaming.
func (s *V4L2) SetControl(name string, v int32) error {
	for id, c := range s.cam.GetControls() {
		if c.Name == name {
			return s.cam.SetControl(id, v)
		}
	}
	return fmt.Errorf("capture: no control named %q", name)
}

// Format returns the format the driver chose.
func (s *V4L2) Format() Format { return s.format }

// Next waits for the next frame and copies it into a pooled buffer. When every
// pooled buffer is held by slow consumers the frame is dropped and Next
// returns ErrPoolEmpty; the caller counts it and calls Next again.
func (s *V4L2) Next(ctx context.Context) (*Frame, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := s.cam.WaitForFrame(1)
		var timeout *webcam.Timeout
		switch {
		case errors.As(err, &timeout), errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, fmt.Errorf("capture: wait for frame: %w", err)
		}
		data, index, err := s.cam.GetFrame()
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("capture: dequeue: %w", err)
		}
		t := s.now()
		seq := s.seq
		s.seq++
		f, err := s.fill(data)
		if rerr := s.cam.ReleaseFrame(index); rerr != nil && err == nil {
			if f != nil {
				f.Release()
			}
			return nil, fmt.Errorf("capture: requeue: %w", rerr)
		}
		if err != nil {
			return nil, err
		}
		f.Format, f.Seq, f.Time = s.format, seq, t
		return f, nil
	}
}

func (s *V4L2) fill(data []byte) (*Frame, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty buffer", ErrBadFrame)
	}
	if !s.format.Pixel.Compressed() && len(data) < s.format.FrameSize() {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadFrame, len(data), s.format.FrameSize())
	}
	f, err := s.pool.Get()
	if err != nil {
		return nil, err
	}
	if err := f.Fill(data); err != nil {
		f.Release()
		return nil, fmt.Errorf("%w: %w", ErrBadFrame, err)
	}
	return f, nil
}

// Close stops streaming and closes the device.
func (s *V4L2) Close() error {
	return s.cam.Close()
}

// v4l2Format mirrors struct v4l2_format: a u32 type and a 200-byte union that
// holds a pointer in one of its members, so the union is pointer-aligned: at
// offset 8 on 64-bit (208 bytes in all), at offset 4 on 32-bit (204 bytes).
type v4l2Format struct {
	typ   uint32
	_     [unsafe.Sizeof(uintptr(0)) - 4]byte
	union [200]byte
}

// v4l2PixFormat mirrors the head of struct v4l2_pix_format.
type v4l2PixFormat struct {
	Width, Height, PixelFormat, Field, BytesPerLine, SizeImage uint32
}

const v4l2BufTypeVideoCapture = 1

// readFormat asks the driver (VIDIOC_G_FMT, on a second handle) which format it
// really chose.
func readFormat(device string) (Format, error) {
	fd, err := unix.Open(device, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return Format{}, fmt.Errorf("capture: open %s for G_FMT: %w", device, err)
	}
	defer unix.Close(fd)
	var vf v4l2Format
	vf.typ = v4l2BufTypeVideoCapture
	req := iowr('V', 4, unsafe.Sizeof(vf))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&vf))); e != 0 {
		return Format{}, fmt.Errorf("capture: %s: VIDIOC_G_FMT: %w", device, e)
	}
	pix := (*v4l2PixFormat)(unsafe.Pointer(&vf.union[0]))
	f := Format{Pixel: PixelFormat(pix.PixelFormat), Width: int(pix.Width), Height: int(pix.Height)}
	if !f.Pixel.Compressed() {
		f.Stride = int(pix.BytesPerLine)
	}
	return f, nil
}
