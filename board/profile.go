package board

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Profile is one kind of board.
type Profile struct {
	Name        string
	Description string
	VideoDevice string
	Formats     []string // capture format preference
	SDMount     string
	Console     string
}

var profiles = []Profile{
	{Name: "qemu-virt", Description: "QEMU -M virt with the vivid V4L2 driver and a virtio SD card",
		VideoDevice: "/dev/video0", Formats: []string{"YUYV"}, SDMount: "/mnt/sd", Console: "/dev/ttyAMA0"},
	{Name: "raspberry-pi", Description: "Raspberry Pi with a UVC or CSI camera",
		VideoDevice: "/dev/video0", Formats: []string{"H264", "MJPEG", "YUYV"}, SDMount: "/mnt/sd", Console: "/dev/ttyS0"},
	{Name: "generic-uvc", Description: "a Linux board with a UVC (USB) camera",
		VideoDevice: "/dev/video0", Formats: []string{"MJPEG", "YUYV", "NV12", "GREY"}, SDMount: "/mnt/sd", Console: "/dev/ttyS0"},
}

// Names lists the known board profiles.
func Names() []string {
	out := make([]string, len(profiles))
	for i, p := range profiles {
		out[i] = p.Name
	}
	return out
}

// Lookup returns the named profile.
func Lookup(name string) (Profile, error) {
	for _, p := range profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("board: unknown profile %q (one of %s)", name, strings.Join(Names(), ", "))
}

// BootID returns the kernel's random ID of this boot, read under procRoot
// (normally "/proc"); it tells one run of the device from the next.
func BootID(procRoot string) (string, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "sys/kernel/random/boot_id"))
	if err != nil {
		return "", fmt.Errorf("board: boot id: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if id == "" {
		return "", fmt.Errorf("board: boot id: empty")
	}
	return id, nil
}
