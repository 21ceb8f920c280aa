//go:build linux && !mips && !mipsle && !mips64 && !mips64le && !ppc64 && !ppc64le

package capture

// iowr encodes _IOWR(t, nr, size) with the generic Linux layout.
func iowr(t, nr, size uintptr) uintptr { return 3<<30 | size<<16 | t<<8 | nr }
