package synth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
)

// small is a quick configuration: 128x96 at 10 fps (scenes keep their length
// in seconds, so a scene is 200 to 400 frames).
func small(sc Scene, pix capture.PixelFormat) Config {
	return Config{Scene: sc, Width: 128, Height: 96, FPS: 10, Format: pix, Seed: 7}
}

// frame is one rendered frame with its truth, copied.
type frame struct {
	data   []byte
	motion bool
	mask   []byte
}

// render returns every frame of cfg.
func render(t testing.TB, cfg Config) (*Source, []frame) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []frame
	for {
		f, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tr := s.Truth()
		if tr.Frame != len(out) || f.Seq != uint64(len(out)) {
			t.Fatalf("frame %d: truth for %d, seq %d", len(out), tr.Frame, f.Seq)
		}
		out = append(out, frame{slices.Clone(f.Data), tr.Motion, slices.Clone(tr.Mask)})
		f.Release()
	}
	return s, out
}

// luma returns the luma plane of a frame of format f.
func luma(f capture.Format, data []byte) []byte {
	if f.Pixel != capture.FormatYUYV {
		return data[:f.Width*f.Height]
	}
	y := make([]byte, f.Width*f.Height)
	for i := range y {
		y[i] = data[2*i]
	}
	return y
}

func meanAbsDiff(a, b []byte) float64 {
	s := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		s += max(d, -d)
	}
	return float64(s) / float64(len(a))
}

func mean(a []byte) float64 {
	s := 0
	for _, v := range a {
		s += int(v)
	}
	return float64(s) / float64(len(a))
}

func TestConfig(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Format(); f.Pixel != capture.FormatYUYV || f.Width != 320 || f.Height != 240 || f.FPS != 25 || f.Stride != 640 {
		t.Fatalf("default format %v", f)
	}
	if s.Config().Scene != Objects || s.Frames() != 40*25 {
		t.Fatalf("default scene %q of %d frames", s.Config().Scene, s.Frames())
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Scene: "rain"}, "rain"},
		{Config{Width: 320, Height: 0}, "size"},
		{Config{Width: 321, Height: 240}, "size"},
		{Config{Width: 32, Height: 24}, "size"},
		{Config{Width: 8192, Height: 240}, "size"},
		{Config{FPS: -1}, "fps"},
		{Config{FPS: 1000}, "fps"},
		{Config{FPS: math.NaN()}, "fps"},
		{Config{Frames: -1}, "frames"},
		{Config{Format: capture.FormatMJPEG}, "format"},
		{Config{Pool: -1}, "pool"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
}

func TestDeterminism(t *testing.T) {
	digest := func(cfg Config) [32]byte {
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for {
			f, err := s.Next(context.Background())
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			h.Write(f.Data)
			h.Write(s.Truth().Mask)
			f.Release()
		}
		return [32]byte(h.Sum(nil))
	}
	for _, tc := range []struct {
		sc  Scene
		pix capture.PixelFormat
	}{{Objects, capture.FormatYUYV}, {Shake, capture.FormatNV12}, {DayNight, capture.FormatGREY}, {Foliage, capture.FormatYUYV}} {
		cfg := small(tc.sc, tc.pix)
		cfg.Frames = 100 // past the first motion, the IR switch and shake
		a, b := digest(cfg), digest(cfg)
		cfg.Seed++
		c := digest(cfg)
		if a != b {
			t.Errorf("%s %v: the same seed gave different bytes", tc.sc, tc.pix)
		}
		if a == c {
			t.Errorf("%s %v: different seeds gave the same bytes", tc.sc, tc.pix)
		}
	}
}

// TestFormatsAgree checks that a scene's pictures are the same in every pixel
// format: same luma, and the same truth.
func TestFormatsAgree(t *testing.T) {
	cfg := small(Objects, capture.FormatGREY)
	cfg.Frames = 60
	_, grey := render(t, cfg)
	for _, pix := range []capture.PixelFormat{capture.FormatNV12, capture.FormatYUYV} {
		cfg.Format = pix
		s, frames := render(t, cfg)
		for i := range frames {
			if !slices.Equal(luma(s.Format(), frames[i].data), grey[i].data) || !slices.Equal(frames[i].mask, grey[i].mask) {
				t.Fatalf("%v frame %d: luma or truth differs from GREY's", pix, i)
			}
		}
	}
}

