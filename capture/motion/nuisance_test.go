package motion

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
)

// TestNuisanceScenes checks each nuisance of the synthetic scenes, event by
// event and frame by frame (320x240 grey, 25 fps, the evaluation's
// configuration): a long stretch of the nuisance alone raises no event and
// almost no frame with motion, and a person inside it raises an event within
// 0.5 s of appearing and is reported in nearly every frame after that.
func TestNuisanceScenes(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("renders whole scenes: run without -short and -race")
	}
	tests := []struct {
		scene synth.Scene
		// quiet are stretches of nuisance alone, [from, to) seconds.
		quiet [][2]float64
		// known, when set, says why the quiet stretches are not met yet;
		// they are then logged, not asserted (the person still is).
		known string
	}{
		{scene: synth.Static, quiet: [][2]float64{{0.5, 20}}},
		{scene: synth.LightChange, quiet: [][2]float64{{4.5, 18.5}}},
		{scene: synth.DayNight, quiet: [][2]float64{{0.5, 16.5}}},
		{scene: synth.Flicker, quiet: [][2]float64{{0.5, 9.5}}},
		{scene: synth.Shake, quiet: [][2]float64{{2.5, 7.5}, {13, 18.5}}},
		{scene: synth.Particles, quiet: [][2]float64{{1, 9.5}, {17, 25.5}, {33, 42.5}}}, // snow, rain, insects
		{scene: synth.Shadows, quiet: [][2]float64{{1.5, 26}},
			known: "travelling shadows that cover most of the picture go through the global light mapping and still raise events"},
	}
	for _, tt := range tests {
		t.Run(string(tt.scene), func(t *testing.T) {
			src, err := synth.New(synth.Config{Scene: tt.scene, Width: 320, Height: 240, Seed: 1, Format: capture.FormatGREY})
			if err != nil {
				t.Fatal(err)
			}
			fps := src.Format().FPS
			d, err := New(evalConfig(src), src.Format(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var motion []bool
			var events []span
			for {
				f, err := src.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				res, err := d.Process(f)
				f.Release()
				if err != nil {
					t.Fatal(err)
				}
				motion = append(motion, res.Motion)
				if res.Ended != nil {
					events = append(events, span{int(res.Ended.StartFrame), int(res.Ended.EndFrame)})
				}
			}
			if ev := d.Flush(); ev != nil {
				events = append(events, span{int(ev.StartFrame), int(ev.EndFrame)})
			}
			st := d.Stats()
			t.Logf("events %s; filtered %+v", spansText(events), st.Filtered)
			for _, q := range tt.quiet {
				from, to := int(q[0]*fps), int(q[1]*fps)
				moving := 0
				for _, m := range motion[from:to] {
					if m {
						moving++
					}
				}
				var during []span
				for _, e := range events {
					if e.first < to && e.last >= from {
						during = append(during, e)
					}
				}
				// Frame level: at most 1% of the frames (a stray region
				// that MinMotionFrames absorbs).
				bad := len(during) > 0 || moving*100 > to-from
				switch {
				case bad && tt.known != "":
					t.Logf("KNOWN GAP, not asserted (%s): %.1f-%.1f s: events %s, motion in %d of %d frames",
						tt.known, q[0], q[1], spansText(during), moving, to-from)
				case bad:
					t.Errorf("nuisance alone %.1f-%.1f s: events %s, motion in %d of %d frames",
						q[0], q[1], spansText(during), moving, to-from)
				}
			}
			for _, s := range src.Spans() {
				late := s.First + int(0.5*fps)
				found := false
				for _, e := range events {
					if e.first <= late && e.last >= s.First {
						found = true
					}
				}
				if !found {
					t.Errorf("person %d-%d: no event starting by frame %d (0.5 s); events %s", s.First, s.Last, late, spansText(events))
				}
				// Frame level: reported in 90% of the frames from 0.5 s on.
				moving := 0
				for _, m := range motion[late : s.Last+1] {
					if m {
						moving++
					}
				}
				if n := s.Last + 1 - late; moving*10 < n*9 {
					t.Errorf("person %d-%d: motion in %d of %d frames from frame %d", s.First, s.Last, moving, n, late)
				}
			}
		})
	}
}
