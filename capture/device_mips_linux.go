//go:build linux && (mips || mipsle || mips64 || mips64le || ppc64 || ppc64le)

package capture

// openDevice opens path with the agent's own V4L2 calls: the released
// github.com/blackjack/webcam (v0.6.1) encodes _IOR and _IOW request numbers
// (VIDIOC_QUERYCAP, STREAMON, STREAMOFF, G_INPUT) with the generic layout,
// which this architecture's kernel refuses with ENOTTY.
func openDevice(path string) (device, error) { return openVdev(path) }
