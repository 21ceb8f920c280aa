package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSetKey: a key set in the file is checked, written atomically with the
// file's permissions, and reported with the sections it changed; a wrong
// value is refused with the key named and the file left alone.
func TestSetKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "camagent.toml")
	if err := os.WriteFile(path, []byte("[log]\nlevel = \"info\"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	running, err := Parse([]byte("[log]\nlevel = \"info\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := SetKey(path, running, "capture.fps", "12")
	if err != nil {
		t.Fatal(err)
	}
	if e.Old != "25.0" || e.New != "12" || len(e.Sections) != 1 || e.Sections[0] != SectionCapture {
		t.Errorf("edit = %+v", e)
	}
	data, _ := os.ReadFile(path)
	if c, err := Parse(data); err != nil || c.Capture.FPS != 12 || c.Log.Level != "info" {
		t.Errorf("file now %q: %v", data, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the file's 0640", fi.Mode().Perm())
	}
	var ee *EditError
	for _, tc := range []struct{ key, value, want string }{
		{"log.level", "shouting", "log.level"},
		{"log..level", "info", "bad key"},
		{"log.level.x", "info", "log.level is a value"},
		{"log.level", "a\x1bb", "control characters"},
	} {
		_, err := SetKey(path, running, tc.key, tc.value)
		if !errors.As(err, &ee) || ee.Kind != EditBadInput || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetKey(%q, %q) = %v, want a bad-input error naming %q", tc.key, tc.value, err, tc.want)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Errorf("a refused edit changed the file:\n%s", after)
	}
	if doc, err := Lookup(running, "log.level"); err != nil || doc != "[log]\nlevel = \"info\"" {
		t.Errorf("Lookup = %q, %v", doc, err)
	}
	if _, err := Lookup(running, "log.nope"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Lookup of a missing key = %v", err)
	}
}
