package board

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLookup(t *testing.T) {
	for _, n := range Names() {
		p, err := Lookup(n)
		if err != nil || p.Name != n || p.VideoDevice == "" || p.SDMount == "" || len(p.Formats) == 0 {
			t.Errorf("Lookup(%q) = %+v, %v", n, p, err)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("profile %s does not validate: %v", n, err)
		}
	}
	if _, err := Lookup("toaster"); err == nil {
		t.Error("Lookup(toaster) succeeded")
	}
}

func TestLookupReturnsCopies(t *testing.T) {
	p, _ := Lookup("raspberry-pi")
	p.Formats[0] = "GREY"
	p.StatusLEDs[0] = "mine"
	p.IRCut.Offset = 4
	q, _ := Lookup("raspberry-pi")
	if q.Formats[0] != "H264" || q.StatusLEDs[0] != "ACT" || q.IRCut.Offset != 17 {
		t.Errorf("a change to one Lookup's result leaked into the next: %+v", q)
	}
}

func TestProfiles(t *testing.T) {
	qemu, _ := Lookup("qemu-virt")
	pi, _ := Lookup("raspberry-pi")
	if len(qemu.StatusLEDs) != 0 || qemu.IRCut.Wired() || qemu.IRLED.Wired() || qemu.SDDevice != "/dev/vda" {
		t.Errorf("qemu-virt: %+v", qemu)
	}
	if pi.IRCut.String() != "/dev/gpiochip0:17" || pi.IRLED.String() != "/dev/gpiochip0:18" ||
		pi.WatchdogTimeout != 15*time.Second || pi.HardwareID[0] != "/proc/device-tree/serial-number" {
		t.Errorf("raspberry-pi: %+v", pi)
	}
}

func TestValidate(t *testing.T) {
	base, _ := Lookup("raspberry-pi")
	tests := []struct {
		name    string
		change  func(p *Profile)
		wantErr string
	}{
		{"ok", func(*Profile) {}, ""},
		{"relative video", func(p *Profile) { p.VideoDevice = "video0" }, "video_device"},
		{"unclean mount", func(p *Profile) { p.SDMount = "/mnt/../sd" }, "sd_mount"},
		{"empty keystore", func(p *Profile) { p.KeystorePath = "" }, "keystore"},
		{"no watchdog is fine", func(p *Profile) { p.Watchdog, p.WatchdogTimeout = "", 0 }, ""},
		{"watchdog timeout", func(p *Profile) { p.WatchdogTimeout = 0 }, "watchdog_timeout"},
		{"LED name", func(p *Profile) { p.StatusLEDs = []string{"../x"} }, "status_leds"},
		{"line range", func(p *Profile) { p.IRLED.Offset = 9999 }, "ir_led_line"},
		{"same line", func(p *Profile) { p.IRLED = p.IRCut }, "same line"},
		{"no IR is fine", func(p *Profile) { p.IRCut, p.IRLED = Line{}, Line{} }, ""},
		{"chip path", func(p *Profile) { p.IRCut.Chip = "gpiochip0" }, "ir_cut_chip"},
		{"hardware id path", func(p *Profile) { p.HardwareID = []string{"etc/machine-id"} }, "hardware_id"},
	}
	for _, tc := range tests {
		p := base
		p.HardwareID = append([]string(nil), base.HardwareID...)
		tc.change(&p)
		err := p.Validate()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: Validate = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestJoin(t *testing.T) {
	for _, tc := range []struct{ root, p, want string }{
		{"", "/dev/watchdog", "/dev/watchdog"},
		{"/", "/dev/watchdog", "/dev/watchdog"},
		{"/tmp/x", "/dev/watchdog", "/tmp/x/dev/watchdog"},
	} {
		if got := Join(tc.root, tc.p); got != tc.want {
			t.Errorf("Join(%q, %q) = %q", tc.root, tc.p, got)
		}
	}
}

func TestBootID(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" means no file
		want    string
		wantErr bool
	}{
		{"present", "0b6c1a0e-2f6b-4d1e-9b8a-3c1f2e4d5a6b\n", "0b6c1a0e-2f6b-4d1e-9b8a-3c1f2e4d5a6b", false},
		{"empty", "\n", "", true},
		{"absent", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.content != "" {
				dir := filepath.Join(root, "sys/kernel/random")
				os.MkdirAll(dir, 0o755)
				os.WriteFile(filepath.Join(dir, "boot_id"), []byte(tc.content), 0o644)
			}
			got, err := BootID(root)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("BootID = %q, %v", got, err)
			}
		})
	}
}
