//go:build linux && !mips && !mipsle && !mips64 && !mips64le && !ppc64 && !ppc64le

package capture

import (
	"errors"
	"fmt"
	"time"

	"github.com/blackjack/webcam"
	"golang.org/x/sys/unix"
)

// webcamDevice is a V4L2 capture node driven by github.com/blackjack/webcam,
// whose ioctl numbers are right on the generic layout (x86, ARM, arm64).
type webcamDevice struct {
	cam  *webcam.Webcam
	path string
}

func openWebcam(path string) (*webcamDevice, error) {
	cam, err := webcam.Open(path)
	if err != nil {
		return nil, err
	}
	return &webcamDevice{cam: cam, path: path}, nil
}

func (w *webcamDevice) formats() (map[PixelFormat]bool, error) {
	out := map[PixelFormat]bool{}
	for f := range w.cam.GetSupportedFormats() {
		out[PixelFormat(f)] = true
	}
	return out, nil
}

func (w *webcamDevice) setFormat(pix PixelFormat, width, height int) error {
	_, _, _, err := w.cam.SetImageFormat(webcam.PixelFormat(pix), uint32(width), uint32(height))
	return err
}

// format asks the driver, on a second handle: blackjack/webcam returns the
// size asked for, not the one the driver chose, and does not expose its fd.
func (w *webcamDevice) format() (Format, error) {
	fd, err := unix.Open(w.path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return Format{}, fmt.Errorf("open for G_FMT: %w", err)
	}
	defer unix.Close(fd)
	return getFormat(fd)
}

func (w *webcamDevice) setFPS(fps float64) error { return w.cam.SetFramerate(float32(fps)) }

func (w *webcamDevice) fps() (float64, error) {
	f, err := w.cam.GetFramerate()
	return float64(f), err
}

func (w *webcamDevice) controls() (map[string]uint32, error) {
	out := map[string]uint32{}
	for id, c := range w.cam.GetControls() {
		out[c.Name] = uint32(id)
	}
	return out, nil
}

func (w *webcamDevice) setControl(id uint32, value int32) error {
	return w.cam.SetControl(webcam.ControlID(id), value)
}

func (w *webcamDevice) start(buffers int) error {
	if err := w.cam.SetBufferCount(uint32(buffers)); err != nil {
		return fmt.Errorf("buffers: %w", err)
	}
	return w.cam.StartStreaming()
}

func (w *webcamDevice) wait(timeout time.Duration) error {
	secs := uint32((timeout + time.Second - 1) / time.Second)
	err := w.cam.WaitForFrame(secs)
	var to *webcam.Timeout
	if errors.As(err, &to) {
		return errWaitTimeout
	}
	return err
}

func (w *webcamDevice) dequeue() ([]byte, uint32, error) { return w.cam.GetFrame() }
func (w *webcamDevice) requeue(index uint32) error       { return w.cam.ReleaseFrame(index) }
func (w *webcamDevice) close() error                     { return w.cam.Close() }
