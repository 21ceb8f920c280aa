package capture

import "testing"

// The argument sizes of the V4L2 structures on 64-bit Linux and on 32-bit
// Linux with 32-bit time_t (what Go's 386, arm and mips ports use).
var (
	sizes64 = v4l2Sizes{capability: 104, fmtdesc: 64, format: 208, requestbuffers: 20, buffer: 88,
		streamparm: 204, queryctrl: 68, control: 8}
	sizes32 = v4l2Sizes{capability: 104, fmtdesc: 64, format: 204, requestbuffers: 20, buffer: 68,
		streamparm: 204, queryctrl: 68, control: 8}
)

// TestV4L2Requests pins the request numbers to the ones a C program gets from
// <linux/videodev2.h> on each kind of architecture (written out by hand from
// the kernel's _IOC macros: direction, size, 'V', number).
func TestV4L2Requests(t *testing.T) {
	tests := []struct {
		name   string
		layout iocLayout
		sizes  v4l2Sizes
		want   v4l2Requests
	}{
		{"amd64/arm64", genericIoc, sizes64, v4l2Requests{
			querycap: 0x80685600, enumFmt: 0xc0405602, gFmt: 0xc0d05604, sFmt: 0xc0d05605,
			reqbufs: 0xc0145608, querybuf: 0xc0585609, qbuf: 0xc058560f, dqbuf: 0xc0585611,
			streamon: 0x40045612, streamoff: 0x40045613, gParm: 0xc0cc5615, sParm: 0xc0cc5616,
			sCtrl: 0xc008561c, queryctrl: 0xc0445624, gInput: 0x80045626}},
		{"386/arm", genericIoc, sizes32, v4l2Requests{
			querycap: 0x80685600, enumFmt: 0xc0405602, gFmt: 0xc0cc5604, sFmt: 0xc0cc5605,
			reqbufs: 0xc0145608, querybuf: 0xc0445609, qbuf: 0xc044560f, dqbuf: 0xc0445611,
			streamon: 0x40045612, streamoff: 0x40045613, gParm: 0xc0cc5615, sParm: 0xc0cc5616,
			sCtrl: 0xc008561c, queryctrl: 0xc0445624, gInput: 0x80045626}},
		{"mips/mipsle", mipsIoc, sizes32, v4l2Requests{
			querycap: 0x40685600, enumFmt: 0xc0405602, gFmt: 0xc0cc5604, sFmt: 0xc0cc5605,
			reqbufs: 0xc0145608, querybuf: 0xc0445609, qbuf: 0xc044560f, dqbuf: 0xc0445611,
			streamon: 0x80045612, streamoff: 0x80045613, gParm: 0xc0cc5615, sParm: 0xc0cc5616,
			sCtrl: 0xc008561c, queryctrl: 0xc0445624, gInput: 0x40045626}},
		{"mips64/ppc64", mipsIoc, sizes64, v4l2Requests{
			querycap: 0x40685600, enumFmt: 0xc0405602, gFmt: 0xc0d05604, sFmt: 0xc0d05605,
			reqbufs: 0xc0145608, querybuf: 0xc0585609, qbuf: 0xc058560f, dqbuf: 0xc0585611,
			streamon: 0x80045612, streamoff: 0x80045613, gParm: 0xc0cc5615, sParm: 0xc0cc5616,
			sCtrl: 0xc008561c, queryctrl: 0xc0445624, gInput: 0x40045626}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.layout.v4l2Requests(tc.sizes); got != tc.want {
				t.Errorf("requests (%s layout):\n got %#x\nwant %#x", tc.layout.name, got, tc.want)
			}
		})
	}
}

// TestIocDirections: _IO differs between the layouts (none is 1 on MIPS), and
// _IOWR is the same number on both.
func TestIocDirections(t *testing.T) {
	tests := []struct {
		dir          iocDir
		generic, mip uintptr
	}{
		{iocNone, 0x00005601, 0x20005601},
		{iocRead, 0x80045601, 0x40045601},
		{iocWrite, 0x40045601, 0x80045601},
		{iocRead | iocWrite, 0xc0045601, 0xc0045601},
	}
	for _, tc := range tests {
		size := uintptr(4)
		if tc.dir == iocNone {
			size = 0
		}
		if got := genericIoc.encode(tc.dir, 'V', 1, size); got != tc.generic {
			t.Errorf("generic dir %d: %#x, want %#x", tc.dir, got, tc.generic)
		}
		if got := mipsIoc.encode(tc.dir, 'V', 1, size); got != tc.mip {
			t.Errorf("mips dir %d: %#x, want %#x", tc.dir, got, tc.mip)
		}
	}
}

func TestIocSizeTooLarge(t *testing.T) {
	for _, l := range []iocLayout{genericIoc, mipsIoc} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: a size of 1<<%d did not panic", l.name, l.sizeBits)
				}
			}()
			l.encode(iocRead, 'V', 0, 1<<l.sizeBits)
		}()
	}
}

func TestFrameInterval(t *testing.T) {
	tests := []struct {
		fps      float64
		num, den uint32
	}{{25, 1, 25}, {5, 1, 5}, {29.97, 1000, 29970}, {12.5, 1000, 12500}}
	for _, tc := range tests {
		if n, d := frameInterval(tc.fps); n != tc.num || d != tc.den {
			t.Errorf("frameInterval(%g) = %d/%d, want %d/%d", tc.fps, n, d, tc.num, tc.den)
		}
	}
}
