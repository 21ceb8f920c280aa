package gpio

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The numbers and sizes this package computes agree with golang.org/x/sys's
// tables, which are generated from the kernel headers per architecture.
func TestAgainstXSys(t *testing.T) {
	nums := []struct {
		name      string
		got, want uint32
	}{
		{"GPIO_GET_CHIPINFO_IOCTL", getChipInfoIoctl, unix.GPIO_GET_CHIPINFO_IOCTL},
		{"GPIO_V2_GET_LINEINFO_IOCTL", getLineInfoIoctl, unix.GPIO_V2_GET_LINEINFO_IOCTL},
		{"GPIO_V2_GET_LINE_IOCTL", getLineIoctl, unix.GPIO_V2_GET_LINE_IOCTL},
		{"GPIO_V2_LINE_GET_VALUES_IOCTL", getValuesIoctl, unix.GPIO_V2_LINE_GET_VALUES_IOCTL},
		{"GPIO_V2_LINE_SET_VALUES_IOCTL", setValuesIoctl, unix.GPIO_V2_LINE_SET_VALUES_IOCTL},
	}
	for _, n := range nums {
		if n.got != n.want {
			t.Errorf("%s = %#x, x/sys has %#x", n.name, n.got, n.want)
		}
	}
	sizes := []struct {
		name      string
		got, want uintptr
	}{
		{"gpio_v2_line_request", unsafe.Sizeof(lineRequest{}), unsafe.Sizeof(unix.GPIOV2LineRequest{})},
		{"gpio_v2_line_config", unsafe.Sizeof(lineConfig{}), unsafe.Sizeof(unix.GPIOV2LineConfig{})},
		{"gpio_v2_line_values", unsafe.Sizeof(lineValues{}), unsafe.Sizeof(unix.GPIOV2LineValues{})},
		{"gpio_v2_line_info", unsafe.Sizeof(lineInfo{}), unsafe.Sizeof(unix.GPIOV2LineInfo{})},
		{"gpiochip_info", unsafe.Sizeof(chipInfo{}), unsafe.Sizeof(unix.GPIOChipInfo{})},
		{"request.fd offset", unsafe.Offsetof(lineRequest{}.Fd), unsafe.Offsetof(unix.GPIOV2LineRequest{}.Fd)},
	}
	for _, s := range sizes {
		if s.got != s.want {
			t.Errorf("%s: %d bytes, x/sys has %d", s.name, s.got, s.want)
		}
	}
}

func TestOpenChipAbsent(t *testing.T) {
	_, err := OpenChip(t.TempDir() + "/dev/gpiochip0")
	if !errors.Is(err, ErrAbsent) {
		t.Errorf("OpenChip(missing) = %v, want ErrAbsent", err)
	}
}

func TestOpenChipNotGPIO(t *testing.T) {
	_, err := OpenChip("/dev/null")
	// ENOTTY from a kernel; qemu-user answers ioctls it does not know with
	// ENOSYS.
	if err == nil || errors.Is(err, ErrAbsent) || !errors.Is(err, unix.ENOTTY) && !errors.Is(err, unix.ENOSYS) {
		t.Errorf("OpenChip(/dev/null) = %v, want a chip-info failure", err)
	}
}

// TestHardware drives real lines of a real chip: set CAMAGENT_TEST_GPIOCHIP
// to the chip (for example /dev/gpiochip0: QEMU virt's PL061, whose line 3 is
// the power button) and CAMAGENT_TEST_GPIOLINES to two free lines ("4,5").
// It is skipped otherwise.
func TestHardware(t *testing.T) {
	path := os.Getenv("CAMAGENT_TEST_GPIOCHIP")
	if path == "" {
		t.Skip("CAMAGENT_TEST_GPIOCHIP not set")
	}
	var a, b int
	if _, err := fmt.Sscanf(os.Getenv("CAMAGENT_TEST_GPIOLINES"), "%d,%d", &a, &b); err != nil {
		t.Fatalf("CAMAGENT_TEST_GPIOLINES: want two offsets like 4,5: %v", err)
	}
	c, err := OpenChip(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("chip %+v", c.Info())
	l, err := c.RequestOutputs("camagent-test", []Output{{Offset: a, Initial: true}, {Offset: b, ActiveLow: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, want := range []uint64{0b01, 0b11, 0b10, 0b00} {
		if err := l.SetValues(want, 0b11); err != nil {
			t.Fatal(err)
		}
		got, err := l.Values()
		if err != nil || got != want {
			t.Errorf("Values = %b, %v, want %b", got, err, want)
		}
	}
	for _, o := range []int{a, b} {
		li, err := c.LineInfo(o)
		if err != nil || !li.Used || !li.Output || li.Consumer != "camagent-test" || li.ActiveLow != (o == b) {
			t.Errorf("LineInfo(%d) = %+v, %v", o, li, err)
		}
	}
	if _, err := c.RequestOutputs("camagent-test", []Output{{Offset: a}}); !errors.Is(err, ErrBusy) {
		t.Errorf("second request of line %d: %v, want ErrBusy", a, err)
	}
}
