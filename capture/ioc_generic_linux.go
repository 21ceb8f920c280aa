//go:build linux && !mips && !mipsle && !mips64 && !mips64le && !ppc64 && !ppc64le

package capture

// hostIoc is the ioctl layout of the architecture this is built for.
var hostIoc = genericIoc
