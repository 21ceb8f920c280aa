package motion

import (
	"math/rand/v2"
	"testing"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
)

// TestNuisance: stretches of a nuisance alone raise no event, and a person
// among it raises one within 0.5 s (an event going on 12 frames after the
// person's first frame), on the nuisance scenes (320x240 grey, 25 fps, the
// evaluation's configuration; the particles scene at 640x480 YUYV as well,
// where an insect fluttering under the lamp used to persist for 0.4 s and
// raise an event: a particle field is now also told by how often small
// regions are born). Frame numbers follow the scenes' scripts in
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
	particles := []stretch{
		{name: "snow (1-10 s)", from: 25, to: 250},
		{name: "rain (17-26 s)", from: 425, to: 650},
		{name: "insects (33-43 s)", from: 825, to: 1050},
	}
	tests := []struct {
		scene     synth.Scene
		w, h      int
		format    capture.PixelFormat
		quiet     []stretch
		personDue int // frames from a person's first frame to the event
	}{
		{synth.Shadows, 320, 240, capture.FormatGREY, []stretch{
			{name: "cloud shadow crossing (2-10 s)", from: 50, to: 290},
			{name: "headlights' spill (12-15 s)", from: 300, to: 380},
			{name: "cloud shadow, diagonal (16-25 s)", from: 400, to: 640},
			{name: "slow cloud shadow before the walker (27-31 s)", from: 675, to: 775},
		}, 12},
		{synth.Particles, 320, 240, capture.FormatGREY, particles, 12},
		{synth.Particles, 640, 480, capture.FormatYUYV, particles, 12},
	}
	for _, tt := range tests {
		src, err := synth.New(synth.Config{Scene: tt.scene, Width: tt.w, Height: tt.h, Seed: 1, Format: tt.format})
		if err != nil {
			t.Fatal(err)
		}
		spans := src.Spans()
		src.Close()
		sc := evalScene(t, tt.scene, evalOptions{w: tt.w, h: tt.h, format: tt.format})
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
				t.Errorf("%s %dx%d: %s: events start at %v, want none (events %s)", tt.scene, tt.w, tt.h, q.name, starts, spansText(sc.events))
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
				t.Errorf("%s %dx%d: person from frame %d: no event going on at frame %d (events %s)", tt.scene, tt.w, tt.h, s.First, due, spansText(sc.events))
			}
		}
	}
}

