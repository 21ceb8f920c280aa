package gpio

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"unsafe"
)

// ErrAbsent means the GPIO chip does not exist on this board.
var ErrAbsent = errors.New("gpio: chip not present")

// ErrBusy means a line is already requested by another consumer (another
// process, a kernel driver, or an overlay that claimed the pin).
var ErrBusy = errors.New("gpio: line busy")

// MaxConsumer is the longest consumer label the kernel keeps (the field is 32
// bytes with its NUL).
const MaxConsumer = maxNameSize - 1

// ioctlFunc issues one ioctl with a pointer argument on fd.
type ioctlFunc func(fd int, req uint32, arg unsafe.Pointer) error

// ChipInfo describes a GPIO chip.
type ChipInfo struct {
	Name  string // the kernel's name, "gpiochip0"
	Label string // the driver's label, "pinctrl-bcm2711", "pl061"
	Lines int    // number of lines
}

// LineInfo describes one line of a chip as the kernel reports it.
type LineInfo struct {
	Offset    int
	Name      string // from the device tree's gpio-line-names, often empty
	Consumer  string // who holds it, when Used
	Used      bool
	Output    bool
	ActiveLow bool
}

// Chip is an open GPIO character device.
type Chip struct {
	path  string
	fd    int
	info  ChipInfo
	ioctl ioctlFunc
	close func(fd int) error

	mu     sync.Mutex
	closed bool
}

// OpenChip opens the GPIO chip at path (for example /dev/gpiochip0, under the
// board's root). A missing device is ErrAbsent.
func OpenChip(path string) (*Chip, error) {
	fd, err := sysOpen(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrAbsent, path)
		}
		return nil, fmt.Errorf("gpio: open %s: %w", path, err)
	}
	c, err := newChip(path, fd, sysIoctl, sysClose)
	if err != nil {
		sysClose(fd)
		return nil, err
	}
	return c, nil
}

func newChip(path string, fd int, ioctl ioctlFunc, closeFn func(int) error) (*Chip, error) {
	var ci chipInfo
	if err := ioctl(fd, getChipInfoIoctl, unsafe.Pointer(&ci)); err != nil {
		return nil, fmt.Errorf("gpio: %s: chip info: %w", path, err)
	}
	return &Chip{path: path, fd: fd, ioctl: ioctl, close: closeFn,
		info: ChipInfo{Name: cString(ci.Name[:]), Label: cString(ci.Label[:]), Lines: int(ci.Lines)}}, nil
}

// Info returns the chip's name, label and number of lines.
func (c *Chip) Info() ChipInfo { return c.info }

// Path returns the device path the chip was opened at.
func (c *Chip) Path() string { return c.path }

// LineInfo reports the state of one line.
func (c *Chip) LineInfo(offset int) (LineInfo, error) {
	if offset < 0 || offset >= c.info.Lines {
		return LineInfo{}, fmt.Errorf("gpio: %s: line %d out of range (chip has %d)", c.path, offset, c.info.Lines)
	}
	var li lineInfo
	li.Offset = uint32(offset)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return LineInfo{}, fmt.Errorf("gpio: %s: line info: chip closed", c.path)
	}
	if err := c.ioctl(c.fd, getLineInfoIoctl, unsafe.Pointer(&li)); err != nil {
		return LineInfo{}, fmt.Errorf("gpio: %s: line %d info: %w", c.path, offset, err)
	}
	return LineInfo{Offset: int(li.Offset), Name: cString(li.Name[:]), Consumer: cString(li.Consumer[:]),
		Used: li.Flags&flagUsed != 0, Output: li.Flags&flagOutput != 0, ActiveLow: li.Flags&flagActiveLow != 0}, nil
}

// Output is one line to drive.
type Output struct {
	Offset int // line offset on the chip
	// ActiveLow inverts the line: on drives it low. Use it for hardware that
	// switches on a low level.
	ActiveLow bool
	// Initial is the logical value the line takes when requested.
	Initial bool
}

// RequestOutputs claims lines of the chip as outputs, labelled consumer
// (shown by gpioinfo). The lines stay claimed until Lines.Close, even after
// the chip is closed.
func (c *Chip) RequestOutputs(consumer string, outs []Output) (*Lines, error) {
	for _, o := range outs {
		if o.Offset >= c.info.Lines {
			return nil, fmt.Errorf("gpio: %s: line %d out of range (chip has %d)", c.path, o.Offset, c.info.Lines)
		}
	}
	req, err := buildRequest(consumer, outs)
	if err != nil {
		return nil, fmt.Errorf("gpio: %s: %w", c.path, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("gpio: %s: request lines: chip closed", c.path)
	}
	if err := c.ioctl(c.fd, getLineIoctl, unsafe.Pointer(&req)); err != nil {
		if isBusy(err) {
			err = fmt.Errorf("%w (%v)", ErrBusy, err)
		}
		return nil, fmt.Errorf("gpio: %s: request lines %v: %w", c.path, offsets(outs), err)
	}
	if req.Fd < 0 {
		return nil, fmt.Errorf("gpio: %s: request lines %v: kernel returned fd %d", c.path, offsets(outs), req.Fd)
	}
	l := &Lines{chip: c.path, fd: int(req.Fd), offsets: offsets(outs), ioctl: c.ioctl, close: c.close}
	for i, o := range outs {
		if o.Initial {
			l.values |= 1 << i
		}
	}
	return l, nil
}

// Close releases the chip's file descriptor; requested lines stay valid.
func (c *Chip) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.close(c.fd); err != nil {
		return fmt.Errorf("gpio: close %s: %w", c.path, err)
	}
	return nil
}

