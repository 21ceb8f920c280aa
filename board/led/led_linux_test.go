package led_test

import (
	"os"
	"strings"
	"testing"

	"github.com/camagent/camagent/board/led"
)

// TestHardware drives a real LED class device: set CAMAGENT_TEST_LED to its
// name (under QEMU, a USB keyboard's "input1::capslock" with ledtrig-timer
// and ledtrig-pattern loaded). It is skipped otherwise.
func TestHardware(t *testing.T) {
	name := os.Getenv("CAMAGENT_TEST_LED")
	if name == "" {
		t.Skip("CAMAGENT_TEST_LED not set")
	}
	dir := "/sys/class/leds/" + name + "/"
	read := func(f string) string {
		b, err := os.ReadFile(dir + f)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	before := read("trigger")
	l, err := led.Open("/", []string{"no-such-led", name}, nil)
	if err != nil || l.Absent() {
		t.Fatalf("Open: %v (absent %v)", err, l.Absent())
	}
	tests := []struct {
		p     led.Pattern
		trig  string
		check map[string]string
	}{
		{led.Booting, "[timer]", map[string]string{"delay_on": "100", "delay_off": "100"}},
		{led.Recording, "[timer]", map[string]string{"delay_on": "1000", "delay_off": "1000"}},
		{led.Fault, "[pattern]", map[string]string{"repeat": "-1"}},
		{led.Online, "[none]", map[string]string{"brightness": read("max_brightness")}},
		{led.Off, "[none]", map[string]string{"brightness": "0"}},
	}
	for _, tc := range tests {
		if err := l.SetPattern(tc.p); err != nil {
			t.Errorf("SetPattern(%v): %v", tc.p, err)
			continue
		}
		if got := read("trigger"); !strings.Contains(" "+got+" ", " "+tc.trig+" ") {
			t.Errorf("%v: trigger %q, want %s current", tc.p, got, tc.trig)
		}
		for f, want := range tc.check {
			if got := read(f); got != want {
				t.Errorf("%v: %s = %q, want %q", tc.p, f, got, want)
			}
		}
		_, cur := led.ParseTriggers(read("trigger"))
		t.Logf("%v: trigger %s", tc.p, cur)
	}
	if err := l.Restore(); err != nil {
		t.Fatal(err)
	}
	if got := read("trigger"); got != before {
		t.Errorf("after Restore: trigger %q, want %q", got, before)
	}
}
