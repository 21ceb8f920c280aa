package motion

import (
	"math/rand/v2"
	"testing"

	"github.com/camagent/camagent/capture"
)

// TestSlowPersonInParticleField: large flakes (8x8 px, falling 10 px a frame,
// so each overlaps its last position within a cell and persists like a
// thrown ball), eight at a time, raise no event on their own; a person who
// steps out among them and walks slowly (half a pixel a frame) raises one
// within 0.5 s, and a small, far one (under the particle field's size) within
// the field's persistence (1.6 s) and 0.5 s more.
func TestSlowPersonInParticleField(t *testing.T) {
	const w, h, appear = 320, 240, 100
	tests := []struct {
		name string
		pw   int // the person's size in pixels
		ph   int
		due  int // frames from appear to an event going on
	}{
		{"person 26x72 px", 26, 72, 12},
		{"far person 10x20 px", 10, 20, 52},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rawFormat(capture.FormatGREY, w, h)
			d, err := New(DefaultConfig(), f, nil)
			if err != nil {
				t.Fatal(err)
			}
			s := newScene(w, h, 1, 3)
			rng := rand.New(rand.NewPCG(7, 7))
			type flake struct{ x, y, born int }
			flakes := make([]flake, 8)
			for i := range flakes {
				flakes[i] = flake{rng.IntN(w - 8), rng.IntN(h / 2), -rng.IntN(20)}
			}
			y := make([]uint8, w*h)
			objs := make([]rect, 0, len(flakes)+1)
			started := -1
			for n := range appear + tt.due + 1 {
				objs = objs[:0]
				for i := range flakes {
					fl := &flakes[i]
					age := n - fl.born
					if fy := fl.y + 10*age; age > 20 || fy > h {
						*fl = flake{rng.IntN(w - 8), rng.IntN(h / 2), n}
						age = 0
					}
					objs = append(objs, rect{x: fl.x, y: fl.y + 10*age, w: 8, h: 8, luma: 235})
				}
				if n >= appear {
					objs = append(objs, rect{x: w/3 + (n-appear)/2, y: h / 3, w: tt.pw, h: tt.ph, luma: 40})
				}
				s.render(y, 1, 0, objs...)
				res, err := d.Process(frameOf(f, y, uint64(n)))
				if err != nil {
					t.Fatal(err)
				}
				if res.Started != nil && started < 0 {
					started = n
				}
			}
			t.Logf("person from frame %d, event from frame %d; particles filtered in %d frames", appear, started, d.Stats().Filtered.Particles)
			switch {
			case started >= 0 && started < appear:
				t.Errorf("an event started at frame %d, before the person (frame %d): the flakes alone raised it", started, appear)
			case started < 0:
				t.Errorf("no event by frame %d, %d frames after the person appeared", appear+tt.due, tt.due)
			}
		})
	}
}
