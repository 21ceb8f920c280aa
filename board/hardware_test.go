package board_test

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/board/boardtest"
	"github.com/camagent/camagent/board/led"
)

func TestOpenStatusLED(t *testing.T) {
	pi, _ := board.Lookup("raspberry-pi")
	qemu, _ := board.Lookup("qemu-virt")
	tests := []struct {
		name     string
		p        board.Profile
		leds     []string
		wantName string
	}{
		{"pi with ACT", pi, []string{"ACT", "PWR"}, "ACT"},
		{"older pi with led0", pi, []string{"led0", "led1"}, "led0"},
		{"qemu: absent", qemu, nil, ""},
		{"pi without LEDs: absent", pi, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := boardtest.NewTree(t)
			for _, n := range tc.leds {
				tr.LED(n, boardtest.LEDOptions{})
			}
			l, err := board.OpenStatusLED(tc.p, tr.Root, nil)
			if err != nil {
				t.Fatal(err)
			}
			if l.Name() != tc.wantName || l.Absent() != (tc.wantName == "") {
				t.Errorf("LED %q absent %v", l.Name(), l.Absent())
			}
			if err := l.SetPattern(led.Online); err != nil {
				t.Fatal(err)
			}
			if tc.wantName != "" && tr.ReadFile("/sys/class/leds/"+tc.wantName+"/brightness") != "255" {
				t.Error("online did not light the LED")
			}
		})
	}
}

func TestOpenWatchdog(t *testing.T) {
	qemu, _ := board.Lookup("qemu-virt")
	tr := boardtest.NewTree(t)
	w, err := board.OpenWatchdog(qemu, tr.Root, nil)
	if err != nil || !w.Absent() {
		t.Fatalf("qemu-virt without a watchdog: absent %v, %v", w.Absent(), err)
	}
	off := qemu
	off.Watchdog = ""
	tr.WatchdogDevice("/dev/watchdog")
	if w, err := board.OpenWatchdog(off, tr.Root, nil); err != nil || !w.Absent() {
		t.Fatalf("watchdog disabled in the profile: absent %v, %v", w.Absent(), err)
	}
	w, err = board.OpenWatchdog(qemu, tr.Root, nil)
	if err != nil || w.Absent() || w.Timeout() != 30*time.Second {
		t.Fatalf("with a device: absent %v timeout %v, %v", w.Absent(), w.Timeout(), err)
	}
	w.Pet()
	w.Close()
	if got := tr.ReadFile("/dev/watchdog"); got != "\x00V" {
		t.Errorf("device got %q", got)
	}
}

func TestOpenIR(t *testing.T) {
	pi, _ := board.Lookup("raspberry-pi")
	qemu, _ := board.Lookup("qemu-virt")

	// No lines in the profile: absent.
	ir, err := board.OpenIR(qemu, boardtest.NewTree(t).Root, nil)
	if err != nil || !ir.Absent() || ir.Cut != nil || ir.LED != nil {
		t.Fatalf("qemu-virt: %+v, %v", ir, err)
	}
	// Lines in the profile but no chip: absent.
	ir, err = board.OpenIR(pi, boardtest.NewTree(t).Root, nil)
	if err != nil || !ir.Absent() {
		t.Fatalf("pi without /dev/gpiochip0: %+v, %v", ir, err)
	}
	if err := ir.Close(); err != nil {
		t.Error(err)
	}
	// A chip that is not a GPIO chip: broken.
	tr := boardtest.NewTree(t)
	tr.WriteFile("/dev/gpiochip0", "")
	if _, err := board.OpenIR(pi, tr.Root, nil); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("pi with a bogus gpiochip0: %v, want a failure", err)
	}
}
