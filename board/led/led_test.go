package led_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/camagent/camagent/board/boardtest"
	"github.com/camagent/camagent/board/led"
)

func TestSetPattern(t *testing.T) {
	full := boardtest.LEDOptions{}
	noPattern := boardtest.LEDOptions{Triggers: []string{"none", "timer", "mmc0"}, Current: "mmc0", MaxBrightness: 1}
	noTimer := boardtest.LEDOptions{Triggers: []string{"none", "default-on"}, Current: "default-on", MaxBrightness: -1}
	// want maps a file of the LED directory to its expected content after
	// SetPattern ("" for files that are not checked).
	tests := []struct {
		name string
		opts boardtest.LEDOptions
		p    led.Pattern
		want map[string]string
	}{
		{"off", full, led.Off, map[string]string{"trigger": "none", "brightness": "0"}},
		{"online", full, led.Online, map[string]string{"trigger": "none", "brightness": "255"}},
		{"online max 1", noPattern, led.Online, map[string]string{"trigger": "none", "brightness": "1"}},
		{"booting", full, led.Booting, map[string]string{"trigger": "timer", "delay_on": "100", "delay_off": "100"}},
		{"recording", full, led.Recording, map[string]string{"trigger": "timer", "delay_on": "1000", "delay_off": "1000"}},
		{"fault double blink", full, led.Fault, map[string]string{"trigger": "pattern", "repeat": "-1",
			"pattern": "255 100 255 0 0 100 0 0 255 100 255 0 0 700 0 0"}},
		{"fault without pattern trigger", noPattern, led.Fault, map[string]string{"trigger": "timer", "delay_on": "50", "delay_off": "50"}},
		{"booting without timer: solid", noTimer, led.Booting, map[string]string{"trigger": "none", "brightness": "1"}},
		{"fault without timer: solid", noTimer, led.Fault, map[string]string{"trigger": "none", "brightness": "1"}},
		{"off without timer", noTimer, led.Off, map[string]string{"trigger": "none", "brightness": "0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := boardtest.NewTree(t)
			dir := tr.LED("ACT", tc.opts)
			l, err := led.Open(tr.Root, []string{"ACT"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if l.Absent() || l.Name() != "ACT" {
				t.Fatalf("Open: absent %v name %q", l.Absent(), l.Name())
			}
			if err := l.SetPattern(tc.p); err != nil {
				t.Fatal(err)
			}
			for f, want := range tc.want {
				if got := tr.ReadFile(dir + "/" + f); got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
			if l.Pattern() != tc.p || l.State() != tc.p.String() {
				t.Errorf("Pattern %v State %q", l.Pattern(), l.State())
			}
		})
	}
}

func TestFirstPresentName(t *testing.T) {
	tr := boardtest.NewTree(t)
	tr.LED("led0", boardtest.LEDOptions{})
	tr.LED("PWR", boardtest.LEDOptions{})
	l, err := led.Open(tr.Root, []string{"ACT", "led0", "PWR"}, nil)
	if err != nil || l.Name() != "led0" {
		t.Fatalf("Open = %q, %v; want led0 (ACT is missing)", l.Name(), err)
	}
}

func TestAbsent(t *testing.T) {
	tr := boardtest.NewTree(t)
	for _, names := range [][]string{nil, {"ACT", "led0"}} {
		l, err := led.Open(tr.Root, names, nil)
		if err != nil {
			t.Fatalf("Open(%v) on a board without LEDs: %v", names, err)
		}
		if !l.Absent() || l.State() != "absent" {
			t.Errorf("Absent %v State %q", l.Absent(), l.State())
		}
		for _, p := range []led.Pattern{led.Booting, led.Fault} {
			if err := l.SetPattern(p); err != nil || l.Pattern() != p {
				t.Errorf("SetPattern(%v) on an absent LED: %v, Pattern %v", p, err, l.Pattern())
			}
		}
		if err := l.Restore(); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(tr.Path("/sys")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("an absent LED created files")
	}
}

func TestBroken(t *testing.T) {
	tests := []struct {
		name  string
		setup func(tr *boardtest.Tree)
		names []string
	}{
		{"no trigger file", func(tr *boardtest.Tree) { tr.WriteFile("/sys/class/leds/ACT/brightness", "0\n") }, []string{"ACT"}},
		{"bad max_brightness", func(tr *boardtest.Tree) {
			tr.LED("ACT", boardtest.LEDOptions{})
			tr.WriteFile("/sys/class/leds/ACT/max_brightness", "lots\n")
		}, []string{"ACT"}},
		{"zero max_brightness", func(tr *boardtest.Tree) {
			tr.LED("ACT", boardtest.LEDOptions{})
			tr.WriteFile("/sys/class/leds/ACT/max_brightness", "0\n")
		}, []string{"ACT"}},
		{"bad name", func(*boardtest.Tree) {}, []string{"../../etc"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := boardtest.NewTree(t)
			tc.setup(tr)
			if l, err := led.Open(tr.Root, tc.names, nil); err == nil {
				t.Errorf("Open succeeded: %q", l.Name())
			}
		})
	}
}

func TestWriteFailure(t *testing.T) {
	tr := boardtest.NewTree(t)
	dir := tr.LED("ACT", boardtest.LEDOptions{})
	l, err := led.Open(tr.Root, []string{"ACT"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The timer trigger's files vanish: a driver that refuses the trigger.
	os.Remove(tr.Path(dir + "/delay_on"))
	err = l.SetPattern(led.Booting)
	if err == nil || !strings.Contains(err.Error(), "led: ACT: set booting") {
		t.Fatalf("SetPattern = %v", err)
	}
	if l.State() != "booting (failed)" {
		t.Errorf("State = %q", l.State())
	}
	// The same pattern is tried again (it was not applied).
	tr.WriteFile(dir+"/delay_on", "500\n")
	if err := l.SetPattern(led.Booting); err != nil || tr.ReadFile(dir+"/delay_on") != "100" || l.State() != "booting" {
		t.Errorf("retry: %v, delay_on %q, state %q", err, tr.ReadFile(dir+"/delay_on"), l.State())
	}
	if err := l.SetPattern(led.Pattern(99)); err == nil {
		t.Error("SetPattern(99) succeeded")
	}
}

func TestSamePatternWritesNothing(t *testing.T) {
	tr := boardtest.NewTree(t)
	dir := tr.LED("ACT", boardtest.LEDOptions{})
	l, _ := led.Open(tr.Root, []string{"ACT"}, nil)
	if err := l.SetPattern(led.Online); err != nil {
		t.Fatal(err)
	}
	tr.WriteFile(dir+"/brightness", "7")
	if err := l.SetPattern(led.Online); err != nil || tr.ReadFile(dir+"/brightness") != "7" {
		t.Errorf("second SetPattern(online) wrote brightness: %q, %v", tr.ReadFile(dir+"/brightness"), err)
	}
}

func TestRestore(t *testing.T) {
	tr := boardtest.NewTree(t)
	dir := tr.LED("ACT", boardtest.LEDOptions{})
	l, _ := led.Open(tr.Root, []string{"ACT"}, nil)
	l.SetPattern(led.Recording)
	if err := l.Restore(); err != nil || tr.ReadFile(dir+"/trigger") != "mmc0" {
		t.Errorf("Restore: %v, trigger %q, want mmc0", err, tr.ReadFile(dir+"/trigger"))
	}
	// After Restore, setting the same pattern writes again.
	if err := l.SetPattern(led.Recording); err != nil || tr.ReadFile(dir+"/trigger") != "timer" {
		t.Errorf("SetPattern after Restore: %v, trigger %q", err, tr.ReadFile(dir+"/trigger"))
	}
}

func TestParseTriggers(t *testing.T) {
	tests := []struct {
		in      string
		all     string
		current string
	}{
		{"none rc-feedback kbd-scrolllock timer oneshot heartbeat [mmc0] default-on\n",
			"none rc-feedback kbd-scrolllock timer oneshot heartbeat mmc0 default-on", "mmc0"},
		{"[none] timer\n", "none timer", "none"},
		{"none timer", "none timer", ""},
		{"", "", ""},
		{"[] [x", "[] [x", ""},
	}
	for _, tc := range tests {
		all, cur := led.ParseTriggers(tc.in)
		if strings.Join(all, " ") != tc.all || cur != tc.current {
			t.Errorf("ParseTriggers(%q) = %q, %q; want %q, %q", tc.in, all, cur, tc.all, tc.current)
		}
	}
}

func FuzzParseTriggers(f *testing.F) {
	for _, s := range []string{"none timer [mmc0]", "[none]", "", "[] [x", strings.Repeat("[a] ", 2000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		all, cur := led.ParseTriggers(s)
		if cur != "" {
			found := false
			for _, a := range all {
				found = found || a == cur
			}
			if !found {
				t.Errorf("current %q not among %q", cur, all)
			}
		}
		for _, a := range all {
			if a == "" || strings.ContainsAny(a, " \t\n") {
				t.Errorf("bad trigger name %q", a)
			}
		}
	})
}

func TestParsePattern(t *testing.T) {
	for _, n := range led.Patterns() {
		p, err := led.ParsePattern(n)
		if err != nil || p.String() != n {
			t.Errorf("ParsePattern(%q) = %v, %v", n, p, err)
		}
	}
	if _, err := led.ParsePattern("disco"); err == nil {
		t.Error("ParsePattern(disco) succeeded")
	}
	if s := led.Pattern(42).String(); s != "pattern(42)" {
		t.Errorf("String = %q", s)
	}
}
