package gpio

import "unsafe"

// Sizes from include/uapi/linux/gpio.h.
const (
	maxNameSize = 32 // GPIO_MAX_NAME_SIZE
	linesMax    = 64 // GPIO_V2_LINES_MAX
	numAttrsMax = 10 // GPIO_V2_LINE_NUM_ATTRS_MAX
)

// enum gpio_v2_line_flag.
const (
	flagUsed         uint64 = 1 << 0
	flagActiveLow    uint64 = 1 << 1
	flagInput        uint64 = 1 << 2
	flagOutput       uint64 = 1 << 3
	flagEdgeRising   uint64 = 1 << 4
	flagEdgeFalling  uint64 = 1 << 5
	flagOpenDrain    uint64 = 1 << 6
	flagOpenSource   uint64 = 1 << 7
	flagBiasPullUp   uint64 = 1 << 8
	flagBiasPullDown uint64 = 1 << 9
	flagBiasDisabled uint64 = 1 << 10
)

// enum gpio_v2_line_attr_id.
const (
	attrFlags        = 1
	attrOutputValues = 2
	attrDebounce     = 3
)

// chipInfo is struct gpiochip_info (68 bytes).
type chipInfo struct {
	Name  [maxNameSize]byte
	Label [maxNameSize]byte
	Lines uint32
}

// lineValues is struct gpio_v2_line_values (16 bytes): bit i is the i-th line
// of the request.
type lineValues struct {
	Bits uint64
	Mask uint64
}

// lineAttribute is struct gpio_v2_line_attribute (16 bytes). Value is the
// union of flags, values and debounce_period_us (a __u32 in the union's first
// bytes, which on a big-endian machine would be the high half: this package
// never sets debounce).
type lineAttribute struct {
	ID    uint32
	_     uint32 // padding
	Value uint64
}

// lineConfigAttribute is struct gpio_v2_line_config_attribute (24 bytes).
type lineConfigAttribute struct {
	Attr lineAttribute
	Mask uint64
}

// lineConfig is struct gpio_v2_line_config (272 bytes).
type lineConfig struct {
	Flags    uint64
	NumAttrs uint32
	_        [5]uint32 // padding
	Attrs    [numAttrsMax]lineConfigAttribute
}

// lineRequest is struct gpio_v2_line_request (592 bytes).
type lineRequest struct {
	Offsets         [linesMax]uint32
	Consumer        [maxNameSize]byte
	Config          lineConfig
	NumLines        uint32
	EventBufferSize uint32
	_               [5]uint32 // padding
	Fd              int32
}

// lineInfo is struct gpio_v2_line_info (256 bytes).
type lineInfo struct {
	Name     [maxNameSize]byte
	Consumer [maxNameSize]byte
	Offset   uint32
	NumAttrs uint32
	Flags    uint64
	Attrs    [numAttrsMax]lineAttribute
	_        [4]uint32 // padding
}

// The ioctls, type 0xB4.
const iocType = 0xB4

var (
	getChipInfoIoctl = hostLayout.encode(iocRead, iocType, 0x01, unsafe.Sizeof(chipInfo{}))
	getLineInfoIoctl = hostLayout.encode(iocRead|iocWrite, iocType, 0x05, unsafe.Sizeof(lineInfo{}))
	getLineIoctl     = hostLayout.encode(iocRead|iocWrite, iocType, 0x07, unsafe.Sizeof(lineRequest{}))
	getValuesIoctl   = hostLayout.encode(iocRead|iocWrite, iocType, 0x0E, unsafe.Sizeof(lineValues{}))
	setValuesIoctl   = hostLayout.encode(iocRead|iocWrite, iocType, 0x0F, unsafe.Sizeof(lineValues{}))
)

// cString returns the NUL-terminated string at the start of b.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
