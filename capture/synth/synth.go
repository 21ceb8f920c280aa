package synth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/camagent/camagent/capture"
)

// Scene names a scripted scene.
type Scene string

// The scenes. Each scripts a few tens of seconds of video; the timings below are
// in seconds and scale with Config.FPS.
const (
	// Static is the background with sensor noise and nothing else (20 s).
	Static Scene = "static"
	// Objects has objects of varied size and speed that enter and leave:
	// a walker, a fast small ball, a car together with a second walker, a
	// diagonal crosser and a slow far walker, with quiet gaps of 2 s or more
	// between the events (40 s).
	Objects Scene = "objects"
	// LightChange has three sudden global light changes (at 5, 11 and 15.5 s,
	// each followed by an auto-exposure settle) with no motion, then a walker
	// (19–26 s) during which the light changes again at 22 s (30 s).
	LightChange Scene = "light-change"
	// DayNight switches to IR night mode at 8 s (grey, a different tone curve
	// and vignette, higher noise, an exposure transient) with no motion, then has
	// a walker and a car in night mode (30 s).
	DayNight Scene = "day-night"
	// Flicker has a rolling 100 Hz mains flicker (bands drifting down the image
	// plus a global brightness ripple) throughout, and two motion spans (30 s).
	Flicker Scene = "flicker"
	// Foliage has a swaying tree crown in the upper right, reported as an
	// exclude zone, and three motion spans in the lower half (30 s).
	Foliage Scene = "foliage"
	// Shake has spells of 1–2 px camera shake with no motion, two motion spans,
	// and one spell of shake during the second (30 s).
	Shake Scene = "shake"
	// Drift has a slow illumination drift (dusk with passing clouds) and four
	// motion spans (40 s).
	Drift Scene = "drift"
	// Shadows has soft-edged light changes that travel across the scene with
	// no motion: two cloud shadows sweeping through (2–10 s, 16–25 s) and
	// headlights' spill crossing a wall (12–15 s); then a walker crosses
	// inside a third, slow cloud shadow (31–37 s) (40 s).
	Shadows Scene = "shadows"
	// Particles is at night under the IR lamp, with particles near the lens
	// and a walker among each kind: snow (1–15 s, walker 10–15 s), rain
	// (17–31 s, walker 26–31 s) and insects (33–50 s, walker 43–49 s) (50 s).
	Particles Scene = "particles"
)

// Scenes returns every scene.
func Scenes() []Scene {
	return []Scene{Static, Objects, LightChange, DayNight, Flicker, Foliage, Shake, Drift, Shadows, Particles}
}

// Mask values, as in CDnet's ground truth.
const (
	MaskStatic  = 0
	MaskUnknown = 170 // object borders and excluded zones: not scored
	MaskMotion  = 255
)

// Config chooses a scene and how it is rendered. The zero value of every field
// but Seed means its default.
type Config struct {
	Scene         Scene // default Objects
	Width, Height int   // even, 64x48 to 4096x4096; default 320x240
	FPS           float64
	// Frames is the length; the default is the scene's scripted length. A
	// shorter run cuts the script, a longer one ends quiet.
	Frames int
	Seed   int64
	Format capture.PixelFormat // YUYV (default), NV12 or GREY
	Start  time.Time           // time of frame 0; frame n is Start + n/FPS
	Pool   int                 // frames the consumer may hold at once; default 4
	// Loop starts the script over after its last frame, with the same
	// renderer and frames (a source made again would build its background
	// and pool again); Seq and Time keep counting, Truth's Frame starts
	// from 0 again. Without it Next returns io.EOF at the end.
	Loop bool
}

// Span is a run of frames with motion, both ends included.
type Span struct {
	First int `json:"first"`
	Last  int `json:"last"`
}

// Truth is the ground truth of one frame.
type Truth struct {
	Frame  int  // index of the frame, from 0
	Motion bool // some pixel of a moving object is visible
	// Mask has Width*Height bytes, row by row: MaskMotion on moving objects,
	// MaskUnknown on their borders (1 px either side) and excluded zones,
	// MaskStatic elsewhere. Motion is true exactly when some object pixel
	// (MaskMotion, or the inner half of a border) is in the frame.
	Mask []byte
}

// Source renders a scene. It is meant for one goroutine.
type Source struct {
	cfg    Config
	format capture.Format
	pool   *capture.Pool
	frames int
	r      *renderer
	truth  Truth
	spans  []Span
	zones  [][][2]float64
	next   int    // the script's next frame
	count  uint64 // frames rendered, over every loop
	masked uint64 // count when the mask was last drawn (0: never)
	closed bool
}

