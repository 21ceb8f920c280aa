package capture

import (
	"testing"
	"unsafe"
)

// TestV4L2FormatLayout pins struct v4l2_format's layout: VIDIOC_G_FMT encodes
// the size, and the kernel writes the union at the pointer-aligned offset.
func TestV4L2FormatLayout(t *testing.T) {
	var f v4l2Format
	ptr := unsafe.Sizeof(uintptr(0))
	wantSize, wantOff := uintptr(204), uintptr(4)
	if ptr == 8 {
		wantSize, wantOff = 208, 8
	}
	if s, o := unsafe.Sizeof(f), unsafe.Offsetof(f.union); s != wantSize || o != wantOff {
		t.Errorf("v4l2_format: size %d, union at %d; want %d and %d", s, o, wantSize, wantOff)
	}
	if got := iowr('V', 4, unsafe.Sizeof(f)); ptr == 8 && got != 0xc0d05604 {
		t.Errorf("VIDIOC_G_FMT = %#x, want 0xc0d05604", got)
	}
}
