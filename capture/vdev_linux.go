package capture

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// vdev is a V4L2 capture node driven by the agent's own ioctl calls, with the
// request numbers of the architecture it is built for (ioc.go). It is what
// capture uses where github.com/blackjack/webcam encodes some numbers wrong.
type vdev struct {
	fd   int
	path string
	bufs [][]byte
}

// openVdev opens path and checks it is a streaming video capture node.
func openVdev(path string) (*vdev, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	d := &vdev{fd: fd, path: path}
	var c v4l2Capability
	if err := d.ioctl(vidioc.querycap, unsafe.Pointer(&c)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("VIDIOC_QUERYCAP: %w", err)
	}
	caps := c.capabilities
	if caps&v4l2CapDeviceCaps != 0 {
		caps = c.deviceCaps
	}
	switch {
	case caps&v4l2CapVideoCapture == 0:
		unix.Close(fd)
		return nil, fmt.Errorf("%s (%s) is not a video capture device", path, cstring(c.card[:]))
	case caps&v4l2CapStreaming == 0:
		unix.Close(fd)
		return nil, fmt.Errorf("%s (%s) does not support streaming I/O", path, cstring(c.card[:]))
	}
	return d, nil
}

func (d *vdev) ioctl(req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), req, uintptr(arg))
		switch e {
		case 0:
			return nil
		case unix.EINTR:
			continue
		default:
			return e
		}
	}
}

func (d *vdev) formats() (map[PixelFormat]bool, error) {
	out := map[PixelFormat]bool{}
	for i := uint32(0); ; i++ {
		fd := v4l2Fmtdesc{index: i, typ: v4l2BufTypeVideoCapture}
		err := d.ioctl(vidioc.enumFmt, unsafe.Pointer(&fd))
		if errors.Is(err, unix.EINVAL) {
			return out, nil // past the last one
		}
		if err != nil {
			return nil, fmt.Errorf("VIDIOC_ENUM_FMT: %w", err)
		}
		out[PixelFormat(fd.pixelformat)] = true
	}
}

func (d *vdev) setFormat(pix PixelFormat, width, height int) error {
	var f v4l2Format
	f.typ = v4l2BufTypeVideoCapture
	p := (*v4l2PixFormat)(unsafe.Pointer(&f.union[0]))
	p.Width, p.Height, p.PixelFormat, p.Field = uint32(width), uint32(height), uint32(pix), v4l2FieldAny
	if err := d.ioctl(vidioc.sFmt, unsafe.Pointer(&f)); err != nil {
		return fmt.Errorf("VIDIOC_S_FMT: %w", err)
	}
	return nil
}

func (d *vdev) format() (Format, error) {
	return getFormat(d.fd)
}

// getFormat is VIDIOC_G_FMT on fd: the format the driver really chose.
func getFormat(fd int) (Format, error) {
	var vf v4l2Format
	vf.typ = v4l2BufTypeVideoCapture
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), vidioc.gFmt, uintptr(unsafe.Pointer(&vf))); e != 0 {
		return Format{}, fmt.Errorf("VIDIOC_G_FMT: %w", e)
	}
	pix := (*v4l2PixFormat)(unsafe.Pointer(&vf.union[0]))
	f := Format{Pixel: PixelFormat(pix.PixelFormat), Width: int(pix.Width), Height: int(pix.Height)}
	if !f.Pixel.Compressed() {
		f.Stride = int(pix.BytesPerLine)
	}
	return f, nil
}

func (d *vdev) setFPS(fps float64) error {
	num, den := frameInterval(fps)
	p := v4l2Streamparm{typ: v4l2BufTypeVideoCapture, numerator: num, denominator: den}
	if err := d.ioctl(vidioc.sParm, unsafe.Pointer(&p)); err != nil {
		return fmt.Errorf("VIDIOC_S_PARM: %w", err)
	}
	return nil
}

// frameInterval is the time per frame of fps as a fraction: 1/fps for a
// whole rate, 1000/(fps*1000) otherwise.
func frameInterval(fps float64) (num, den uint32) {
	if fps == math.Trunc(fps) {
		return 1, uint32(fps)
	}
	return 1000, uint32(math.Round(fps * 1000))
}

func (d *vdev) fps() (float64, error) {
	p := v4l2Streamparm{typ: v4l2BufTypeVideoCapture}
	if err := d.ioctl(vidioc.gParm, unsafe.Pointer(&p)); err != nil {
		return 0, fmt.Errorf("VIDIOC_G_PARM: %w", err)
	}
	if p.numerator == 0 {
		return 0, errors.New("VIDIOC_G_PARM: no frame interval")
	}
	return float64(p.denominator) / float64(p.numerator), nil
}

