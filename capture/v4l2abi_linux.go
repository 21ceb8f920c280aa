package capture

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mirrors of the include/uapi/linux/videodev2.h structures the agent's own
// V4L2 calls pass (vdev_linux.go). Go lays them out as the C compiler of the
// same architecture does: the tests pin their sizes on 32- and 64-bit.

type v4l2Capability struct {
	driver       [16]byte
	card         [32]byte
	busInfo      [32]byte
	version      uint32
	capabilities uint32
	deviceCaps   uint32
	reserved     [3]uint32
}

type v4l2Fmtdesc struct {
	index       uint32
	typ         uint32
	flags       uint32
	description [32]byte
	pixelformat uint32
	mbusCode    uint32
	reserved    [3]uint32
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

type v4l2Requestbuffers struct {
	count        uint32
	typ          uint32
	memory       uint32
	capabilities uint32
	flags        uint8
	reserved     [3]uint8
}

// v4l2Buffer mirrors struct v4l2_buffer with the architecture's own struct
// timeval (32-bit seconds on 32-bit Linux, as Go's syscall ABI uses; the
// kernel accepts that size as its time32 variant) and the pointer-sized
// union m, whose first four bytes are the mmap offset.
type v4l2Buffer struct {
	index     uint32
	typ       uint32
	bytesused uint32
	flags     uint32
	field     uint32
	timestamp unix.Timeval
	timecode  [16]byte
	sequence  uint32
	memory    uint32
	m         [unsafe.Sizeof(uintptr(0))]byte
	length    uint32
	reserved2 uint32
	requestFD uint32
}

// offset is m.offset, the buffer's mmap offset.
func (b *v4l2Buffer) offset() uint32 { return *(*uint32)(unsafe.Pointer(&b.m[0])) }

// v4l2Streamparm mirrors struct v4l2_streamparm with the capture member of
// its 200-byte union (struct v4l2_captureparm) spelled out.
type v4l2Streamparm struct {
	typ          uint32
	capability   uint32
	capturemode  uint32
	numerator    uint32 // timeperframe
	denominator  uint32
	extendedmode uint32
	readbuffers  uint32
	_            [200 - 6*4]byte
}

type v4l2Queryctrl struct {
	id           uint32
	typ          uint32
	name         [32]byte
	minimum      int32
	maximum      int32
	step         int32
	defaultValue int32
	flags        uint32
	reserved     [2]uint32
}

type v4l2Control struct {
	id    uint32
	value int32
}

// hostV4L2Sizes are the argument sizes on the architecture this is built for.
var hostV4L2Sizes = v4l2Sizes{
	capability:     unsafe.Sizeof(v4l2Capability{}),
	fmtdesc:        unsafe.Sizeof(v4l2Fmtdesc{}),
	format:         unsafe.Sizeof(v4l2Format{}),
	requestbuffers: unsafe.Sizeof(v4l2Requestbuffers{}),
	buffer:         unsafe.Sizeof(v4l2Buffer{}),
	streamparm:     unsafe.Sizeof(v4l2Streamparm{}),
	queryctrl:      unsafe.Sizeof(v4l2Queryctrl{}),
	control:        unsafe.Sizeof(v4l2Control{}),
}

// vidioc are the V4L2 request numbers on the architecture this is built for.
var vidioc = hostIoc.v4l2Requests(hostV4L2Sizes)

// Constants of videodev2.h.
const (
	v4l2BufTypeVideoCapture = 1
	v4l2MemoryMmap          = 1
	v4l2FieldAny            = 0
	v4l2CapVideoCapture     = 0x00000001
	v4l2CapStreaming        = 0x04000000
	v4l2CapDeviceCaps       = 0x80000000
	v4l2CtrlFlagDisabled    = 0x0001
	v4l2CtrlFlagNextCtrl    = 0x80000000
	v4l2CtrlTypeInteger     = 1
	v4l2CtrlTypeBoolean     = 2
	v4l2CtrlTypeMenu        = 3
	v4l2CtrlTypeIntegerMenu = 9
)
