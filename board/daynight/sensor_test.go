package daynight

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var sensorTests = []struct {
	in      string
	want    float64
	wantErr bool
}{
	{"123\n", 123, false},
	{"  0.5 ", 0.5, false},
	{"0", 0, false},
	{"-3\n", 0, true},
	{"NaN", 0, true},
	{"inf", 0, true},
	{"1e300", 0, true},
	{"", 0, true},
	{"12 lux", 0, true},
	{strings.Repeat("1", 65), 0, true},
}

func TestParseSensor(t *testing.T) {
	for _, tc := range sensorTests {
		got, err := ParseSensor([]byte(tc.in))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseSensor(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestReadSensor(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "in_illuminance_input")
	os.WriteFile(p, []byte("42.25\n"), 0o644)
	if v, err := ReadSensor(p); err != nil || v != 42.25 {
		t.Errorf("ReadSensor = %v, %v", v, err)
	}
	os.WriteFile(p, []byte(strings.Repeat("9", 1000)), 0o644)
	if _, err := ReadSensor(p); err == nil {
		t.Error("ReadSensor of a 1000-byte file succeeded")
	}
	if _, err := ReadSensor(filepath.Join(dir, "missing")); err == nil {
		t.Error("ReadSensor of a missing file succeeded")
	}
}

func FuzzParseSensor(f *testing.F) {
	for _, tc := range sensorTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseSensor(b)
		if err == nil && (v < 0 || v > 1e9 || v != v) {
			t.Errorf("ParseSensor(%q) = %v", b, v)
		}
	})
}
