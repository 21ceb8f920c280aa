package capture

import (
	"runtime"
	"testing"
	"unsafe"
)

// TestV4L2StructSizes checks this architecture's struct layouts against the
// kernel's (sizes32 or sizes64, ioc_test.go) and that the request numbers in
// use are those of its ioctl layout. Run on 32-bit targets too: make unit runs
// this package's tests for 386 natively and for arm and mipsle under
// qemu-user.
func TestV4L2StructSizes(t *testing.T) {
	want := sizes64
	if unsafe.Sizeof(uintptr(0)) == 4 {
		want = sizes32
	}
	if hostV4L2Sizes != want {
		t.Errorf("%s struct sizes:\n got %+v\nwant %+v", runtime.GOARCH, hostV4L2Sizes, want)
	}
	layout := genericIoc
	switch runtime.GOARCH {
	case "mips", "mipsle", "mips64", "mips64le", "ppc64", "ppc64le":
		layout = mipsIoc
	}
	if hostIoc != layout {
		t.Errorf("%s uses the %s ioctl layout, want %s", runtime.GOARCH, hostIoc.name, layout.name)
	}
	var f v4l2Format
	if o, p := unsafe.Offsetof(f.union), unsafe.Sizeof(uintptr(0)); o != p {
		t.Errorf("v4l2_format union at offset %d, want %d (pointer-aligned)", o, p)
	}
	var b v4l2Buffer
	if o, want := unsafe.Offsetof(b.m), map[uintptr]uintptr{4: 52, 8: 64}[unsafe.Sizeof(uintptr(0))]; o != want {
		t.Errorf("v4l2_buffer.m at offset %d, want %d", o, want)
	}
	if o, want := unsafe.Offsetof(b.length), map[uintptr]uintptr{4: 56, 8: 72}[unsafe.Sizeof(uintptr(0))]; o != want {
		t.Errorf("v4l2_buffer.length at offset %d, want %d", o, want)
	}
}
