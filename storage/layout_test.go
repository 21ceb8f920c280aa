package storage_test

import (
	"errors"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
)

var nameTests = []struct {
	name string
	want storage.ClipName
	ok   bool
}{
	{"2026/05/14/153012-e42", storage.ClipName{Start: time.Date(2026, 5, 14, 15, 30, 12, 0, time.UTC), Event: 42}, true},
	{"1970/01/01/000000-e0-2", storage.ClipName{Start: time.Unix(0, 0).UTC(), N: 2}, true},
	{"2026/12/31/235959-e18446744073709551615-999", storage.ClipName{Start: time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), Event: 1<<64 - 1, N: 999}, true},
	{"2026/02/30/120000-e1", storage.ClipName{}, false},
	{"2026/05/14/246012-e1", storage.ClipName{}, false},
	{"2026/05/14/153012-e", storage.ClipName{}, false},
	{"2026/05/14/153012-e01", storage.ClipName{}, false},
	{"2026/05/14/153012-e1-1", storage.ClipName{}, false},
	{"2026/05/14/153012-e1-x", storage.ClipName{}, false},
	{"2026/05/14/153012-e18446744073709551616", storage.ClipName{}, false},
	{"2026/5/14/153012-e1", storage.ClipName{}, false},
	{"../../05/14/153012-e1", storage.ClipName{}, false},
	{"2026/05/14/153012-e1/x", storage.ClipName{}, false},
	{"2026/05/14/15301a-e1", storage.ClipName{}, false},
	{"", storage.ClipName{}, false},
}

func TestClipName(t *testing.T) {
	for _, tc := range nameTests {
		got, err := storage.ParseClipName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ParseClipName(%q) = %v", tc.name, err)
			continue
		}
		if !tc.ok {
			if !errors.Is(err, storage.ErrBadName) {
				t.Errorf("ParseClipName(%q) = %v, want ErrBadName", tc.name, err)
			}
			continue
		}
		if !got.Start.Equal(tc.want.Start) || got.Event != tc.want.Event || got.N != tc.want.N {
			t.Errorf("ParseClipName(%q) = %+v, want %+v", tc.name, got, tc.want)
		}
		if s := got.String(); s != tc.name {
			t.Errorf("String() = %q, want %q", s, tc.name)
		}
	}
}

func FuzzParseClipName(f *testing.F) {
	for _, tc := range nameTests {
		f.Add(tc.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := storage.ParseClipName(name)
		if err != nil {
			return
		}
		// A valid name round-trips.
		if again, err := storage.ParseClipName(n.String()); err != nil || !again.Start.Equal(n.Start) || again.Event != n.Event || again.N != n.N {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", name, n, n.String(), again, err)
		}
	})
}
