package gpio

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// fakeKernel answers the ioctls as drivers/gpio/gpiolib-cdev.c does, on a
// chip whose physical line levels it records.
type fakeKernel struct {
	label  string
	level  []bool        // physical level per offset
	owner  []string      // consumer per offset, "" when free
	low    []bool        // active-low per offset, for requested lines
	reqs   map[int][]int // line fd -> offsets
	nextFd int
	closed []int
	calls  []uint32
	fail   map[uint32]error
}

func newFakeKernel(lines int) *fakeKernel {
	return &fakeKernel{label: "fake-gpio", level: make([]bool, lines), owner: make([]string, lines),
		low: make([]bool, lines), reqs: map[int][]int{}, nextFd: 10, fail: map[uint32]error{}}
}

func (k *fakeKernel) close(fd int) error {
	k.closed = append(k.closed, fd)
	for _, o := range k.reqs[fd] {
		k.owner[o] = ""
	}
	delete(k.reqs, fd)
	return nil
}

func (k *fakeKernel) ioctl(fd int, req uint32, arg unsafe.Pointer) error {
	k.calls = append(k.calls, req)
	if err := k.fail[req]; err != nil {
		return err
	}
	switch req {
	case getChipInfoIoctl:
		ci := (*chipInfo)(arg)
		copy(ci.Name[:], "gpiochip7")
		copy(ci.Label[:], k.label)
		ci.Lines = uint32(len(k.level))
		return nil
	case getLineInfoIoctl:
		li := (*lineInfo)(arg)
		o := int(li.Offset)
		if o >= len(k.level) {
			return syscall.EINVAL
		}
		*li = lineInfo{Offset: uint32(o)}
		copy(li.Name[:], fmt.Sprintf("GPIO%d", o))
		if k.owner[o] != "" {
			copy(li.Consumer[:], k.owner[o])
			li.Flags = flagUsed | flagOutput
			if k.low[o] {
				li.Flags |= flagActiveLow
			}
		} else {
			li.Flags = flagInput
		}
		return nil
	case getLineIoctl:
		return k.request((*lineRequest)(arg))
	case setValuesIoctl, getValuesIoctl:
		offs, ok := k.reqs[fd]
		if !ok {
			return syscall.EBADF
		}
		v := (*lineValues)(arg)
		if v.Mask == 0 {
			return syscall.EINVAL
		}
		for i, o := range offs {
			if v.Mask&(1<<i) == 0 {
				continue
			}
			if req == setValuesIoctl {
				k.level[o] = (v.Bits&(1<<i) != 0) != k.low[o]
			} else if k.level[o] != k.low[o] {
				v.Bits |= 1 << i
			} else {
				v.Bits &^= 1 << i
			}
		}
		return nil
	}
	return syscall.ENOTTY
}

func (k *fakeKernel) request(r *lineRequest) error {
	if r.NumLines == 0 || r.NumLines > linesMax || r.Config.NumAttrs > numAttrsMax || r.Fd != 0 {
		return syscall.EINVAL
	}
	var zero [5]uint32
	if *(*[5]uint32)(unsafe.Add(unsafe.Pointer(r), 568)) != zero ||
		*(*[5]uint32)(unsafe.Add(unsafe.Pointer(&r.Config), 12)) != zero {
		return syscall.EINVAL // non-zero padding
	}
	n := int(r.NumLines)
	flags := make([]uint64, n)
	vals := make([]bool, n)
	for i := range n {
		flags[i] = r.Config.Flags
	}
	for _, a := range r.Config.Attrs[:r.Config.NumAttrs] {
		for i := range n {
			if a.Mask&(1<<i) == 0 {
				continue
			}
			switch a.Attr.ID {
			case attrFlags:
				flags[i] = a.Attr.Value
			case attrOutputValues:
				vals[i] = a.Attr.Value&(1<<i) != 0
			default:
				return syscall.EINVAL
			}
		}
	}
	offs := make([]int, n)
	for i := range n {
		o := int(r.Offsets[i])
		if o >= len(k.level) {
			return syscall.EINVAL
		}
		if flags[i]&flagOutput == 0 || flags[i]&flagInput != 0 {
			return syscall.EINVAL
		}
		if k.owner[o] != "" {
			return syscall.EBUSY
		}
		offs[i] = o
	}
	for i, o := range offs {
		k.owner[o] = cString(r.Consumer[:])
		k.low[o] = flags[i]&flagActiveLow != 0
		k.level[o] = vals[i] != k.low[o]
	}
	r.Fd = int32(k.nextFd)
	k.reqs[k.nextFd] = offs
	k.nextFd++
	return nil
}