// TestExtension: the extension of kept regions on a noisy textured
// background (320x240 grey, 2x2-pixel cells). A dim body (4 levels above
// the ground, under the low threshold of 6) below a head the detector finds
// is reported with it; the rim and trail of a bright object (a difference
// that falls off from the object's) are not grown into; a dim patch with no
// kept region near it is not reported at all. The objects move 3 pixels a
// frame (the synthetic walker's speed). Each row gives the share of the
// body's cells (inner cells, a cell in from its edge) the mask must cover
// with the extension and may cover without it, and how many more cells
// beyond a cell from every object the mask may hold with the extension
// than without, over the 40 frames scored.
func TestExtension(t *testing.T) {
	const w, h, frames, appear = 320, 240, 70, 15
	type obj struct {
		rect
		body bool // scored: its inner cells should be in the mask
	}
	tests := []struct {
		name     string
		objs     func(n int) []obj // the objects n frames after they appear
		minOn    float64           // body cells covered, extension on
		maxOff   float64           // body cells covered, extension off
		maxExtra int               // mask cells beyond a cell from every object, extension on minus off
	}{
		{"dim body under a head", func(n int) []obj {
			x := 40 + 3*n
			return []obj{
				{rect: rect{x: x, y: 60, w: 20, h: 20, lift: 30}},
				{rect: rect{x: x - 4, y: 80, w: 28, h: 20, lift: 5}, body: true},
			}
		}, 0.9, 0.1, 0},
		{"bright object: no rim, no trail", func(n int) []obj {
			return []obj{{rect: rect{x: 40 + 3*n, y: 80, w: 24, h: 60, luma: 250}}}
		}, 0, 1, 150},
		{"dim patch alone", func(n int) []obj {
			return []obj{{rect: rect{x: 40 + 3*n, y: 80, w: 28, h: 20, lift: 5}}}
		}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rawFormat(capture.FormatGREY, w, h)
			var on, off float64
			var outside, outsideOff int
			for _, ext := range []bool{true, false} {
				d, err := New(DefaultConfig(), f, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !ext {
					d.off = offExtend
				}
				s := newScene(w, h, 1, 3)
				y := make([]uint8, w*h)
				var mask []byte
				var covered, cells int
				for n := range frames {
					var objs []obj
					if n >= appear {
						objs = tt.objs(n - appear)
					}
					rects := make([]rect, len(objs))
					for i, o := range objs {
						rects[i] = o.rect
					}
					s.render(y, 1, 0, rects...)
					if _, err := d.Process(frameOf(f, y, uint64(n))); err != nil {
						t.Fatal(err)
					}
					if n < appear+15 { // the objects' first frames
						continue
					}
					var gw int
					mask, gw, _ = d.Mask(mask)
					for i, m := range mask {
						cx, cy := i%gw*2, i/gw*2 // the cell's top left pixel
						inner, near := false, false
						for _, o := range objs {
							if cx >= o.x+2 && cx+2 <= o.x+o.w-2 && cy >= o.y+2 && cy+2 <= o.y+o.h-2 && o.body {
								inner = true
							}
							if cx+2 > o.x-2 && cx < o.x+o.w+2 && cy+2 > o.y-2 && cy < o.y+o.h+2 {
								near = true
							}
						}
						if inner {
							cells++
							if m != 0 {
								covered++
							}
						}
						if !near && m != 0 {
							if ext {
								outside++
							} else {
								outsideOff++
							}
						}
					}
				}
				share := float64(covered) / float64(max(cells, 1))
				if ext {
					on = share
				} else {
					off = share
				}
			}
			t.Logf("body covered %.2f with the extension, %.2f without; %d cells reported outside the objects with it, %d without", on, off, outside, outsideOff)
			if on < tt.minOn {
				t.Errorf("body covered %.2f with the extension, want at least %.2f", on, tt.minOn)
			}
			if off > tt.maxOff {
				t.Errorf("body covered %.2f without the extension, want at most %.2f (the row no longer shows the extension)", off, tt.maxOff)
			}
			if outside-outsideOff > tt.maxExtra {
				t.Errorf("%d mask cells more than a cell outside the objects with the extension, %d without: want at most %d more", outside, outsideOff, tt.maxExtra)
			}
		})
	}
}

// TestCountBirths: the births of small regions are summed over the last
// swarmHoldTime of frame intervals, frames the detector did not get (a step
// of more than one) counting as frames without births.
func TestCountBirths(t *testing.T) {
	type frame struct {
		step uint16
		born int
		want int // births within the window after this frame
	}
	tests := []struct {
		name   string
		hold   int
		frames []frame
	}{
		{"sums within the window", 4, []frame{{1, 1, 1}, {1, 2, 3}, {1, 0, 3}, {1, 1, 4}}},
		{"the oldest frame leaves", 4, []frame{{1, 1, 1}, {1, 2, 3}, {1, 0, 3}, {1, 1, 4}, {1, 0, 3}, {1, 0, 1}}},
		{"skipped frames count as none", 4, []frame{{1, 2, 2}, {1, 1, 3}, {3, 1, 2}, {2, 0, 1}}},
		{"a step beyond the window clears it", 4, []frame{{1, 3, 3}, {1, 3, 6}, {250, 1, 1}}},
		{"born is capped per frame", 2, []frame{{1, 1000, 255}, {1, 1, 256}, {1, 0, 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Detector{births: make([]uint8, tt.hold)}
			for i, f := range tt.frames {
				d.step = f.step
				if got := d.countBirths(f.born); got != f.want {
					t.Fatalf("frame %d (step %d, born %d): %d births in the window, want %d", i, f.step, f.born, got, f.want)
				}
			}
		})
	}
}

// TestFillHoles: the cells a mask encloses are added (also across a word
// boundary), a bay open to the border and cells outside the zones are not.
func TestFillHoles(t *testing.T) {
	d, err := New(DefaultConfig(), rawFormat(capture.FormatGREY, 640, 480), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &d.shownMask
	set := func(x0, y0, x1, y1 int) { // a ring of the rectangle's border cells
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				if y == y0 || y == y1 || x == x0 || x == x1 {
					m.bits[y*m.words+x/64] |= 1 << uint(x&63)
				}
			}
		}
	}
	set(60, 10, 70, 20) // hole of 9x9 across the word boundary at 64
	set(5, 30, 15, 40)
	m.bits[40*m.words] &^= 1 << 10 // a gap in its bottom: a bay, not a hole
	set(30, 50, 34, 54)
	d.zone.bits[52*d.zone.words] &^= 1 << 32 // the hole's centre is outside the zones
	before := m.count()
	if !d.fillHoles(&d.grow1, 0, d.g.gh) {
		t.Fatal("fillHoles added nothing")
	}
	if got, want := m.count()-before, 81+8; got != want {
		t.Errorf("added %d cells, want %d", got, want)
	}
	for _, c := range [][2]int{{61, 11}, {69, 19}, {63, 15}, {64, 15}, {31, 51}} {
		if !m.get(c[0], c[1]) {
			t.Errorf("enclosed cell %v not filled", c)
		}
	}
	for _, c := range [][2]int{{10, 35}, {32, 52}, {71, 15}} {
		if m.get(c[0], c[1]) {
			t.Errorf("cell %v filled", c)
		}
	}
}

