//go:build mips || mipsle || mips64 || mips64le || ppc || ppc64 || ppc64le

package gpio

// hostLayout is the _IOC layout of the architecture this is built for.
var hostLayout = mipsLayout