func offsets(outs []Output) []int {
	o := make([]int, len(outs))
	for i, out := range outs {
		o[i] = out.Offset
	}
	return o
}

// buildRequest fills a gpio_v2_line_request for outs: the default flags are
// output; lines with a different active-low setting get a flags attribute,
// and the initial values an output-values attribute, each masked to its
// lines (bit i of a mask is the i-th requested line, not the offset).
func buildRequest(consumer string, outs []Output) (lineRequest, error) {
	var req lineRequest
	if len(outs) == 0 || len(outs) > linesMax {
		return req, fmt.Errorf("request %d lines: want 1..%d", len(outs), linesMax)
	}
	if consumer == "" || len(consumer) > MaxConsumer || strings.IndexByte(consumer, 0) >= 0 {
		return req, fmt.Errorf("consumer label %q: want 1..%d bytes without NUL", consumer, MaxConsumer)
	}
	copy(req.Consumer[:], consumer)
	seen := make(map[int]bool, len(outs))
	var low, initial, all uint64
	for i, o := range outs {
		if o.Offset < 0 {
			return req, fmt.Errorf("line %d: negative offset", o.Offset)
		}
		if seen[o.Offset] {
			return req, fmt.Errorf("line %d requested twice", o.Offset)
		}
		seen[o.Offset] = true
		req.Offsets[i] = uint32(o.Offset)
		bit := uint64(1) << i
		all |= bit
		if o.ActiveLow {
			low |= bit
		}
		if o.Initial {
			initial |= bit
		}
	}
	req.NumLines = uint32(len(outs))
	req.Config.Flags = flagOutput
	n := 0
	if low != 0 {
		req.Config.Attrs[n] = lineConfigAttribute{Attr: lineAttribute{ID: attrFlags, Value: flagOutput | flagActiveLow}, Mask: low}
		n++
	}
	req.Config.Attrs[n] = lineConfigAttribute{Attr: lineAttribute{ID: attrOutputValues, Value: initial}, Mask: all}
	n++
	req.Config.NumAttrs = uint32(n)
	return req, nil
}

// Lines is a set of requested output lines.
type Lines struct {
	chip    string
	offsets []int
	ioctl   ioctlFunc
	close   func(int) error

	mu     sync.Mutex
	fd     int
	values uint64 // the last values set, bit i for line i
	closed bool
}

// Len returns the number of lines.
func (l *Lines) Len() int { return len(l.offsets) }

// Offsets returns the chip offsets of the lines, in request order.
func (l *Lines) Offsets() []int { return append([]int(nil), l.offsets...) }

// Set drives line i (in request order) to the logical value on.
func (l *Lines) Set(i int, on bool) error {
	if i < 0 || i >= len(l.offsets) {
		return fmt.Errorf("gpio: %s: set line index %d of %d", l.chip, i, len(l.offsets))
	}
	var bits uint64
	if on {
		bits = 1 << i
	}
	return l.SetValues(bits, 1<<i)
}

// SetValues drives the lines whose bit is set in mask to the matching bit of
// bits, in one ioctl.
func (l *Lines) SetValues(bits, mask uint64) error {
	all := uint64(1)<<len(l.offsets) - 1
	if len(l.offsets) == linesMax {
		all = ^uint64(0)
	}
	if mask&^all != 0 {
		return fmt.Errorf("gpio: %s: set values: mask %#x beyond %d lines", l.chip, mask, len(l.offsets))
	}
	v := lineValues{Bits: bits & mask, Mask: mask}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("gpio: %s: set values: lines released", l.chip)
	}
	if err := l.ioctl(l.fd, setValuesIoctl, unsafe.Pointer(&v)); err != nil {
		return fmt.Errorf("gpio: %s: set lines %v: %w", l.chip, l.offsets, err)
	}
	l.values = l.values&^mask | bits&mask
	return nil
}

// Values reads the lines' logical values back from the kernel, bit i for
// line i.
func (l *Lines) Values() (uint64, error) {
	all := uint64(1)<<len(l.offsets) - 1
	if len(l.offsets) == linesMax {
		all = ^uint64(0)
	}
	v := lineValues{Mask: all}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("gpio: %s: get values: lines released", l.chip)
	}
	if err := l.ioctl(l.fd, getValuesIoctl, unsafe.Pointer(&v)); err != nil {
		return 0, fmt.Errorf("gpio: %s: get lines %v: %w", l.chip, l.offsets, err)
	}
	return v.Bits & all, nil
}

// Close releases the lines; the kernel keeps their last values (or, per
// driver, returns them to inputs).
func (l *Lines) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if err := l.close(l.fd); err != nil {
		return fmt.Errorf("gpio: %s: release lines %v: %w", l.chip, l.offsets, err)
	}
	return nil
}

// Pin returns line i (in request order) as a single output pin.
func (l *Lines) Pin(i int) Pin { return Pin{l: l, i: i} }

// Pin is one output line of a request: the narrow "output pin" that LEDs,
// IR-cut filters and IR lamps need.
type Pin struct {
	l *Lines
	i int
}

// Out drives the pin to the logical value on.
func (p Pin) Out(on bool) error { return p.l.Set(p.i, on) }

// String names the pin: "/dev/gpiochip0:17".
func (p Pin) String() string {
	if p.l == nil || p.i < 0 || p.i >= len(p.l.offsets) {
		return "gpio:<invalid>"
	}
	return fmt.Sprintf("%s:%d", p.l.chip, p.l.offsets[p.i])
}
