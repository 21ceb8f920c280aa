package capture

import (
	"errors"
	"time"
)

// device is one open V4L2 capture node, as V4L2 (v4l2_linux.go) drives it.
// Two implementations: github.com/blackjack/webcam (webcamDevice) where its
// ioctl numbers are right, and the agent's own calls (vdev) where they are not
// (MIPS, PowerPC); openDevice picks by architecture.
type device interface {
	formats() (map[PixelFormat]bool, error)
	// setFormat asks for a format; format reads back what the driver chose.
	setFormat(pix PixelFormat, width, height int) error
	format() (Format, error)
	setFPS(fps float64) error
	fps() (float64, error)
	// controls maps the device's control names to their IDs.
	controls() (map[string]uint32, error)
	setControl(id uint32, value int32) error
	// start maps buffers driver buffers, queues them and starts streaming.
	start(buffers int) error
	// wait waits up to timeout for a frame; errWaitTimeout when none came.
	wait(timeout time.Duration) error
	// dequeue returns a filled buffer (valid until requeue(index)); EAGAIN
	// when none is ready.
	dequeue() (data []byte, index uint32, err error)
	requeue(index uint32) error
	close() error
}

var errWaitTimeout = errors.New("capture: no frame within the wait")
