package boardtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Tree is a fake root file system (/sys, /proc, /dev, /etc) in a temporary
// directory. Paths given to its methods are absolute paths on the board
// ("/sys/class/leds/ACT"); they are created under Root.
type Tree struct {
	Root string
	t    testing.TB
}

// NewTree returns an empty tree in t.TempDir().
func NewTree(t testing.TB) *Tree { return &Tree{Root: t.TempDir(), t: t} }

// Path returns where the board path p is in the tree.
func (tr *Tree) Path(p string) string { return filepath.Join(tr.Root, p) }

// WriteFile creates the board file p with content (and its directories).
func (tr *Tree) WriteFile(p, content string) {
	tr.t.Helper()
	full := tr.Path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

// ReadFile returns the content of the board file p, or "<missing>".
func (tr *Tree) ReadFile(p string) string {
	tr.t.Helper()
	b, err := os.ReadFile(tr.Path(p))
	if os.IsNotExist(err) {
		return "<missing>"
	}
	if err != nil {
		tr.t.Fatal(err)
	}
	return string(b)
}

// LEDOptions shape a fake LED class device.
type LEDOptions struct {
	// Triggers offered; the current one is marked with brackets in the
	// trigger file. Nil means "none", "timer", "heartbeat", "pattern" and
	// "mmc0", with "mmc0" current.
	Triggers []string
	Current  string
	// MaxBrightness is written to max_brightness; 0 means "255", -1 leaves
	// the file out.
	MaxBrightness int
}

// LED creates /sys/class/leds/<name> with brightness, max_brightness and
// trigger, plus the files the timer and pattern triggers would add (delay_on,
// delay_off, pattern, repeat) when those triggers are offered. It returns the
// board path of the LED's directory.
func (tr *Tree) LED(name string, o LEDOptions) string {
	tr.t.Helper()
	if o.Triggers == nil {
		o.Triggers, o.Current = []string{"none", "timer", "heartbeat", "pattern", "mmc0"}, "mmc0"
	}
	dir := "/sys/class/leds/" + name
	words := make([]string, len(o.Triggers))
	for i, t := range o.Triggers {
		words[i] = t
		if t == o.Current {
			words[i] = "[" + t + "]"
		}
		switch t {
		case "timer":
			tr.WriteFile(dir+"/delay_on", "500\n")
			tr.WriteFile(dir+"/delay_off", "500\n")
		case "pattern":
			tr.WriteFile(dir+"/pattern", "\n")
			tr.WriteFile(dir+"/repeat", "-1\n")
		}
	}
	tr.WriteFile(dir+"/trigger", strings.Join(words, " ")+"\n")
	tr.WriteFile(dir+"/brightness", "0\n")
	switch o.MaxBrightness {
	case -1:
	case 0:
		tr.WriteFile(dir+"/max_brightness", "255\n")
	default:
		tr.WriteFile(dir+"/max_brightness", strconv.Itoa(o.MaxBrightness)+"\n")
	}
	return dir
}

// WatchdogDevice creates an empty regular file at the board path p (for
// example /dev/watchdog): the watchdog package writes its keepalives and
// magic close into it, and ReadFile shows them.
func (tr *Tree) WatchdogDevice(p string) {
	tr.t.Helper()
	tr.WriteFile(p, "")
}
