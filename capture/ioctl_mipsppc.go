//go:build linux && (mips || mipsle || mips64 || mips64le || ppc64 || ppc64le)

package capture

// iowr encodes _IOWR(t, nr, size) with the MIPS/PowerPC layout: 3 direction
// bits (read 2, write 4) and 13 size bits.
func iowr(t, nr, size uintptr) uintptr { return 6<<29 | size<<16 | t<<8 | nr }