// TestTruth checks every scene's truth: mask values, Motion exactly when an
// object pixel is marked, the spans being the runs of Motion, and quiet gaps
// between events.
func TestTruth(t *testing.T) {
	for _, sc := range Scenes() {
		t.Run(string(sc), func(t *testing.T) {
			cfg := small(sc, capture.FormatGREY)
			s, frames := render(t, cfg)
			if want := int(planFor(sc).seconds * cfg.FPS); len(frames) != want {
				t.Fatalf("%d frames, want %d", len(frames), want)
			}
			zone := zoneMask(s.ExcludeZones(), cfg.Width, cfg.Height)
			near := dilate(zone, cfg.Width, cfg.Height) // the zone and its 1 px border
			var runs []Span
			for i, f := range frames {
				if len(f.mask) != cfg.Width*cfg.Height {
					t.Fatalf("frame %d: mask of %d bytes", i, len(f.mask))
				}
				motionPx, outside := 0, 0
				for p, v := range f.mask {
					switch v {
					case MaskMotion:
						motionPx++
					case MaskUnknown, MaskStatic:
					default:
						t.Fatalf("frame %d: mask value %d", i, v)
					}
					if v != MaskStatic && !near[p] {
						outside++
					}
					if zone[p] && v != MaskUnknown {
						t.Fatalf("frame %d: pixel %d of the exclude zone is %d, want %d", i, p, v, MaskUnknown)
					}
				}
				// Objects never enter the zone, so outside it the mask is set
				// exactly when an object is visible.
				if f.motion != (outside > 0) {
					t.Fatalf("frame %d: Motion %v but %d marked pixels outside the zone", i, f.motion, outside)
				}
				if motionPx > 0 && !f.motion {
					t.Fatalf("frame %d: %d motion pixels without Motion", i, motionPx)
				}
				if f.motion {
					if n := len(runs); n > 0 && runs[n-1].Last == i-1 {
						runs[n-1].Last = i
					} else {
						runs = append(runs, Span{i, i})
					}
				}
			}
			if !slices.Equal(runs, s.Spans()) {
				t.Fatalf("spans %v, but frames with motion run %v", s.Spans(), runs)
			}
			if want := len(planFor(sc).movers) > 0; (len(runs) > 0) != want {
				t.Fatalf("spans %v for a scene with %d movers", runs, len(planFor(sc).movers))
			}
			for i := 1; i < len(runs); i++ {
				if gap := runs[i].First - runs[i-1].Last - 1; float64(gap) < 1.5*cfg.FPS {
					t.Errorf("spans %v and %v: a quiet gap of only %d frames", runs[i-1], runs[i], gap)
				}
			}
		})
	}
}

// zoneMask marks the pixels whose centres lie inside one of zones (even-odd
// rule), computed independently of the package's rasteriser.
func zoneMask(zones [][][2]float64, w, h int) []bool {
	m := make([]bool, w*h)
	for _, z := range zones {
		for y := range h {
			for x := range w {
				px, py := (float64(x)+0.5)/float64(w), (float64(y)+0.5)/float64(h)
				in := false
				for i := range z {
					a, b := z[i], z[(i+1)%len(z)]
					if (a[1] > py) != (b[1] > py) && px < a[0]+(py-a[1])/(b[1]-a[1])*(b[0]-a[0]) {
						in = !in
					}
				}
				if in {
					m[y*w+x] = true
				}
			}
		}
	}
	return m
}

// dilate grows m by one pixel in every direction.
func dilate(m []bool, w, h int) []bool {
	out := make([]bool, len(m))
	for y := range h {
		for x := range w {
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					xx, yy := x+dx, y+dy
					if xx >= 0 && yy >= 0 && xx < w && yy < h && m[yy*w+xx] {
						out[y*w+x] = true
					}
				}
			}
		}
	}
	return out
}

// meanFrames averages the first n frames.
func meanFrames(frames []frame, n int) []float64 {
	bg := make([]float64, len(frames[0].data))
	for _, f := range frames[:n] {
		for i, v := range f.data {
			bg[i] += float64(v) / float64(n)
		}
	}
	return bg
}