func (d *vdev) controls() (map[string]uint32, error) {
	out := map[string]uint32{}
	id := uint32(v4l2CtrlFlagNextCtrl)
	for {
		q := v4l2Queryctrl{id: id}
		err := d.ioctl(vidioc.queryctrl, unsafe.Pointer(&q))
		if errors.Is(err, unix.EINVAL) {
			return out, nil // past the last one
		}
		if err != nil {
			return nil, fmt.Errorf("VIDIOC_QUERYCTRL: %w", err)
		}
		id = q.id | v4l2CtrlFlagNextCtrl
		if q.flags&v4l2CtrlFlagDisabled != 0 {
			continue
		}
		switch q.typ {
		case v4l2CtrlTypeInteger, v4l2CtrlTypeBoolean, v4l2CtrlTypeMenu, v4l2CtrlTypeIntegerMenu:
			out[cstring(q.name[:])] = q.id
		}
	}
}

func (d *vdev) setControl(id uint32, value int32) error {
	c := v4l2Control{id: id, value: value}
	if err := d.ioctl(vidioc.sCtrl, unsafe.Pointer(&c)); err != nil {
		return fmt.Errorf("VIDIOC_S_CTRL %#x: %w", id, err)
	}
	return nil
}

func (d *vdev) start(buffers int) error {
	rb := v4l2Requestbuffers{count: uint32(buffers), typ: v4l2BufTypeVideoCapture, memory: v4l2MemoryMmap}
	if err := d.ioctl(vidioc.reqbufs, unsafe.Pointer(&rb)); err != nil {
		return fmt.Errorf("VIDIOC_REQBUFS: %w", err)
	}
	if rb.count == 0 {
		return errors.New("VIDIOC_REQBUFS: the driver gave no buffers")
	}
	for i := uint32(0); i < rb.count; i++ {
		b := v4l2Buffer{index: i, typ: v4l2BufTypeVideoCapture, memory: v4l2MemoryMmap}
		if err := d.ioctl(vidioc.querybuf, unsafe.Pointer(&b)); err != nil {
			return fmt.Errorf("VIDIOC_QUERYBUF %d: %w", i, err)
		}
		m, err := unix.Mmap(d.fd, int64(b.offset()), int(b.length), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		if err != nil {
			return fmt.Errorf("mmap buffer %d: %w", i, err)
		}
		d.bufs = append(d.bufs, m)
		if err := d.requeue(i); err != nil {
			return err
		}
	}
	typ := int32(v4l2BufTypeVideoCapture)
	if err := d.ioctl(vidioc.streamon, unsafe.Pointer(&typ)); err != nil {
		return fmt.Errorf("VIDIOC_STREAMON: %w", err)
	}
	return nil
}

func (d *vdev) wait(timeout time.Duration) error {
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(timeout/time.Millisecond))
	switch {
	case err != nil:
		return fmt.Errorf("poll: %w", err)
	case n == 0:
		return errWaitTimeout
	case fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLIN == 0:
		return fmt.Errorf("poll: device error (revents %#x)", fds[0].Revents)
	}
	return nil
}

func (d *vdev) dequeue() ([]byte, uint32, error) {
	b := v4l2Buffer{typ: v4l2BufTypeVideoCapture, memory: v4l2MemoryMmap}
	if err := d.ioctl(vidioc.dqbuf, unsafe.Pointer(&b)); err != nil {
		if errors.Is(err, unix.EAGAIN) {
			return nil, 0, unix.EAGAIN
		}
		return nil, 0, fmt.Errorf("VIDIOC_DQBUF: %w", err)
	}
	if int(b.index) >= len(d.bufs) {
		return nil, 0, fmt.Errorf("VIDIOC_DQBUF: buffer %d of %d", b.index, len(d.bufs))
	}
	buf := d.bufs[b.index]
	n := int(b.bytesused)
	if n > len(buf) {
		n = len(buf)
	}
	return buf[:n], b.index, nil
}

func (d *vdev) requeue(index uint32) error {
	b := v4l2Buffer{index: index, typ: v4l2BufTypeVideoCapture, memory: v4l2MemoryMmap}
	if err := d.ioctl(vidioc.qbuf, unsafe.Pointer(&b)); err != nil {
		return fmt.Errorf("VIDIOC_QBUF %d: %w", index, err)
	}
	return nil
}

// close stops streaming, unmaps the buffers and closes the node; the first
// error is returned, every step is tried.
func (d *vdev) close() error {
	var first error
	if len(d.bufs) > 0 {
		typ := int32(v4l2BufTypeVideoCapture)
		if err := d.ioctl(vidioc.streamoff, unsafe.Pointer(&typ)); err != nil {
			first = fmt.Errorf("VIDIOC_STREAMOFF: %w", err)
		}
	}
	for _, b := range d.bufs {
		if err := unix.Munmap(b); err != nil && first == nil {
			first = fmt.Errorf("munmap: %w", err)
		}
	}
	d.bufs = nil
	if err := unix.Close(d.fd); err != nil && first == nil {
		first = err
	}
	return first
}

// cstring is a NUL-terminated C string field.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
