package motion

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
)

// The evaluation runs the detector over every synthetic scene and scores it
// against the scene's ground truth. See the package doc for the rules.

// evalConfig is the configuration the scores are measured with: the defaults,
// the scene's exclude zones, and an event gap shorter than the quiet gaps
// between the scenes' motion spans (2 s and more), so that each span can be
// matched by an event of its own.
func evalConfig(src *synth.Source) Config {
	cfg := DefaultConfig()
	cfg.EventGap = time.Second
	for _, z := range src.ExcludeZones() {
		cfg.Zones = append(cfg.Zones, Zone{Polygon: z, Exclude: true})
	}
	return cfg
}

// pixelCounts are CDnet's confusion counts.
type pixelCounts struct{ tp, fp, fn, tn uint64 }

func (c pixelCounts) precision() float64 { return ratio(c.tp, c.tp+c.fp) }
func (c pixelCounts) recall() float64    { return ratio(c.tp, c.tp+c.fn) }
func (c pixelCounts) fmeasure() float64  { return f1(c.precision(), c.recall()) }

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func f1(p, r float64) float64 {
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// gridTruth downscales a CDnet truth mask (w x h) to the analysis grid: a
// cell is unknown (170) when at least half of its pixels are, else motion
// (255) when at least half of its known pixels move, else static (0).
func gridTruth(dst, mask []byte, w, gw, gh, cell int) {
	for gy := range gh {
		for gx := range gw {
			var moving, unknown int
			for y := gy * cell; y < gy*cell+cell; y++ {
				for _, v := range mask[y*w+gx*cell : y*w+gx*cell+cell] {
					switch v {
					case synth.MaskMotion:
						moving++
					case synth.MaskUnknown:
						unknown++
					}
				}
			}
			n := cell * cell
			v := byte(synth.MaskStatic)
			switch {
			case 2*unknown >= n:
				v = synth.MaskUnknown
			case 2*moving >= n-unknown:
				v = synth.MaskMotion
			}
			dst[gy*gw+gx] = v
		}
	}
}

// count adds one frame's detection mask (0/255 per cell) against the grid
// truth.
func (c *pixelCounts) count(det, truth []byte) {
	for i, t := range truth {
		if t == synth.MaskUnknown {
			continue
		}
		switch m, g := det[i] != 0, t == synth.MaskMotion; {
		case m && g:
			c.tp++
		case m:
			c.fp++
		case g:
			c.fn++
		default:
			c.tn++
		}
	}
}

// span is a run of frames, both ends included.
type span struct{ first, last int }

// matchEvents pairs detected events with truth spans one to one, in time
// order: an event matches a span when they overlap. Both lists are sorted and
// their members disjoint, so the greedy pairing is a maximum matching.
func matchEvents(truth, detected []span) (matched int) {
	j := 0
	for _, s := range truth {
		for j < len(detected) && detected[j].last < s.first {
			j++
		}
		if j < len(detected) && detected[j].first <= s.last {
			matched++
			j++
		}
	}
	return matched
}

// eventScore returns precision, recall and F1; with no spans and no events
// the detector is perfect.
func eventScore(truth, detected []span) (p, r, f float64) {
	m := uint64(matchEvents(truth, detected))
	p, r = ratio(m, uint64(len(detected))), ratio(m, uint64(len(truth)))
	return p, r, f1(p, r)
}

type sceneScore struct {
	scene           synth.Scene
	spans, events   []span
	evP, evR, evF   float64
	px              pixelCounts
	frames          int
	nsPerFrame      float64 // wall time in Process
	cpuPerFrame     float64 // thread CPU time in Process
	light, recalibs uint64
	peer            *pixelCounts // MOG2's, when run
	peerStats       peerStats
}

type evalOptions struct {
	w, h   int
	format capture.PixelFormat
	frames int  // 0: the whole scene
	peer   bool // run MOG2 on the same frames
	tune   func(*Config)
}

// evalScene renders a scene and scores the detector (and the peer) on it.
// The timing covers Process only, not the rendering.
func evalScene(tb testing.TB, scene synth.Scene, opt evalOptions) sceneScore {
	tb.Helper()
	src, err := synth.New(synth.Config{Scene: scene, Width: opt.w, Height: opt.h, Seed: 1, Format: opt.format, Frames: opt.frames})
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	cfg := evalConfig(src)
	if opt.tune != nil {
		opt.tune(&cfg)
	}
	d, err := New(cfg, src.Format(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	gw, gh, cell := d.Grid()
	truthGrid := make([]byte, gw*gh)
	mask := make([]byte, gw*gh)
	sc := sceneScore{scene: scene}
	var peer *mog2
	if opt.peer {
		peer = startMOG2(tb, src.Format(), cell, gw, gh)
		sc.peer = new(pixelCounts)
	}
	for _, s := range src.Spans() {
		sc.spans = append(sc.spans, span{s.First, s.Last})
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var busy time.Duration
	var cpu int64
	ctx := context.Background()
	for {
		f, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		start, startCPU := time.Now(), threadCPU()
		res, err := d.Process(f)
		cpu += threadCPU() - startCPU
		busy += time.Since(start)
		var peerMask []byte
		if peer != nil {
			peerMask = peer.apply(tb, f)
		}
		f.Release()
		if err != nil {
			tb.Fatal(err)
		}
		if res.Ended != nil {
			sc.events = append(sc.events, span{int(res.Ended.StartFrame), int(res.Ended.EndFrame)})
		}
		if sc.frames > warmupFrames { // CDnet's temporal ROI: after the warm-up
			mask, _, _ = d.Mask(mask)
			gridTruth(truthGrid, src.Truth().Mask, opt.w, gw, gh, cell)
			sc.px.count(mask, truthGrid)
			if peer != nil {
				sc.peer.count(peerMask, truthGrid)
			}
		}
		sc.frames++
	}
	if ev := d.Flush(); ev != nil {
		sc.events = append(sc.events, span{int(ev.StartFrame), int(ev.EndFrame)})
	}
	if peer != nil {
		sc.peerStats = peer.finish(tb)
	}
	sc.evP, sc.evR, sc.evF = eventScore(sc.spans, sc.events)
	sc.nsPerFrame = float64(busy.Nanoseconds()) / float64(sc.frames)
	sc.cpuPerFrame = float64(cpu) / float64(sc.frames)
	st := d.Stats()
	sc.light, sc.recalibs = st.LightChanges, st.Recalibrations
	return sc
}

func spansText(s []span) string {
	var b strings.Builder
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d-%d", x.first, x.last)
	}
	return b.String()
}

// TestEvaluateScenes asserts the quality targets on every synthetic scene
// (320x240, 25 fps, grey): event F1 at least 0.95, and event recall 1 in the
// night scenes (day-night, particles). The scenes are
// deterministic, so this is a regression test. Run with -v for the table.
func TestEvaluateScenes(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("renders every scene: run without -short and -race")
	}
	t.Logf("%-12s %6s %5s %5s %5s | %6s %6s %6s | %6s %5s %5s", "scene", "frames", "evP", "evR", "evF1", "pxP", "pxR", "pxF", "ns/fr", "light", "recal")
	for _, scene := range synth.Scenes() {
		sc := evalScene(t, scene, evalOptions{w: 320, h: 240, format: capture.FormatGREY})
		t.Logf("%-12s %6d %5.2f %5.2f %5.2f | %6.3f %6.3f %6.3f | %6.0f %5d %5d", scene, sc.frames, sc.evP, sc.evR, sc.evF,
			sc.px.precision(), sc.px.recall(), sc.px.fmeasure(), sc.nsPerFrame, sc.light, sc.recalibs)
		if (scene == synth.DayNight || scene == synth.Particles) && sc.evR < 1 {
			// A person at night must raise an event: that is what the
			// owner sees (pixel recall at night is capped by the parts of
			// a person as bright as the ground behind them).
			t.Errorf("%s: event recall %.2f at night, want 1: truth spans %s, events %s", scene, sc.evR, spansText(sc.spans), spansText(sc.events))
		}
		if floor, ok := minPixelF[scene]; ok && sc.px.fmeasure() < floor {
			t.Errorf("%s: pixel F %.3f, below the %.3f measured (a regression)", scene, sc.px.fmeasure(), floor)
		}
		if scene == synth.DayNight && sc.px.recall() < 0.882 {
			t.Errorf("%s: pixel recall %.3f, below the 0.882 measured (a regression)", scene, sc.px.recall())
		}
		if sc.evF < 0.95 {
			if gap, ok := knownGaps[scene]; ok {
				t.Logf("%s: event F1 %.2f < 0.95, a known gap (%s): truth spans %s, events %s", scene, sc.evF, gap, spansText(sc.spans), spansText(sc.events))
				continue
			}
			t.Errorf("%s: event F1 %.2f < 0.95: truth spans %s, events %s", scene, sc.evF, spansText(sc.spans), spansText(sc.events))
		}
	}
}

// minPixelF is each scene's pixel F at 320x240 as measured (less 0.001 for
// the rounding): the scenes are deterministic, so a change that costs one
// of them pixel F fails here.
var minPixelF = map[synth.Scene]float64{
	synth.Static: 0.999, synth.Objects: 0.948, synth.LightChange: 0.965,
	synth.DayNight: 0.929, synth.Flicker: 0.960, synth.Foliage: 0.953,
	synth.Shake: 0.968, synth.Drift: 0.966, synth.Shadows: 0.763,
	synth.Particles: 0.901,
}

// knownGaps are the scenes the detector does not pass yet, and why. The
// gate holds for every other scene; a scene leaves this list when it passes.
var knownGaps = map[synth.Scene]string{}

func TestMatchEvents(t *testing.T) {
	tests := []struct {
		truth, det []span
		want       int
	}{
		{nil, nil, 0},
		{[]span{{10, 20}}, []span{{15, 30}}, 1},
		{[]span{{10, 20}}, []span{{21, 30}}, 0},
		{[]span{{10, 20}, {30, 40}}, []span{{5, 45}}, 1},  // a merged event finds one span
		{[]span{{10, 20}}, []span{{10, 12}, {14, 20}}, 1}, // a split span counts once
		{[]span{{10, 20}, {30, 40}, {50, 60}}, []span{{0, 5}, {18, 31}, {55, 56}}, 2},
	}
	for _, tt := range tests {
		if got := matchEvents(tt.truth, tt.det); got != tt.want {
			t.Errorf("%v vs %v: %d matched, want %d", tt.truth, tt.det, got, tt.want)
		}
	}
}