// TestMaskMatchesPicture checks that the truth describes the picture: pixels
// marked static equal the background up to noise, and pixels marked as motion
// differ from it clearly.
func TestMaskMatchesPicture(t *testing.T) {
	for _, sc := range []Scene{Objects, Foliage} {
		t.Run(string(sc), func(t *testing.T) {
			s, frames := render(t, small(sc, capture.FormatGREY))
			spans := s.Spans()
			bg := meanFrames(frames, spans[0].First)
			zone := zoneMask(s.ExcludeZones(), 128, 96)
			for _, sp := range spans {
				var stat, mov, nStat, nMov float64
				for i := sp.First; i <= sp.Last; i++ {
					for p, v := range frames[i].data {
						d := math.Abs(float64(v) - bg[p])
						switch {
						case zone[p]:
						case frames[i].mask[p] == MaskStatic:
							stat, nStat = stat+d, nStat+1
						case frames[i].mask[p] == MaskMotion:
							mov, nMov = mov+d, nMov+1
						}
					}
				}
				t.Logf("span %v: static pixels differ by %.2f, moving ones by %.2f", sp, stat/nStat, mov/nMov)
				// Noise of sigma 2 gives a mean absolute difference of about 1.6.
				if stat/nStat > 2.5 {
					t.Errorf("span %v: static pixels differ from the background by %.2f on average", sp, stat/nStat)
				}
				if mov/nMov < 20 {
					t.Errorf("span %v: moving pixels differ from the background by only %.2f", sp, mov/nMov)
				}
			}
		})
	}
}

func TestStaticNoise(t *testing.T) {
	cfg := small(Static, capture.FormatGREY)
	cfg.Frames = 40
	s, frames := render(t, cfg)
	if len(s.Spans()) != 0 {
		t.Fatalf("spans %v in the static scene", s.Spans())
	}
	for i := 1; i < len(frames); i++ {
		a, b := frames[i-1].data, frames[i].data
		// Two independent N(0, 2²) samples differ by 2*2/sqrt(pi) = 2.26 on average.
		if d := meanAbsDiff(a, b); d < 1.5 || d > 3.2 {
			t.Fatalf("frames %d and %d: mean abs diff %.2f, want sensor noise only (about 2.3)", i-1, i, d)
		}
		for p := range a {
			if d := int(a[p]) - int(b[p]); d > 20 || d < -20 {
				t.Fatalf("frames %d and %d: pixel %d changes by %d", i-1, i, p, d)
			}
		}
	}
	// The background is textured, not flat: it varies both overall and locally.
	f := frames[0].data
	m := mean(f)
	variance, grad := 0.0, 0.0
	for p, v := range f {
		variance += (float64(v) - m) * (float64(v) - m)
		if p%128 != 0 {
			grad += math.Abs(float64(v) - float64(f[p-1]))
		}
	}
	if sd := math.Sqrt(variance / float64(len(f))); sd < 20 {
		t.Errorf("background standard deviation %.1f: too flat", sd)
	}
	if g := grad / float64(len(f)); g < 4 {
		t.Errorf("background mean horizontal gradient %.1f: too smooth", g)
	}
}

// jumps returns the frames whose mean luma differs from the previous frame's by
// more than limit.
func jumps(frames []frame, f capture.Format, limit float64) []int {
	var out []int
	for i := 1; i < len(frames); i++ {
		if math.Abs(mean(luma(f, frames[i].data))-mean(luma(f, frames[i-1].data))) > limit {
			out = append(out, i)
		}
	}
	return out
}

func TestLightChange(t *testing.T) {
	s, frames := render(t, small(LightChange, capture.FormatYUYV))
	js := jumps(frames, s.Format(), 8)
	var quiet, moving int
	for _, j := range js {
		if frames[j].motion {
			moving++
			continue
		}
		quiet++
		// No motion around a light change, and no pixel marked.
		for i := max(j-5, 0); i < min(j+5, len(frames)); i++ {
			if frames[i].motion || slices.ContainsFunc(frames[i].mask, func(v byte) bool { return v != 0 }) {
				t.Errorf("frame %d, near the light change at %d, has motion truth", i, j)
			}
		}
	}
	t.Logf("light changes at frames %v, spans %v", js, s.Spans())
	if quiet != 3 || moving != 1 {
		t.Fatalf("light changes at frames %v: %d without and %d with motion, want 3 and 1", js, quiet, moving)
	}
}

