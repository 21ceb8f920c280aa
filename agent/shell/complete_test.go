package shell

import (
	"slices"
	"testing"
)

func TestComplete(t *testing.T) {
	s := New(Config{Agent: &fakeAgent{}})
	for _, tc := range []struct {
		name, line string
		pos        int // -1: end of line
		wantLine   string
		wantPos    int // -1: end of wantLine
		cands      []string
	}{
		{"command", "sta", -1, "status ", -1, nil},
		{"command ambiguous, extend", "sn", -1, "snapshot ", -1, nil},
		{"command ambiguous, list", "c", -1, "c", -1, []string{"clips", "config", "control"}},
		{"command prefix extends", "e", -1, "e", -1, []string{"events", "exit"}},
		{"factory", "fa", -1, "factory-reset ", -1, nil},
		{"format", "fo", -1, "format-sd ", -1, nil},
		{"f lists", "f", -1, "f", -1, []string{"format-sd", "factory-reset"}},
		{"empty line lists all", "", -1, "", -1, nil /* checked below */},
		{"no match", "xyz", -1, "xyz", -1, nil},
		{"subcommand", "clips v", -1, "clips verify ", -1, nil},
		{"subcommand list", "clips ", -1, "clips ", -1, []string{"list", "info", "verify"}},
		{"config sub", "config s", -1, "config set ", -1, nil},
		{"config key", "config get log.le", -1, "config get log.level ", -1, nil},
		{"config key table", "config get cap", -1, "config get capture", -1, nil},
		{"config key deep", "config set capture.w", -1, "config set capture.width ", -1, nil},
		{"no third arg", "config set log.level ", -1, "config set log.level ", -1, nil},
		{"help topic", "help fo", -1, "help format-sd ", -1, nil},
		{"log flag", "log -", -1, "log -f ", -1, nil},
		{"unknown command args", "bogus a", -1, "bogus a", -1, nil},
		{"middle of line", "sta log", 3, "status log", 6, nil},
		{"leading spaces", "   sta", -1, "   status ", -1, nil},
		{"pos past end", "sta", 10, "sta", 10, nil},
		{"pos negative", "sta", -5, "sta", -5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pos := tc.pos
			if pos == -1 {
				pos = len(tc.line)
			}
			if tc.pos < -1 {
				pos = tc.pos
			}
			wantPos := tc.wantPos
			if wantPos == -1 {
				wantPos = len(tc.wantLine)
			}
			if tc.pos < -1 {
				wantPos = tc.pos
			}
			line, newPos, cands := s.Complete(tc.line, pos)
			if tc.name == "empty line lists all" {
				if len(cands) != len(s.names) {
					t.Fatalf("candidates %v, want every command", cands)
				}
				return
			}
			if line != tc.wantLine || newPos != wantPos || !slices.Equal(cands, tc.cands) {
				t.Fatalf("Complete(%q, %d) = %q, %d, %q; want %q, %d, %q", tc.line, pos, line, newPos, cands, tc.wantLine, wantPos, tc.cands)
			}
		})
	}
}

func TestConfigKeys(t *testing.T) {
	keys := configKeys()
	for _, k := range []string{"board", "log", "log.level", "capture.fps", "capture.controls", "storage.mount"} {
		if !slices.Contains(keys, k) {
			t.Errorf("config keys lack %q: %v", k, keys)
		}
	}
}
