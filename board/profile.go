package board

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Line names one GPIO line: a line offset on a GPIO character device.
type Line struct {
	// Chip is the GPIO character device, "/dev/gpiochip0"; "" means the
	// board has no such line.
	Chip string
	// Offset is the line's offset on the chip (as gpioinfo lists it; on a
	// Raspberry Pi, the BCM GPIO number).
	Offset int
	// ActiveLow: the hardware is on when the line is low.
	ActiveLow bool
}

// Wired reports whether the line is set.
func (l Line) Wired() bool { return l.Chip != "" && l.Offset >= 0 }

func (l Line) String() string {
	if !l.Wired() {
		return "none"
	}
	s := fmt.Sprintf("%s:%d", l.Chip, l.Offset)
	if l.ActiveLow {
		s += " (active low)"
	}
	return s
}

// Profile is one kind of board: the paths and lines that differ between
// boards. Paths are the board's absolute paths; the agent opens them under a
// configurable root (Join), so tests can run against a fake tree.
type Profile struct {
	Name        string
	Description string

	// VideoDevice is the camera; Formats the capture formats to ask for,
	// most wanted first (capture.FormatNames).
	VideoDevice string
	Formats     []string

	// StatusLEDs are LED class names under /sys/class/leds; the first one
	// present shows the agent's state. None present: no status LED.
	StatusLEDs []string
	// IRCut is on while the IR-cut filter is in front of the sensor (day);
	// IRLED is on while the IR LEDs are lit (night).
	IRCut, IRLED Line
	// LightSensor is a sysfs file with an illuminance reading (an IIO
	// device's in_illuminance_input); "" when the board has none and the
	// day/night decision uses scene luma.
	LightSensor string

	// Watchdog is the hardware watchdog device ("" to leave it alone), and
	// WatchdogTimeout the timeout asked of it.
	Watchdog        string
	WatchdogTimeout time.Duration

	// SDDevice is the SD card's data partition ("" when any block device
	// mounted at SDMount will do); SDMount is where it is mounted.
	SDDevice string
	SDMount  string

	// DataDir is the persistent data directory (device key, certificate,
	// owner binding); KeystorePath the device key file, normally inside it.
	DataDir      string
	KeystorePath string

	// Console is the serial console `camagent shell` runs on.
	Console string

	// Firmware marks the boards the agent runs on as their firmware: only
	// there may the shell's privileged actions reboot the machine or erase
	// the agent's data. A developer's machine (generic-uvc) is not one, so
	// that no shell can reboot or wipe a host.
	Firmware bool

	// HardwareID lists the files a hardware ID is read from, in order:
	// the device-tree serial number, DMI product UUID, /etc/machine-id.
	HardwareID []string

	// MemoryBudget is how much RAM (resident, as the kernel counts it) the
	// agent may use on this board, in bytes; the config's memory_mb
	// overrides it. The agent sizes its buffers and sets the Go memory
	// limit from it (package agent/budget).
	MemoryBudget int64
	// LiveMemory is how much more than the memory budget the agent may use
	// while live viewers are connected (the viewer's session and frames);
	// 0 means viewers must fit the budget itself.
	LiveMemory int64
}

// Limits of a memory budget (Profile.MemoryBudget and the config's memory_mb).
const (
	MinMemoryBudget = 16 << 20
	MaxMemoryBudget = 4096 << 20
)

// Device-tree serial number paths: the procfs link and the sysfs node.
const (
	dtSerialProc  = "/proc/device-tree/serial-number"
	dtSerialSys   = "/sys/firmware/devicetree/base/serial-number"
	machineIDPath = "/etc/machine-id"
	dmiUUIDPath   = "/sys/class/dmi/id/product_uuid"
)

// The Raspberry Pi's IR-cut and IR LED lines: BCM GPIO 17 and 18 on the
// 40-pin header (pins 11 and 12), the lines most IR-cut camera boards for the
// Pi are wired to. They are configurable (see the README's [hardware]
// section); GPIO 18 is also PCM_CLK, used by I2S audio HATs.
const (
	piIRCutLine = 17
	piIRLEDLine = 18
)