func TestDayNight(t *testing.T) {
	cfg := small(DayNight, capture.FormatYUYV)
	s, frames := render(t, cfg)
	switchAt := int(planFor(DayNight).night * cfg.FPS)
	grey := func(d []byte) bool {
		for i := 1; i < len(d); i += 2 {
			if d[i] != 128 {
				return false
			}
		}
		return true
	}
	for i, f := range frames {
		if grey(f.data) != (i >= switchAt) {
			t.Fatalf("frame %d: grey %v, IR switch at %d", i, grey(f.data), switchAt)
		}
		if i < s.Spans()[0].First && f.motion {
			t.Fatalf("frame %d: motion before the first night span", i)
		}
	}
	if first := s.Spans()[0].First; first <= switchAt {
		t.Fatalf("first motion at %d, not after the IR switch at %d", first, switchAt)
	}
	// Noise: consecutive still frames differ more at night (after the
	// exposure transient) than by day.
	f := s.Format()
	day := meanAbsDiff(luma(f, frames[switchAt-3].data), luma(f, frames[switchAt-2].data))
	night := meanAbsDiff(luma(f, frames[switchAt+30].data), luma(f, frames[switchAt+31].data))
	t.Logf("noise by day %.2f, at night %.2f", day, night)
	if night < 2*day {
		t.Fatalf("noise by day %.2f, at night %.2f: want night noise well above day noise", day, night)
	}
}

func TestExcludeZoneCoversFoliage(t *testing.T) {
	cfg := small(Foliage, capture.FormatGREY)
	s, frames := render(t, cfg)
	zones := s.ExcludeZones()
	if len(zones) != 1 {
		t.Fatalf("%d zones, want 1", len(zones))
	}
	zone := zoneMask(zones, cfg.Width, cfg.Height)
	inZone := 0
	for _, in := range zone {
		if in {
			inZone++
		}
	}
	moved := 0
	for i := 3; i < s.Spans()[0].First; i += 3 {
		a, b := frames[i-3].data, frames[i].data
		for p := range a {
			if d := int(a[p]) - int(b[p]); d > 25 || d < -25 {
				if !zone[p] {
					t.Fatalf("frames %d, %d: pixel (%d, %d) changes by %d outside the exclude zone", i-3, i, p%cfg.Width, p/cfg.Width, d)
				}
				moved++
			}
		}
	}
	t.Logf("%d zone pixels changed over %d frame pairs (zone of %d)", moved, s.Spans()[0].First/3, inZone)
	// The foliage really moves: on average a good part of the zone changes.
	if n := s.Spans()[0].First / 3; float64(moved)/float64(n) < 0.1*float64(inZone) {
		t.Fatalf("only %d zone pixels changed over %d frame pairs (zone of %d)", moved, n, inZone)
	}
	if other, err := New(small(Objects, capture.FormatGREY)); err != nil || len(other.ExcludeZones()) != 0 {
		t.Fatalf("objects scene zones: %v, %v", other.ExcludeZones(), err)
	}
}

// bestShift returns the integer shift of b, within 2 px, that best matches a,
// and the mean absolute difference there (borders excluded).
func bestShift(a, b []byte, w, h int) (int, int, float64) {
	bx, by, best := 0, 0, math.Inf(1)
	for dy := -2; dy <= 2; dy++ {
		for dx := -2; dx <= 2; dx++ {
			s, n := 0.0, 0.0
			for y := 3; y < h-3; y++ {
				for x := 3; x < w-3; x++ {
					s += math.Abs(float64(a[y*w+x]) - float64(b[(y+dy)*w+x+dx]))
					n++
				}
			}
			if s/n < best {
				bx, by, best = dx, dy, s/n
			}
		}
	}
	return bx, by, best
}