func openFake(t *testing.T, k *fakeKernel) *Chip {
	t.Helper()
	c, err := newChip("/dev/gpiochip7", 3, k.ioctl, k.close)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBuildRequest(t *testing.T) {
	tests := []struct {
		name     string
		consumer string
		outs     []Output
		wantErr  string
		// expected attributes, in order
		attrs []lineConfigAttribute
	}{
		{"one line", "camagent", []Output{{Offset: 17}}, "",
			[]lineConfigAttribute{{Attr: lineAttribute{ID: attrOutputValues, Value: 0}, Mask: 1}}},
		{"initial on", "camagent", []Output{{Offset: 17}, {Offset: 18, Initial: true}}, "",
			[]lineConfigAttribute{{Attr: lineAttribute{ID: attrOutputValues, Value: 2}, Mask: 3}}},
		{"active low second", "ir", []Output{{Offset: 5}, {Offset: 6, ActiveLow: true, Initial: true}}, "",
			[]lineConfigAttribute{
				{Attr: lineAttribute{ID: attrFlags, Value: flagOutput | flagActiveLow}, Mask: 2},
				{Attr: lineAttribute{ID: attrOutputValues, Value: 2}, Mask: 3}}},
		{"none", "camagent", nil, "want 1..64", nil},
		{"too many", "camagent", make([]Output, 65), "want 1..64", nil},
		{"duplicate", "camagent", []Output{{Offset: 3}, {Offset: 3}}, "twice", nil},
		{"negative", "camagent", []Output{{Offset: -1}}, "negative", nil},
		{"empty consumer", "", []Output{{Offset: 1}}, "consumer", nil},
		{"long consumer", strings.Repeat("x", 32), []Output{{Offset: 1}}, "consumer", nil},
		{"NUL consumer", "a\x00b", []Output{{Offset: 1}}, "consumer", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := buildRequest(tc.consumer, tc.outs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if int(req.NumLines) != len(tc.outs) || cString(req.Consumer[:]) != tc.consumer {
				t.Errorf("num_lines %d consumer %q", req.NumLines, cString(req.Consumer[:]))
			}
			for i, o := range tc.outs {
				if int(req.Offsets[i]) != o.Offset {
					t.Errorf("offsets[%d] = %d, want %d", i, req.Offsets[i], o.Offset)
				}
			}
			if req.Config.Flags != flagOutput {
				t.Errorf("flags = %#x, want output", req.Config.Flags)
			}
			got := req.Config.Attrs[:req.Config.NumAttrs]
			if fmt.Sprint(got) != fmt.Sprint(tc.attrs) {
				t.Errorf("attrs = %+v\nwant %+v", got, tc.attrs)
			}
		})
	}
}

func TestChipRequestAndSet(t *testing.T) {
	k := newFakeKernel(32)
	c := openFake(t, k)
	if got := c.Info(); got != (ChipInfo{Name: "gpiochip7", Label: "fake-gpio", Lines: 32}) {
		t.Errorf("Info = %+v", got)
	}
	l, err := c.RequestOutputs("camagent", []Output{
		{Offset: 17}, // IR cut, starts off
		{Offset: 18, ActiveLow: true, Initial: true}, // IR LED, low = on
	})
	if err != nil {
		t.Fatal(err)
	}
	if k.level[17] || k.level[18] {
		t.Errorf("after request: levels 17=%v 18=%v, want low, low (18 is active low and on)", k.level[17], k.level[18])
	}
	steps := []struct {
		pin       int
		on        bool
		want17    bool
		want18    bool
		wantValue uint64
	}{
		{0, true, true, false, 0b11},
		{1, false, true, true, 0b01},
		{0, false, false, true, 0b00},
		{1, true, false, false, 0b10},
	}
	for i, s := range steps {
		if err := l.Pin(s.pin).Out(s.on); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if k.level[17] != s.want17 || k.level[18] != s.want18 {
			t.Errorf("step %d: levels 17=%v 18=%v, want %v %v", i, k.level[17], k.level[18], s.want17, s.want18)
		}
		v, err := l.Values()
		if err != nil || v != s.wantValue {
			t.Errorf("step %d: Values = %b, %v, want %b", i, v, err, s.wantValue)
		}
	}
	if err := l.SetValues(0b11, 0b11); err != nil || !k.level[17] || k.level[18] {
		t.Errorf("SetValues(11): %v, levels %v %v", err, k.level[17], k.level[18])
	}
	if err := l.SetValues(1, 0b100); err == nil {
		t.Error("SetValues with a mask beyond the lines succeeded")
	}
	if err := l.Set(2, true); err == nil {
		t.Error("Set(2) of two lines succeeded")
	}
	li, err := c.LineInfo(18)
	if err != nil || !li.Used || li.Consumer != "camagent" || !li.ActiveLow || !li.Output || li.Name != "GPIO18" {
		t.Errorf("LineInfo(18) = %+v, %v", li, err)
	}
	if _, err := c.LineInfo(32); err == nil {
		t.Error("LineInfo(32) of 32 lines succeeded")
	}
	if got := l.Pin(1).String(); got != "/dev/gpiochip7:18" {
		t.Errorf("Pin(1) = %q", got)
	}
	if got := l.Offsets(); fmt.Sprint(got) != "[17 18]" || l.Len() != 2 {
		t.Errorf("Offsets = %v", got)
	}

	// The lines outlive the chip's descriptor, as in the kernel.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Pin(0).Out(false); err != nil {
		t.Errorf("Out after chip close: %v", err)
	}
	if _, err := c.RequestOutputs("camagent", []Output{{Offset: 1}}); err == nil {
		t.Error("request on a closed chip succeeded")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Pin(0).Out(true); err == nil {
		t.Error("Out after release succeeded")
	}
	if k.owner[17] != "" || len(k.closed) != 2 {
		t.Errorf("after release: owner %q, closed fds %v", k.owner[17], k.closed)
	}
}

func TestRequestErrors(t *testing.T) {
	k := newFakeKernel(8)
	k.owner[3] = "sysfs"
	c := openFake(t, k)
	tests := []struct {
		name    string
		outs    []Output
		wantIs  error
		wantMsg string
	}{
		{"busy", []Output{{Offset: 2}, {Offset: 3}}, ErrBusy, "request lines [2 3]"},
		{"out of range", []Output{{Offset: 8}}, nil, "out of range"},
		{"duplicate", []Output{{Offset: 1}, {Offset: 1}}, nil, "twice"},
	}
	for _, tc := range tests {
		_, err := c.RequestOutputs("camagent", tc.outs)
		if err == nil || !strings.Contains(err.Error(), tc.wantMsg) || (tc.wantIs != nil && !errors.Is(err, tc.wantIs)) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
	if k.owner[2] != "" {
		t.Error("a failed request claimed line 2")
	}

	k.fail[getChipInfoIoctl] = syscall.ENOTTY
	if _, err := newChip("/dev/null", 3, k.ioctl, k.close); err == nil || !errors.Is(err, syscall.ENOTTY) {
		t.Errorf("newChip on a non-GPIO device: %v", err)
	}
}
