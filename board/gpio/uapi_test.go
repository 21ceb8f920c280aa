package gpio

import (
	"testing"
	"unsafe"
)

// The kernel's sizes and offsets (include/uapi/linux/gpio.h, checked with
// pahole/offsetof on x86-64, arm, arm64 and mipsel: the structs use explicit
// padding and __aligned_u64, so they are the same everywhere). This test runs
// on every architecture it is built for, including 32-bit ones where Go
// aligns uint64 to 4 bytes.
func TestLayout(t *testing.T) {
	var (
		req lineRequest
		cfg lineConfig
		ca  lineConfigAttribute
		a   lineAttribute
		v   lineValues
		ci  chipInfo
		li  lineInfo
	)
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof gpio_v2_line_request", unsafe.Sizeof(req), 592},
		{"gpio_v2_line_request.offsets", unsafe.Offsetof(req.Offsets), 0},
		{"gpio_v2_line_request.consumer", unsafe.Offsetof(req.Consumer), 256},
		{"gpio_v2_line_request.config", unsafe.Offsetof(req.Config), 288},
		{"gpio_v2_line_request.num_lines", unsafe.Offsetof(req.NumLines), 560},
		{"gpio_v2_line_request.event_buffer_size", unsafe.Offsetof(req.EventBufferSize), 564},
		{"gpio_v2_line_request.fd", unsafe.Offsetof(req.Fd), 588},
		{"sizeof gpio_v2_line_config", unsafe.Sizeof(cfg), 272},
		{"gpio_v2_line_config.flags", unsafe.Offsetof(cfg.Flags), 0},
		{"gpio_v2_line_config.num_attrs", unsafe.Offsetof(cfg.NumAttrs), 8},
		{"gpio_v2_line_config.attrs", unsafe.Offsetof(cfg.Attrs), 32},
		{"sizeof gpio_v2_line_config_attribute", unsafe.Sizeof(ca), 24},
		{"gpio_v2_line_config_attribute.mask", unsafe.Offsetof(ca.Mask), 16},
		{"sizeof gpio_v2_line_attribute", unsafe.Sizeof(a), 16},
		{"gpio_v2_line_attribute.id", unsafe.Offsetof(a.ID), 0},
		{"gpio_v2_line_attribute.values", unsafe.Offsetof(a.Value), 8},
		{"sizeof gpio_v2_line_values", unsafe.Sizeof(v), 16},
		{"gpio_v2_line_values.mask", unsafe.Offsetof(v.Mask), 8},
		{"sizeof gpiochip_info", unsafe.Sizeof(ci), 68},
		{"gpiochip_info.label", unsafe.Offsetof(ci.Label), 32},
		{"gpiochip_info.lines", unsafe.Offsetof(ci.Lines), 64},
		{"sizeof gpio_v2_line_info", unsafe.Sizeof(li), 256},
		{"gpio_v2_line_info.offset", unsafe.Offsetof(li.Offset), 64},
		{"gpio_v2_line_info.num_attrs", unsafe.Offsetof(li.NumAttrs), 68},
		{"gpio_v2_line_info.flags", unsafe.Offsetof(li.Flags), 72},
		{"gpio_v2_line_info.attrs", unsafe.Offsetof(li.Attrs), 80},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// The request numbers of both _IOC layouts, as the kernel headers give them
// (and golang.org/x/sys/unix's per-architecture tables).
func TestIoctlNumbers(t *testing.T) {
	tests := []struct {
		name   string
		layout iocLayout
		dir    iocDir
		nr     uint8
		size   uintptr
		want   uint32
	}{
		{"generic GPIO_GET_CHIPINFO_IOCTL", genericLayout, iocRead, 0x01, 68, 0x8044b401},
		{"mips GPIO_GET_CHIPINFO_IOCTL", mipsLayout, iocRead, 0x01, 68, 0x4044b401},
		{"generic GPIO_V2_GET_LINEINFO_IOCTL", genericLayout, iocRead | iocWrite, 0x05, 256, 0xc100b405},
		{"mips GPIO_V2_GET_LINEINFO_IOCTL", mipsLayout, iocRead | iocWrite, 0x05, 256, 0xc100b405},
		{"generic GPIO_V2_GET_LINE_IOCTL", genericLayout, iocRead | iocWrite, 0x07, 592, 0xc250b407},
		{"mips GPIO_V2_GET_LINE_IOCTL", mipsLayout, iocRead | iocWrite, 0x07, 592, 0xc250b407},
		{"generic GPIO_V2_LINE_GET_VALUES_IOCTL", genericLayout, iocRead | iocWrite, 0x0E, 16, 0xc010b40e},
		{"generic GPIO_V2_LINE_SET_VALUES_IOCTL", genericLayout, iocRead | iocWrite, 0x0F, 16, 0xc010b40f},
		{"mips GPIO_V2_LINE_SET_VALUES_IOCTL", mipsLayout, iocRead | iocWrite, 0x0F, 16, 0xc010b40f},
		// Not used here, but they pin the write and none directions.
		{"generic GPIO_GET_LINEINFO_UNWATCH_IOCTL", genericLayout, iocRead | iocWrite, 0x0C, 4, 0xc004b40c},
		{"generic WDIOC_SETOPTIONS (_IOR W 4 int)", genericLayout, iocRead, 4, 4, 0x80045704},
		{"mips WDIOC_SETOPTIONS (_IOR W 4 int)", mipsLayout, iocRead, 4, 4, 0x40045704},
		{"generic _IOW('V', 18, int) VIDIOC_STREAMON", genericLayout, iocWrite, 18, 4, 0x40045612},
		{"mips _IOW('V', 18, int) VIDIOC_STREAMON", mipsLayout, iocWrite, 18, 4, 0x80045612},
		{"generic _IO('W', 0)", genericLayout, 0, 0, 0, 0x00005700},
		{"mips _IO('W', 0)", mipsLayout, 0, 0, 0, 0x20005700},
	}
	for _, tc := range tests {
		typ := uint8(iocType)
		if tc.want&0xff00 != 0xb400 {
			typ = uint8(tc.want >> 8)
		}
		if got := tc.layout.encode(tc.dir, typ, tc.nr, tc.size); got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

func TestIoctlTooLarge(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("encode of an 8 KiB argument on MIPS did not panic")
		}
	}()
	mipsLayout.encode(iocRead, iocType, 1, 1<<13)
}

func TestCString(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte("gpiochip0\x00\x00junk"), "gpiochip0"},
		{[]byte("full"), "full"},
		{[]byte{0, 'x'}, ""},
	} {
		if got := cString(tc.in); got != tc.want {
			t.Errorf("cString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
