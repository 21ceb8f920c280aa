package board_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/board/boardtest"
)

func TestHardwareID(t *testing.T) {
	pi, _ := board.Lookup("raspberry-pi")
	tests := []struct {
		name       string
		files      map[string]string
		wantID     string
		wantSource string
		wantErr    string
		wantAbsent bool
	}{
		{"pi serial", map[string]string{
			"/proc/device-tree/serial-number": "10000000abcdef01\x00",
			"/etc/machine-id":                 "0123456789abcdef0123456789abcdef\n",
		}, "10000000abcdef01", "/proc/device-tree/serial-number", "", false},
		{"sysfs serial when /proc/device-tree is missing", map[string]string{
			"/sys/firmware/devicetree/base/serial-number": "00000000c0ffee42\x00",
		}, "00000000c0ffee42", "/sys/firmware/devicetree/base/serial-number", "", false},
		{"machine-id fallback", map[string]string{
			"/etc/machine-id": "0123456789abcdef0123456789abcdef\n",
		}, "0123456789abcdef0123456789abcdef", "/etc/machine-id", "", false},
		{"zero serial skipped for machine-id", map[string]string{
			"/proc/device-tree/serial-number": "0000000000000000\x00",
			"/etc/machine-id":                 "fedcba9876543210fedcba9876543210\n",
		}, "fedcba9876543210fedcba9876543210", "/etc/machine-id", "", false},
		{"only broken sources", map[string]string{
			"/proc/device-tree/serial-number": "0000000000000000\x00",
			"/etc/machine-id":                 "uninitialized\n",
		}, "", "", "serial-number: all zeros", false},
		{"nothing", nil, "", "", "no hardware ID source", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := boardtest.NewTree(t)
			for p, c := range tc.files {
				tr.WriteFile(p, c)
			}
			id, src, err := board.HardwareID(pi, tr.Root)
			if id != tc.wantID || src != tc.wantSource {
				t.Errorf("HardwareID = %q from %q, want %q from %q", id, src, tc.wantID, tc.wantSource)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if errors.Is(err, board.ErrNoHardwareID) != tc.wantAbsent {
				t.Errorf("errors.Is(err, ErrNoHardwareID) = %v", !tc.wantAbsent)
			}
		})
	}
}

var hwidTests = []struct {
	in      string
	want    string
	wantErr bool
}{
	{"10000000abcdef01\x00", "10000000abcdef01", false},
	{"0123456789abcdef0123456789abcdef\n", "0123456789abcdef0123456789abcdef", false},
	{"4c4c4544-0042-3510-8051-b4c04f4e3632\n", "4c4c4544-0042-3510-8051-b4c04f4e3632", false},
	{"", "", true},
	{"\x00\n", "", true},
	{"0000000000000000\x00", "", true},
	{"00000000-0000-0000-0000-000000000000\n", "", true},
	{"uninitialized\n", "", true},
	{"abc def", "", true},
	{"abc\x01", "", true},
	{"caf\xc3\xa9", "", true},
	{strings.Repeat("a", 129), "", true},
	{strings.Repeat("a", 128), strings.Repeat("a", 128), false},
}

func TestParseHardwareID(t *testing.T) {
	for _, tc := range hwidTests {
		got, err := board.ParseHardwareID([]byte(tc.in))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseHardwareID(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func FuzzParseHardwareID(f *testing.F) {
	for _, tc := range hwidTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := board.ParseHardwareID(b)
		if err != nil {
			return
		}
		if id == "" || len(id) > board.MaxHardwareID || strings.ContainsAny(id, " \x00\n") {
			t.Errorf("ParseHardwareID(%q) = %q", b, id)
		}
	})
}
