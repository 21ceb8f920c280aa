package config

import (
	"errors"
	"strings"
	"testing"
)

func TestPatch(t *testing.T) {
	base := Default()
	base.Capture.Controls = map[string]int32{"Brightness": 10}
	next, err := Patch(base, []byte("[motion]\nthreshold = 20\n[capture.controls]\nContrast = 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if next.Motion.Threshold != 20 || next.Capture.Controls["Brightness"] != 10 || next.Capture.Controls["Contrast"] != 5 {
		t.Fatalf("patched: threshold %d controls %v", next.Motion.Threshold, next.Capture.Controls)
	}
	if base.Motion.Threshold == 20 || len(base.Capture.Controls) != 1 {
		t.Fatal("Patch changed its input")
	}
	if got := Changed(base, next); strings.Join(got, ",") != "capture,motion" {
		t.Fatalf("changed sections %v", got)
	}
	for _, c := range []struct{ patch, want string }{
		{"[motion]\nthreshold = 999\n", "threshold: 999"},
		{"[motion]\nthreshhold = 20\n", "unknown key motion.threshhold"},
		{"[motion]\nthreshold = \"x\"\n", "motion.threshold"},
		{"[mqtt]\nbroker = \"tcp://x:1\"\nca = \"/ca\"\n", "mqtt.broker"},
		{"[motion\n", "line 1"},
	} {
		_, err := Patch(base, []byte(c.patch))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v (want %q)", c.patch, err, c.want)
		}
	}
}