func TestShake(t *testing.T) {
	cfg := small(Shake, capture.FormatGREY)
	s, frames := render(t, cfg)
	shaken := 0
	for i := 1; i < s.Spans()[0].First; i++ {
		if frames[i].motion {
			t.Fatalf("frame %d: motion before the first span", i)
		}
		if i%2 == 0 {
			continue // half the frames are plenty
		}
		dx, dy, d := bestShift(frames[0].data, frames[i].data, cfg.Width, cfg.Height)
		if d > 3 {
			t.Fatalf("frame %d: no shift within 2 px explains it (best %d,%d leaves %.2f)", i, dx, dy, d)
		}
		if dx != 0 || dy != 0 {
			shaken++
		}
	}
	// The first spell of shake is 3 s long; half its frames were checked.
	t.Logf("%d shaken frames before the first motion", shaken)
	if shaken < int(1.2*cfg.FPS) {
		t.Fatalf("only %d shaken frames before the first motion", shaken)
	}
}

func TestFlicker(t *testing.T) {
	cfg := small(Flicker, capture.FormatGREY)
	s, frames := render(t, cfg)
	rowMeans := func(d []byte) []float64 {
		out := make([]float64, cfg.Height)
		for y := range out {
			out[y] = mean(d[y*cfg.Width : (y+1)*cfg.Width])
		}
		return out
	}
	banded := 0
	for i := 1; i < s.Spans()[0].First; i++ {
		a, b := rowMeans(frames[i-1].data), rowMeans(frames[i].data)
		lo, hi := math.Inf(1), math.Inf(-1)
		for y := range a {
			lo, hi = math.Min(lo, b[y]-a[y]), math.Max(hi, b[y]-a[y])
		}
		// Bands: some rows brighten while others darken.
		if hi-lo > 6 {
			banded++
		}
	}
	t.Logf("%d of %d still frames show flicker bands", banded, s.Spans()[0].First)
	if banded < s.Spans()[0].First/2 {
		t.Fatalf("only %d of %d still frames show flicker bands", banded, s.Spans()[0].First)
	}
}

func TestDrift(t *testing.T) {
	cfg := small(Drift, capture.FormatGREY)
	_, frames := render(t, cfg)
	first, last := mean(frames[0].data), mean(frames[len(frames)-1].data)
	t.Logf("mean luma %.1f at the start, %.1f at the end", first, last)
	if last > 0.7*first {
		t.Fatalf("mean luma %.1f at the start and %.1f at the end: no drift", first, last)
	}
	// Slow: no sudden change between frames, even at 10 fps.
	if js := jumps(frames, capture.Format{Pixel: capture.FormatGREY, Width: 128, Height: 96}, 2); len(js) > 0 {
		t.Fatalf("sudden changes at frames %v", js)
	}
}

func TestObjectsVaried(t *testing.T) {
	s, frames := render(t, small(Objects, capture.FormatGREY))
	spans := s.Spans()
	if len(spans) < 5 {
		t.Fatalf("%d spans, want 5 separate events", len(spans))
	}
	var areas []int
	for _, sp := range spans {
		most := 0
		for i := sp.First; i <= sp.Last; i++ {
			n := 0
			for _, v := range frames[i].mask {
				if v == MaskMotion {
					n++
				}
			}
			most = max(most, n)
		}
		areas = append(areas, most)
	}
	t.Logf("spans %v, object areas %v", spans, areas)
	if slices.Max(areas) < 8*slices.Min(areas) {
		t.Fatalf("largest object areas per event %v: want sizes that vary", areas)
	}
	var lengths []int
	for _, sp := range spans {
		lengths = append(lengths, sp.Last-sp.First+1)
	}
	if slices.Max(lengths) < 3*slices.Min(lengths) {
		t.Fatalf("event lengths %v: want speeds that vary", lengths)
	}
}

