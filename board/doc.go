// Package board describes the hardware the agent runs on.
//
// The same binary runs on a QEMU virt machine with the kernel's vivid camera,
// on a Raspberry Pi with a UVC or CSI camera, and on generic boards with a UVC
// camera. A Profile names what differs between them (video device and format
// preferences, SD card mount point, console, where identities come from), so
// the rest of the agent asks the board instead of hard-coding paths. Every path
// is read under a configurable root so tests run against a fake /proc and /sys.
package board
