package motion

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/camagent/camagent/capture"
)

// TestSaysOnce is the flood the issue saw in the QEMU camera: a picture that
// keeps moving (vivid's "Horizontal Movement") re-learns the background about
// twice a second. Over 20 s of it and a quiet minute and more after, the log
// must hold a start line, no per-frame lines, and an end line with the count;
// bad frames likewise.
func TestSaysOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := rawFormat(capture.FormatGREY, 320, 240)
	cfg := DefaultConfig()
	d, err := New(cfg, f, log)
	if err != nil {
		t.Fatal(err)
	}
	bars := [8]uint8{180, 162, 131, 112, 84, 65, 35, 16}
	line := make([]uint8, 2*320)
	for x := range line {
		line[x] = bars[x%320/40]
	}
	y := make([]uint8, 320*240)
	const moving, total = 500, 500 + 25*70 // 20 s moving, 70 s still
	off, relearned := 0, uint64(0)
	for i := range total {
		if i < moving {
			off = (off + 6) % 320
		}
		for r := range 240 {
			copy(y[r*320:(r+1)*320], line[off:off+320])
		}
		if i == 600 || i == 601 || i == 700 { // three bad frames
			bad := frameOf(f, y[:100], uint64(i))
			if _, err := d.Process(bad); err == nil {
				t.Fatal("a short frame passed")
			}
			continue
		}
		res, err := d.Process(frameOf(f, y, uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Recalibrated {
			relearned++
		}
	}
	out := buf.String()
	t.Logf("%d re-learnings, log:\n%s", relearned, out)
	if relearned < 20 {
		t.Fatalf("only %d re-learnings: the scene does not reproduce the flood", relearned)
	}
	var relearnLines, badLines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.Contains(l, "background re-learned"):
			relearnLines = append(relearnLines, l)
		case strings.Contains(l, "bad frames"):
			badLines = append(badLines, l)
		}
	}
	if len(relearnLines) != 2 || !strings.Contains(relearnLines[0], "state=started") ||
		!strings.Contains(relearnLines[1], "state=ended") {
		t.Fatalf("re-learn lines %q, want a start and an end", relearnLines)
	}
	if len(badLines) != 2 || !strings.Contains(badLines[0], "state=started") ||
		!strings.Contains(badLines[1], "state=ended count=3") {
		t.Fatalf("bad frame lines %q, want a start and an end with count=3", badLines)
	}
}
