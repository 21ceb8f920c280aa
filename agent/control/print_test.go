package control

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestWriteStatusMemory: ctl status and the shell show resident memory, the
// Go heap, the limit and every pool's fill.
func TestWriteStatusMemory(t *testing.T) {
	st := Status{Version: "v1", Memory: &MemoryStatus{
		BudgetBytes: 32 << 20, RSSBytes: 21 << 20, RSSFileBytes: 8 << 20, ChargedBytes: 20 << 20, HeapBytes: 9 << 20, GoBytes: 14 << 20,
		HeapFreeBytes: 2 << 20, StacksBytes: 1 << 20, RuntimeBytes: 2 << 20, GoLimitBytes: 27 << 20, GCPercent: 50, PeakBytes: 30 << 20,
		Degraded: []string{"recorder queue 8 -> 4", "gc target 100% -> 50%"},
		Pools: []PoolStatus{
			{Name: "frames", Used: 3, Size: 11, Unit: "frames", Made: 5},
			{Name: "pre-roll", Used: 700 << 10, Size: 1 << 20, Unit: "bytes"},
			{Name: "live viewers", Used: 0, Size: 1, Unit: "viewers"},
		},
	}}
	var b bytes.Buffer
	if err := WriteStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"resident 21.0 MiB (anonymous 13.0 MiB, file-backed 8.0 MiB; 20.0 MiB counted) of a 32.0 MiB budget", "go heap 9.0 MiB", "go total 14.0 MiB",
		"limit 27.0 MiB, gc 50%", "plan peak 30.0 MiB",
		"heap objects 9.0 MiB, heap free 2.0 MiB, stacks 1.0 MiB, runtime 2.0 MiB",
		"recorder queue 8 -> 4, gc target 100% -> 50%",
		"pool frames", "3 of 11 frames (5 made)", "700.0 KiB of 1.0 MiB", "0 of 1 viewers",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	st.Memory.RSSBytes, st.Memory.GoLimitBytes, st.Memory.OverBytes = 0, 0, 2<<20
	b.Reset()
	if err := WriteStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resident unknown", "limit not set", "by 2.0 MiB"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}

// TestWriteStatusLiveSessions: ctl status and the shell list each live
// session, not only the count.
func TestWriteStatusLiveSessions(t *testing.T) {
	st := Status{Version: "v1", Live: &LiveStatus{Viewers: 1, MaxViewers: 2, Accepted: 1,
		Sessions: []LiveSessionStatus{{ID: "17e0b10b", Media: "jpeg", State: "connected",
			Started: time.Date(2026, 12, 4, 16, 41, 0, 0, time.UTC), Sent: 42, Skipped: 3, Bytes: 123456}}}}
	var b bytes.Buffer
	if err := WriteStatus(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 of 2 viewers", "session 17e0b10b", "jpeg connected since 2026-12-04 16:41:00 UTC",
		"42 frames sent (3 skipped), 123456 bytes"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
}