// New builds the scene: background, textures and the whole script, so the
// spans are known before the first frame.
func New(cfg Config) (*Source, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	p := planFor(cfg.Scene)
	frames := cfg.Frames
	if frames == 0 {
		frames = int(math.Round(p.seconds * cfg.FPS))
	}
	s := &Source{
		cfg:    cfg,
		frames: frames,
		format: capture.Format{Pixel: cfg.Format, Width: cfg.Width, Height: cfg.Height, FPS: cfg.FPS},
	}
	switch cfg.Format {
	case capture.FormatYUYV:
		s.format.Stride = 2 * cfg.Width
	default:
		s.format.Stride = cfg.Width
	}
	s.r = newRenderer(p, cfg, frames)
	s.pool = capture.NewPool(cfg.Pool, s.format.FrameSize())
	s.truth = Truth{Frame: -1}
	s.spans = s.r.spans()
	for _, z := range p.zones {
		s.zones = append(s.zones, slices.Clone(z))
	}
	return s, nil
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Scene == "" {
		cfg.Scene = Objects
	}
	if !slices.Contains(Scenes(), cfg.Scene) {
		return cfg, fmt.Errorf("synth: config: unknown scene %q (have %v)", cfg.Scene, Scenes())
	}
	if cfg.Width == 0 && cfg.Height == 0 {
		cfg.Width, cfg.Height = 320, 240
	}
	if cfg.Width < 64 || cfg.Height < 48 || cfg.Width > 4096 || cfg.Height > 4096 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return cfg, fmt.Errorf("synth: config: size %dx%d: want even sizes from 64x48 to 4096x4096", cfg.Width, cfg.Height)
	}
	if cfg.FPS == 0 {
		cfg.FPS = 25
	}
	if !(cfg.FPS >= 1 && cfg.FPS <= 240) {
		return cfg, fmt.Errorf("synth: config: fps %v: want 1 to 240", cfg.FPS)
	}
	if cfg.Frames < 0 || cfg.Frames > 1<<24 {
		return cfg, fmt.Errorf("synth: config: frames %d: want 0 (default) to %d", cfg.Frames, 1<<24)
	}
	if cfg.Format == 0 {
		cfg.Format = capture.FormatYUYV
	}
	if cfg.Format != capture.FormatYUYV && cfg.Format != capture.FormatNV12 && cfg.Format != capture.FormatGREY {
		return cfg, fmt.Errorf("synth: config: format %v: want YUYV, NV12 or GREY", cfg.Format)
	}
	if cfg.Pool == 0 {
		cfg.Pool = 4
	}
	if cfg.Pool < 0 {
		return cfg, fmt.Errorf("synth: config: pool %d", cfg.Pool)
	}
	return cfg, nil
}

// Format returns the format of the frames.
func (s *Source) Format() capture.Format { return s.format }

// Frames returns the number of frames the source yields.
func (s *Source) Frames() int { return s.frames }

// Config returns the configuration with its defaults filled in.
func (s *Source) Config() Config { return s.cfg }

// Next renders the next frame; the caller releases it. It returns io.EOF after
// the last frame, and an error wrapping capture.ErrPoolEmpty when the caller
// holds every pooled frame. It allocates nothing.
func (s *Source) Next(ctx context.Context) (*capture.Frame, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed {
		return nil, fmt.Errorf("synth: next: %w", os.ErrClosed)
	}
	if s.next >= s.frames {
		if !s.cfg.Loop {
			return nil, io.EOF
		}
		s.next = 0
	}
	f, err := s.pool.Get()
	if err != nil {
		return nil, fmt.Errorf("synth: next: %w", err)
	}
	n := s.next
	motion := s.r.render(n, f.Buffer())
	f.SetLen(s.format.FrameSize())
	f.Format = s.format
	f.Seq = s.count
	f.Time = s.cfg.Start.Add(time.Duration(math.Round(float64(s.count) / s.cfg.FPS * 1e9)))
	s.truth.Frame, s.truth.Motion = n, motion
	s.next++
	s.count++
	return f, nil
}

// Truth returns the ground truth of the frame the last Next returned (Frame is
// -1 before the first, with an empty mask). Its Mask is the source's own
// buffer, drawn at the first call for a frame (a source nobody asks for the
// truth keeps no mask): it is valid until the next call to Next, and the
// caller must not modify it.
func (s *Source) Truth() Truth {
	if s.truth.Mask == nil || s.masked != s.count {
		s.r.paintMask(s.truth.Frame)
		s.masked = s.count
		s.truth.Mask = s.r.mask
	}
	return s.truth
}

// Spans returns the motion events of the whole run: maximal runs of frames
// whose Truth has Motion.
func (s *Source) Spans() []Span { return slices.Clone(s.spans) }

// ExcludeZones returns the scene's exclude zones as polygons of (x, y) points
// in frame-relative coordinates (0..1, origin top left). Only the foliage scene
// has one; it covers every pixel the foliage moves.
func (s *Source) ExcludeZones() [][][2]float64 {
	out := make([][][2]float64, 0, len(s.zones))
	for _, z := range s.zones {
		out = append(out, slices.Clone(z))
	}
	return out
}

// Close ends the source; frames the caller holds stay valid.
func (s *Source) Close() error {
	s.closed = true
	return nil
}

// ErrTruth marks a truth file that is malformed or breaks a limit.
var ErrTruth = errors.New("synth: bad truth file")

// newRand returns a generator for one purpose of one seed.
func newRand(seed int64, purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), purpose))
}
