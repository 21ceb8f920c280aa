//go:build linux && !mips && !mipsle && !mips64 && !mips64le && !ppc64 && !ppc64le

package capture

import (
	"testing"

	"github.com/blackjack/webcam"
)

// TestWebcamRequestsOnThisArch: on the architectures where capture drives the
// camera through github.com/blackjack/webcam, its request numbers are the
// kernel's (ours, checked by TestV4L2Requests). If it fails, openDevice
// (device_generic_linux.go) must use openVdev here too.
func TestWebcamRequestsOnThisArch(t *testing.T) {
	tests := []struct {
		name      string
		ours, its uintptr
	}{
		{"QUERYCAP", vidioc.querycap, webcam.VIDIOC_QUERYCAP},
		{"ENUM_FMT", vidioc.enumFmt, webcam.VIDIOC_ENUM_FMT},
		{"S_FMT", vidioc.sFmt, webcam.VIDIOC_S_FMT},
		{"REQBUFS", vidioc.reqbufs, webcam.VIDIOC_REQBUFS},
		{"QUERYBUF", vidioc.querybuf, webcam.VIDIOC_QUERYBUF},
		{"QBUF", vidioc.qbuf, webcam.VIDIOC_QBUF},
		{"DQBUF", vidioc.dqbuf, webcam.VIDIOC_DQBUF},
		{"STREAMON", vidioc.streamon, webcam.VIDIOC_STREAMON},
		{"STREAMOFF", vidioc.streamoff, webcam.VIDIOC_STREAMOFF},
		{"G_PARM", vidioc.gParm, webcam.VIDIOC_G_PARM},
		{"S_PARM", vidioc.sParm, webcam.VIDIOC_S_PARM},
		{"S_CTRL", vidioc.sCtrl, webcam.VIDIOC_S_CTRL},
		{"QUERYCTRL", vidioc.queryctrl, webcam.VIDIOC_QUERYCTRL},
		{"G_INPUT", vidioc.gInput, webcam.VIDIOC_G_INPUT},
	}
	for _, tc := range tests {
		if tc.ours != tc.its {
			t.Errorf("VIDIOC_%s: blackjack/webcam %#x, the kernel's %#x", tc.name, tc.its, tc.ours)
		}
	}
}
