package capture

// This file is the arithmetic of Linux ioctl request numbers, for every
// architecture at once (so one host can test them all): the V4L2 calls carry
// their direction and argument size inside the number, and the kernel answers
// ENOTTY when either is wrong.

// iocDir is what an ioctl does with its argument.
type iocDir uint8

const (
	iocNone  iocDir = 0
	iocWrite iocDir = 1 << iota // _IOW: the kernel reads the argument
	iocRead                     // _IOR: the kernel writes the argument back
)

// iocLayout is how an architecture packs _IOC(dir, type, nr, size): nr in
// bits 0-7, type in bits 8-15, the size in the next sizeBits bits, the
// direction in the bits above.
type iocLayout struct {
	name              string
	none, read, write uintptr // direction field values
	sizeBits          uint
}

// genericIoc is include/uapi/asm-generic/ioctl.h, used by x86, ARM, arm64,
// RISC-V and most others: 2 direction bits (none 0, write 1, read 2) above 14
// size bits.
var genericIoc = iocLayout{name: "generic", none: 0, write: 1, read: 2, sizeBits: 14}

// mipsIoc is arch/mips/include/uapi/asm/ioctl.h (PowerPC packs the same way):
// 3 direction bits (none 1, read 2, write 4) above 13 size bits. _IOWR comes
// out equal to the generic layout's (3<<30 == 6<<29); _IO, _IOR and _IOW do
// not.
var mipsIoc = iocLayout{name: "mips", none: 1, write: 4, read: 2, sizeBits: 13}

// encode returns the request number of _IOC(d, typ, nr, size). It panics when
// size does not fit the size field: the structures are this package's own,
// so only a programming error gets there.
func (l iocLayout) encode(d iocDir, typ byte, nr uint8, size uintptr) uintptr {
	if size >= 1<<l.sizeBits {
		panic("capture: ioctl argument too large for the size field")
	}
	dir := l.none
	if d != iocNone {
		dir = 0
		if d&iocRead != 0 {
			dir |= l.read
		}
		if d&iocWrite != 0 {
			dir |= l.write
		}
	}
	return dir<<(16+l.sizeBits) | size<<16 | uintptr(typ)<<8 | uintptr(nr)
}

// v4l2Sizes are the argument sizes of the V4L2 calls the agent makes; they
// depend on the architecture's word size and time_t (struct v4l2_buffer holds
// a struct timeval and a pointer, struct v4l2_format a pointer-aligned union).
type v4l2Sizes struct {
	capability, fmtdesc, format, requestbuffers, buffer, streamparm, queryctrl, control uintptr
}

// v4l2Requests are the V4L2 request numbers the agent uses.
type v4l2Requests struct {
	querycap, enumFmt, gFmt, sFmt, reqbufs, querybuf, qbuf, dqbuf, streamon, streamoff,
	gParm, sParm, sCtrl, queryctrl, gInput uintptr
}

// v4l2Requests returns the request numbers of include/uapi/linux/videodev2.h
// for layout l and argument sizes s.
func (l iocLayout) v4l2Requests(s v4l2Sizes) v4l2Requests {
	const v = 'V'
	const sizeofInt = 4
	return v4l2Requests{
		querycap:  l.encode(iocRead, v, 0, s.capability),
		enumFmt:   l.encode(iocRead|iocWrite, v, 2, s.fmtdesc),
		gFmt:      l.encode(iocRead|iocWrite, v, 4, s.format),
		sFmt:      l.encode(iocRead|iocWrite, v, 5, s.format),
		reqbufs:   l.encode(iocRead|iocWrite, v, 8, s.requestbuffers),
		querybuf:  l.encode(iocRead|iocWrite, v, 9, s.buffer),
		qbuf:      l.encode(iocRead|iocWrite, v, 15, s.buffer),
		dqbuf:     l.encode(iocRead|iocWrite, v, 17, s.buffer),
		streamon:  l.encode(iocWrite, v, 18, sizeofInt),
		streamoff: l.encode(iocWrite, v, 19, sizeofInt),
		gParm:     l.encode(iocRead|iocWrite, v, 21, s.streamparm),
		sParm:     l.encode(iocRead|iocWrite, v, 22, s.streamparm),
		sCtrl:     l.encode(iocRead|iocWrite, v, 28, s.control),
		queryctrl: l.encode(iocRead|iocWrite, v, 36, s.queryctrl),
		gInput:    l.encode(iocRead, v, 38, sizeofInt),
	}
}
