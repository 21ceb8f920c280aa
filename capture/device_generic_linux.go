//go:build linux && !mips && !mipsle && !mips64 && !mips64le && !ppc64 && !ppc64le

package capture

// openDevice opens path with github.com/blackjack/webcam: its request
// numbers are right on this architecture (TestWebcamRequestsOnThisArch).
func openDevice(path string) (device, error) { return openWebcam(path) }
