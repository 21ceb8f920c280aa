package capture

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// V4L2 is a Source over a V4L2 capture device.
type V4L2 struct {
	dev    device
	format Format
	pool   *Pool
	now    func() time.Time
	seq    uint64
}

// OpenV4L2 opens the device, negotiates the first preferred format the device
// offers at the asked size and rate, reads back what the driver really chose,
// applies the named controls and starts streaming.
func OpenV4L2(cfg V4L2Config) (*V4L2, error) {
	dev, err := openDevice(cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("capture: open %s: %w", cfg.Device, err)
	}
	s := &V4L2{dev: dev, now: cfg.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.setup(cfg); err != nil {
		dev.close()
		return nil, err
	}
	return s, nil
}

func (s *V4L2) setup(cfg V4L2Config) error {
	offered, err := s.dev.formats()
	if err != nil {
		return fmt.Errorf("capture: %s: formats: %w", cfg.Device, err)
	}
	pix, err := pickFormat(cfg.Formats, offered)
	if err != nil {
		return fmt.Errorf("capture: %s: %w", cfg.Device, err)
	}
	if err := s.dev.setFormat(pix, cfg.Width, cfg.Height); err != nil {
		return fmt.Errorf("capture: %s: set format %s %dx%d: %w", cfg.Device, pix, cfg.Width, cfg.Height, err)
	}
	// The driver may have chosen another size: ask it.
	f, err := s.dev.format()
	if err != nil {
		return fmt.Errorf("capture: %s: %w", cfg.Device, err)
	}
	if cfg.FPS > 0 {
		if err := s.dev.setFPS(cfg.FPS); err != nil {
			return fmt.Errorf("capture: %s: set frame rate %g: %w", cfg.Device, cfg.FPS, err)
		}
	}
	if fps, err := s.dev.fps(); err == nil {
		f.FPS = fps
	}
	s.format = f
	if err := s.applyControls(cfg); err != nil {
		return err
	}
	bufs := cfg.Buffers
	if bufs <= 0 {
		bufs = 4
	}
	poolN := cfg.Pool
	if poolN <= 0 {
		poolN = 8
	}
	s.pool = NewPool(poolN, f.FrameSize())
	if err := s.dev.start(bufs); err != nil {
		return fmt.Errorf("capture: %s: start streaming: %w", cfg.Device, err)
	}
	return nil
}

func (s *V4L2) applyControls(cfg V4L2Config) error {
	if len(cfg.Controls) == 0 {
		return nil
	}
	byName, err := s.dev.controls()
	if err != nil {
		return fmt.Errorf("capture: %s: controls: %w", cfg.Device, err)
	}
	for name, v := range cfg.Controls {
		id, ok := byName[name]
		if !ok {
			if cfg.Warn != nil {
				cfg.Warn("capture: device has no such control", "control", name, "device", cfg.Device)
			}
			continue
		}
		if err := s.dev.setControl(id, v); err != nil {
			return fmt.Errorf("capture: %s: set control %q=%d: %w", cfg.Device, name, v, err)
		}
	}
	return nil
}

// SetControl sets a named control while streaming.
func (s *V4L2) SetControl(name string, v int32) error {
	byName, err := s.dev.controls()
	if err != nil {
		return fmt.Errorf("capture: controls: %w", err)
	}
	id, ok := byName[name]
	if !ok {
		return fmt.Errorf("capture: no control named %q", name)
	}
	return s.dev.setControl(id, v)
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
		err := s.dev.wait(time.Second)
		switch {
		case errors.Is(err, errWaitTimeout), errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, fmt.Errorf("capture: wait for frame: %w", err)
		}
		data, index, err := s.dev.dequeue()
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
		if rerr := s.dev.requeue(index); rerr != nil && err == nil {
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
	return s.dev.close()
}