func TestNext(t *testing.T) {
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, err := New(Config{Scene: Static, Width: 64, Height: 48, Frames: 3, Pool: 1, Start: start, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	if tr := s.Truth(); tr.Frame != -1 {
		t.Fatalf("truth before the first frame: %d", tr.Frame)
	}
	ctx := context.Background()
	f, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(ctx); !errors.Is(err, capture.ErrPoolEmpty) {
		t.Fatalf("Next with the pool held = %v", err)
	}
	f.Release()
	f, err = s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.Seq != 1 || f.Time != start.Add(time.Second/30) || len(f.Data) != s.Format().FrameSize() || f.Format != s.Format() {
		t.Fatalf("frame seq %d time %v len %d format %v", f.Seq, f.Time, len(f.Data), f.Format)
	}
	f.Release()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Next(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled ctx = %v", err)
	}
	f, err = s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.Release()
	if _, err := s.Next(ctx); err != io.EOF {
		t.Fatalf("Next after the last frame = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(ctx); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
}

func TestNextAllocs(t *testing.T) {
	for _, pix := range []capture.PixelFormat{capture.FormatYUYV, capture.FormatNV12, capture.FormatGREY} {
		s, err := New(small(Foliage, pix))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		allocs := testing.AllocsPerRun(50, func() {
			f, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Truth()
			f.Release()
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per frame", pix, allocs)
		}
	}
}

// TestLongerRun checks that a run longer than the script ends quiet, still
// lit, and that a shorter one cuts the script.
func TestLongerRun(t *testing.T) {
	cfg := small(Drift, capture.FormatGREY)
	cfg.Frames = 3 * 400
	s, frames := render(t, cfg)
	if last := s.Spans()[len(s.Spans())-1]; last.Last >= 400 {
		t.Fatalf("motion at %v after the script's end", last)
	}
	if m := mean(frames[len(frames)-1].data); m < 40 {
		t.Fatalf("mean luma %.1f at the end of a long run", m)
	}
	cfg.Frames = 100
	s, frames = render(t, cfg)
	// The first walker crosses from 5 to 10 s: frames 50 to 100 at 10 fps.
	if len(frames) != 100 || len(s.Spans()) != 1 || s.Spans()[0].First < 50 || s.Spans()[0].Last > 99 {
		t.Fatalf("short run: %d frames, spans %v", len(frames), s.Spans())
	}
}

// TestLoop checks Config.Loop: the script starts over with the same pictures
// and truth, while Seq and Time keep counting.
func TestLoop(t *testing.T) {
	cfg := small(Objects, capture.FormatYUYV)
	cfg.Frames = 12
	cfg.Start = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	_, once := render(t, cfg)
	cfg.Loop = true
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2*len(once) + 3 {
		f, err := s.Next(context.Background())
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := once[i%len(once)]
		tr := s.Truth()
		if tr.Frame != i%len(once) || f.Seq != uint64(i) || f.Time != cfg.Start.Add(time.Duration(i)*time.Second/10) {
			t.Fatalf("frame %d: truth for %d, seq %d, time %v", i, tr.Frame, f.Seq, f.Time)
		}
		if !bytes.Equal(f.Data, want.data) || !bytes.Equal(tr.Mask, want.mask) || tr.Motion != want.motion {
			t.Fatalf("frame %d: picture or truth differs from frame %d of the first pass", i, i%len(once))
		}
		f.Release()
	}
}

// TestRendererMemory checks what a 640x480 YUYV source keeps besides its
// frames, and what New allocates on the way: the agent's memory budget counts
// the renderer as budget.Synthetic (3 bytes a pixel, agent/budget) for the
// default scene, and a source is made at every start of the capture part.
// The mask is made only for a caller of Truth.
func TestRendererMemory(t *testing.T) {
	const w, h = 640, 480
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	s, err := New(Config{Scene: Objects, Width: w, Height: h, Seed: 1, Pool: 1})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&b)
	frame := uint64(s.Format().FrameSize())
	kept, made := b.HeapAlloc-a.HeapAlloc-frame, b.TotalAlloc-a.TotalAlloc-frame
	t.Logf("renderer: %d bytes kept (%.2f a pixel), %d allocated by New", kept, float64(kept)/(w*h), made)
	if kept > 3*w*h {
		t.Errorf("the renderer keeps %d bytes, more than 3 a pixel (%d)", kept, 3*w*h)
	}
	if made > kept+kept/4 {
		t.Errorf("New allocated %d bytes to keep %d: more than a quarter of it was scratch", made, kept)
	}
	for range 3 {
		f, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		f.Release()
	}
	if s.r.mask != nil {
		t.Errorf("the truth mask was made without a call to Truth")
	}
	if len(s.Truth().Mask) != w*h {
		t.Errorf("Truth's mask has %d bytes, want %d", len(s.Truth().Mask), w*h)
	}
	runtime.KeepAlive(s)
}
