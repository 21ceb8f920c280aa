// Package e2e holds the end-to-end test of the QEMU camera: it boots the
// initramfs that scripts/image.sh builds (the arm64 agent, the kernel's vivid
// driver as the camera, a disk image as the SD card) with scripts/qemu.sh, talks
// to the agent through the serial console, powers the camera off and checks the
// SD card from the host. It exists so that one command (make e2e) shows that
// the agent captures, answers and shuts down cleanly on a real kernel, which no
// unit test on the host can show.
//
// The test runs only with CAMAGENT_E2E=1 (make e2e sets it), since it needs the
// built image and QEMU.
package e2e
