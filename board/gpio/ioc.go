package gpio

// iocDir is an _IOC direction: what the kernel does with the argument.
type iocDir uint8

const (
	iocWrite iocDir = 1 << iota // _IOW: user space writes, the kernel reads
	iocRead                     // _IOR: the kernel writes back
)

// iocLayout is how an architecture packs _IOC(dir, type, nr, size) into 32
// bits: nr in bits 0-7, type in 8-15, then size, then the direction.
type iocLayout struct {
	none, read, write uint32 // direction values
	sizeBits          uint   // width of the size field
}

// genericLayout is asm-generic/ioctl.h (x86, ARM, arm64, RISC-V...): 2
// direction bits (write 1, read 2) above a 14-bit size.
var genericLayout = iocLayout{none: 0, read: 2, write: 1, sizeBits: 14}

// mipsLayout is arch/mips (and powerpc) ioctl.h: 3 direction bits (none 1,
// read 2, write 4) above a 13-bit size.
var mipsLayout = iocLayout{none: 1, read: 2, write: 4, sizeBits: 13}

// encode returns the ioctl request number. It panics if size does not fit
// the layout, which only a programming error in this package can cause.
func (l iocLayout) encode(d iocDir, typ, nr uint8, size uintptr) uint32 {
	if size >= 1<<l.sizeBits {
		panic("gpio: ioctl argument too large for the size field")
	}
	dir := l.none
	if d != 0 {
		dir = 0
		if d&iocRead != 0 {
			dir |= l.read
		}
		if d&iocWrite != 0 {
			dir |= l.write
		}
	}
	return dir<<(16+l.sizeBits) | uint32(size)<<16 | uint32(typ)<<8 | uint32(nr)
}
