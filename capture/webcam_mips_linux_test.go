//go:build linux && (mips || mipsle || mips64 || mips64le || ppc64 || ppc64le)

package capture

import (
	"testing"

	"github.com/blackjack/webcam"
)

// TestWebcamRequestsOnMIPS records why capture does not use
// github.com/blackjack/webcam here: its _IOR/_IOW numbers are the generic
// layout's, not this kernel's, while its _IOWR numbers agree. When an
// upstream release fixes this, the first check fails: switch openDevice back.
func TestWebcamRequestsOnMIPS(t *testing.T) {
	wrong := []struct {
		name      string
		ours, its uintptr
	}{
		{"QUERYCAP", vidioc.querycap, webcam.VIDIOC_QUERYCAP},
		{"STREAMON", vidioc.streamon, webcam.VIDIOC_STREAMON},
		{"STREAMOFF", vidioc.streamoff, webcam.VIDIOC_STREAMOFF},
		{"G_INPUT", vidioc.gInput, webcam.VIDIOC_G_INPUT},
	}
	for _, tc := range wrong {
		if tc.ours == tc.its {
			t.Errorf("VIDIOC_%s: blackjack/webcam now has the kernel's %#x: it may be fixed upstream", tc.name, tc.ours)
		}
	}
	right := []struct {
		name      string
		ours, its uintptr
	}{
		{"S_FMT", vidioc.sFmt, webcam.VIDIOC_S_FMT},
		{"QBUF", vidioc.qbuf, webcam.VIDIOC_QBUF},
		{"DQBUF", vidioc.dqbuf, webcam.VIDIOC_DQBUF},
		{"S_PARM", vidioc.sParm, webcam.VIDIOC_S_PARM},
	}
	for _, tc := range right {
		if tc.ours != tc.its {
			t.Errorf("VIDIOC_%s: blackjack/webcam %#x, the kernel's %#x", tc.name, tc.its, tc.ours)
		}
	}
}
