package motion

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
)

// TestRelearnSaidOnce: a picture that keeps moving makes the detector
// re-learn its background again and again; the log says so when it starts
// and then at most once a minute, not once per re-learn (it flooded the
// console, the shell and the log ring at about two lines a second).
func TestRelearnSaidOnce(t *testing.T) {
	var log bytes.Buffer
	f := capture.Format{Pixel: capture.FormatGREY, Width: 160, Height: 120, Stride: 160, FPS: 25}
	d, err := New(DefaultConfig(), f, slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	buf := make([]byte, f.Width*f.Height)
	frame := &capture.Frame{Format: f}
	relearns := 0
	for i := range 25 * 20 { // 20 s of a picture that shifts every frame
		for j := range buf {
			buf[j] = byte((j + 7*i) * 13 % 251)
		}
		frame.Data, frame.Seq, frame.Time = buf, uint64(i), base.Add(time.Duration(i)*40*time.Millisecond)
		before := d.Stats().Recalibrations
		if _, err := d.Process(frame); err != nil {
			t.Fatal(err)
		}
		if d.Stats().Recalibrations > before {
			relearns++
		}
	}
	lines := strings.Count(log.String(), "background re-learned")
	if relearns < 5 {
		t.Fatalf("only %d re-learns in 20 s of a moving picture: the test does not exercise the log site", relearns)
	}
	if lines > 2 {
		t.Errorf("%d re-learns logged in %d lines, want at most 2 (started, one summary):\n%s", relearns, lines, log.String())
	}
}