func profiles() []Profile {
	return []Profile{
		{
			Name:        "qemu-virt",
			Description: "QEMU -M virt with the vivid V4L2 driver, a virtio SD card and a virtio flash partition",
			VideoDevice: "/dev/video0", Formats: []string{"YUYV"},
			// virt has no LEDs and no IR hardware; no watchdog either, unless
			// one is added (-device i6300esb): then it is used.
			Watchdog: "/dev/watchdog", WatchdogTimeout: 30 * time.Second,
			SDDevice: "/dev/vda", SDMount: "/mnt/sd",
			// The data folder is the flash partition, a second virtio disk
			// (serial camflash) that /init mounts here: the key is never on
			// the removable SD card.
			DataDir: "/var/lib/camagent", KeystorePath: "/var/lib/camagent/device.key",
			Console:    "/dev/ttyAMA0",
			Firmware:   true,
			HardwareID: []string{machineIDPath},
			// A small camera: 64-128 MB of RAM shared with the kernel, the
			// ISP and the encoder. The budgets of issue 11: 24 MiB with no
			// live viewer, 36 MiB while one is connected.
			MemoryBudget: 24 << 20, LiveMemory: 12 << 20,
		},
		{
			Name:        "raspberry-pi",
			Description: "Raspberry Pi with a UVC or CSI camera",
			VideoDevice: "/dev/video0", Formats: []string{"H264", "MJPEG", "YUYV"},
			// ACT is the green activity LED ("led0" before kernel 6.1); the
			// red PWR LED is left to the firmware, which uses it to show
			// under-voltage.
			StatusLEDs: []string{"ACT", "led0"},
			IRCut:      Line{Chip: "/dev/gpiochip0", Offset: piIRCutLine},
			IRLED:      Line{Chip: "/dev/gpiochip0", Offset: piIRLEDLine},
			// bcm2835_wdt allows at most 15 s.
			Watchdog: "/dev/watchdog", WatchdogTimeout: 15 * time.Second,
			// The SD card is the boot card: p1 boot, p2 root, p3 the data
			// partition the flashing instructions add.
			SDDevice: "/dev/mmcblk0p3", SDMount: "/mnt/sd",
			DataDir: "/var/lib/camagent", KeystorePath: "/var/lib/camagent/device.key",
			Console:    "/dev/ttyS0",
			Firmware:   true,
			HardwareID: []string{dtSerialProc, dtSerialSys, machineIDPath},
			// The smallest Pi a camera is built on (Zero 2 W) has 512 MB.
			MemoryBudget: 96 << 20,
		},
		{
			Name:        "generic-uvc",
			Description: "a Linux board with a UVC (USB) camera",
			VideoDevice: "/dev/video0", Formats: []string{"MJPEG", "YUYV", "NV12", "GREY"},
			Watchdog: "/dev/watchdog", WatchdogTimeout: 30 * time.Second,
			SDMount: "/mnt/sd",
			DataDir: "/var/lib/camagent", KeystorePath: "/var/lib/camagent/device.key",
			Console:      "/dev/ttyS0",
			HardwareID:   []string{dtSerialProc, dtSerialSys, dmiUUIDPath, machineIDPath},
			MemoryBudget: 64 << 20,
		},
	}
}

// Names lists the known board profiles.
func Names() []string {
	ps := profiles()
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// FirmwareNames lists the profiles marked Firmware.
func FirmwareNames() []string {
	var out []string
	for _, p := range profiles() {
		if p.Firmware {
			out = append(out, p.Name)
		}
	}
	return out
}

// Lookup returns the named profile. The profile is a fresh copy: callers may
// change its fields (from the config) without affecting later lookups.
func Lookup(name string) (Profile, error) {
	for _, p := range profiles() {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("board: unknown profile %q (one of %s)", name, strings.Join(Names(), ", "))
}

// Validate checks that every path is absolute and clean and every setting in
// range, naming the field in the error.
func (p Profile) Validate() error {
	var errs []error
	abs := func(field, v string, optional bool) {
		switch {
		case v == "" && optional:
		case v == "":
			errs = append(errs, fmt.Errorf("board: %s: empty", field))
		case !path.IsAbs(v) || path.Clean(v) != v:
			errs = append(errs, fmt.Errorf("board: %s: %q is not a clean absolute path", field, v))
		}
	}
	abs("video_device", p.VideoDevice, false)
	abs("sd_mount", p.SDMount, false)
	abs("sd_device", p.SDDevice, true)
	abs("data_dir", p.DataDir, false)
	abs("keystore", p.KeystorePath, false)
	abs("console", p.Console, true)
	abs("watchdog", p.Watchdog, true)
	abs("light_sensor", p.LightSensor, true)
	for _, h := range p.HardwareID {
		abs("hardware_id", h, false)
	}
	if p.MemoryBudget < MinMemoryBudget || p.MemoryBudget > MaxMemoryBudget {
		errs = append(errs, fmt.Errorf("board: memory_budget: %d bytes, want %d..%d MiB", p.MemoryBudget, MinMemoryBudget>>20, MaxMemoryBudget>>20))
	}
	if p.Watchdog != "" && (p.WatchdogTimeout < time.Second || p.WatchdogTimeout > 10*time.Minute) {
		errs = append(errs, fmt.Errorf("board: watchdog_timeout: %v, want 1s..10m", p.WatchdogTimeout))
	}
	for _, n := range p.StatusLEDs {
		if n == "" || n == "." || n == ".." || strings.ContainsRune(n, '/') {
			errs = append(errs, fmt.Errorf("board: status_leds: bad LED name %q", n))
		}
	}
	for _, l := range []struct {
		field string
		line  Line
	}{{"ir_cut", p.IRCut}, {"ir_led", p.IRLED}} {
		if l.line.Chip == "" {
			continue
		}
		abs(l.field+"_chip", l.line.Chip, false)
		if l.line.Offset < 0 || l.line.Offset > 511 {
			errs = append(errs, fmt.Errorf("board: %s_line: %d, want 0..511", l.field, l.line.Offset))
		}
	}
	if p.IRCut.Wired() && p.IRLED.Wired() && p.IRCut.Chip == p.IRLED.Chip && p.IRCut.Offset == p.IRLED.Offset {
		errs = append(errs, fmt.Errorf("board: ir_cut and ir_led are the same line %s", p.IRCut))
	}
	return errors.Join(errs...)
}

// Join returns where the board path p is under root ("" or "/" is the real
// root).
func Join(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	return filepath.Join(root, p)
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
