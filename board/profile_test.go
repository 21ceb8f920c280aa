package board

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLookup(t *testing.T) {
	for _, n := range Names() {
		p, err := Lookup(n)
		if err != nil || p.Name != n || p.VideoDevice == "" || p.SDMount == "" || len(p.Formats) == 0 {
			t.Errorf("Lookup(%q) = %+v, %v", n, p, err)
		}
	}
	if _, err := Lookup("toaster"); err == nil {
		t.Error("Lookup(toaster) succeeded")
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