func TestBridge(t *testing.T) {
	type rect struct{ x0, y0, x1, y1 int } // cells, ends included
	tests := []struct {
		name  string
		parts []rect // cells of d.low beside the extension
		added int    // cells bridge adds
	}{
		// The kept region, as the extension grew it, is cells (10..60, 10..19).
		{"a part below a gap of one row", []rect{{20, 21, 25, 23}}, 18},
		{"a part beside a gap of one column, across a word boundary", []rect{{62, 10, 65, 14}}, 20},
		{"a part below a gap of two rows: too far", []rect{{20, 22, 25, 24}}, 0},
		{"a part of 14 cells: noise, or a trail", []rect{{20, 21, 26, 22}}, 0},
		{"a far part joined to a near one", []rect{{20, 21, 22, 21}, {22, 22, 22, 40}}, 22},
		{"two parts, one too far", []rect{{20, 21, 25, 23}, {5, 10, 7, 16}}, 18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(DefaultConfig(), rawFormat(capture.FormatGREY, 640, 480), nil)
			if err != nil {
				t.Fatal(err)
			}
			g := &d.grow1
			set := func(m *bitmask, r rect) {
				for y := r.y0; y <= r.y1; y++ {
					for x := r.x0; x <= r.x1; x++ {
						m.bits[y*m.words+x/64] |= 1 << uint(x&63)
					}
				}
			}
			set(g, rect{10, 10, 60, 19}) // the kept region as the extension grew it
			set(&d.low, rect{10, 10, 60, 19})
			for _, p := range tt.parts {
				set(&d.low, p)
			}
			before := g.count()
			d.bridge(g, 0, d.g.gh)
			if got := g.count() - before; got != tt.added {
				t.Errorf("added %d cells, want %d", got, tt.added)
			}
			for y := range d.g.gh {
				for x := range d.g.gw {
					if g.get(x, y) && !d.low.get(x, y) {
						t.Fatalf("cell (%d, %d) added outside the extension's cells", x, y)
					}
				}
			}
		})
	}
}

// BenchmarkBridge times the bridge on a 640x480 grid (160x120 cells) at
// night: a kept region, a body below a gap of one row, and 1% of the grid
// beyond the extension's threshold by noise.
func BenchmarkBridge(b *testing.B) {
	d, err := New(DefaultConfig(), rawFormat(capture.FormatGREY, 640, 480), nil)
	if err != nil {
		b.Fatal(err)
	}
	set := func(m *bitmask, x0, y0, x1, y1 int) {
		for y := y0; y <= y1; y++ {
			for x := x0; x <= x1; x++ {
				m.bits[y*m.words+x/64] |= 1 << uint(x&63)
			}
		}
	}
	kept := newBitmask(d.g.gw, d.g.gh)
	set(&kept, 60, 20, 75, 40)
	set(&d.low, 60, 20, 75, 40)
	set(&d.low, 58, 42, 78, 90)
	rng := rand.New(rand.NewPCG(1, 2))
	for range d.g.gw * d.g.gh / 100 {
		x, y := rng.IntN(d.g.gw), rng.IntN(d.g.gh)
		d.low.bits[y*d.low.words+x/64] |= 1 << uint(x&63)
	}
	g := &d.grow1
	for b.Loop() {
		copy(g.bits, kept.bits)
		d.bridge(g, 0, d.g.gh)
	}
}
