package motion

import (
	"testing"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
)

// TestNuisance: stretches of a nuisance alone raise no event, and a person
// among it raises one within 0.5 s (an event going on 12 frames after the
// person's first frame), on the nuisance scenes (320x240 grey, 25 fps, the
// evaluation's configuration). Frame numbers follow the scenes' scripts in
// capture/synth. Stretches the detector does not pass yet are listed with
// the reason and logged, not asserted; they are the knownGaps of the
// evaluation.
func TestNuisance(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("renders whole scenes: run without -short and -race")
	}
	type stretch struct {
		name     string
		from, to int    // frames [from, to) in which no event may start
		gap      string // why it fails, for a known gap
	}
	tests := []struct {
		scene     synth.Scene
		quiet     []stretch
		personDue int // frames from a person's first frame to the event
	}{
		{synth.Shadows, []stretch{
			{name: "cloud shadow crossing (2-10 s)", from: 50, to: 290},
			{name: "headlights' spill (12-15 s)", from: 300, to: 380},
			{name: "cloud shadow, diagonal (16-25 s)", from: 400, to: 640},
			{name: "slow cloud shadow before the walker (27-31 s)", from: 675, to: 775},
		}, 12},
		{synth.Particles, []stretch{
			{name: "snow (1-10 s)", from: 25, to: 250},
			{name: "rain (17-26 s)", from: 425, to: 650},
			{name: "insects (33-43 s)", from: 825, to: 1050},
		}, 12},
	}
	for _, tt := range tests {
		src, err := synth.New(synth.Config{Scene: tt.scene, Width: 320, Height: 240, Seed: 1, Format: capture.FormatGREY})
		if err != nil {
			t.Fatal(err)
		}
		spans := src.Spans()
		src.Close()
		sc := evalScene(t, tt.scene, evalOptions{w: 320, h: 240, format: capture.FormatGREY})
		for _, q := range tt.quiet {
			var starts []int
			for _, e := range sc.events {
				if e.first >= q.from && e.first < q.to {
					starts = append(starts, e.first)
				}
			}
			switch {
			case len(starts) > 0 && q.gap != "":
				t.Logf("%s: %s: events start at %v: known gap (%s)", tt.scene, q.name, starts, q.gap)
			case len(starts) > 0:
				t.Errorf("%s: %s: events start at %v, want none (events %s)", tt.scene, q.name, starts, spansText(sc.events))
			case q.gap != "":
				t.Errorf("%s: %s: no event: the known gap (%s) is closed, take it off the list", tt.scene, q.name, q.gap)
			}
		}
		for _, s := range spans {
			due := s.First + tt.personDue
			found := false
			for _, e := range sc.events {
				if e.first <= due && e.last >= due {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: person from frame %d: no event going on at frame %d (events %s)", tt.scene, s.First, due, spansText(sc.events))
			}
		}
	}
}
