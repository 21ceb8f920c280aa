package motion

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Config holds the detector's knobs. The TOML keys (of the motion table in
// the agent's configuration file) are given with each field; DefaultConfig
// has the defaults.
type Config struct {
	// GridWidth is the analysis grid's width in cells (toml "grid_width").
	// Each cell is a square of whole input pixels, so the real width is the
	// input width divided by the nearest integer factor (160 for 320, 640,
	// 1280 and 1920 wide inputs). From MJPEG a cell is at least one 8x8 block.
	GridWidth int `toml:"grid_width"`
	// Blur smooths the grid with a 3x3 binomial filter before comparing
	// (toml "blur").
	Blur bool `toml:"blur"`
	// Threshold is the smallest luma difference (0..255) between a cell and
	// its background that counts as change (toml "threshold"), as in Frigate.
	Threshold int `toml:"threshold"`
	// NoiseK raises the threshold on noisy pictures: the threshold is
	// max(Threshold, NoiseK * noise), noise being the robust standard
	// deviation of frame-minus-background over the grid (toml "noise_k";
	// 0 turns the adaptive part off).
	NoiseK float64 `toml:"noise_k"`
	// LearnRate is the running-average background's weight of a new frame
	// (Frigate's frame_alpha) for cells without motion; cells with motion
	// learn at a sixteenth of it, so a passing object leaves little trail
	// (one that stops is taken in after StillTime) (toml "learn_rate").
	LearnRate float64 `toml:"learn_rate"`
	// StillTime is how long a changed cell must stay unchanged from frame to
	// frame before it is taken into the background at once (toml
	// "still_time"): a parked car, a moved chair, or the place an object
	// left. Until then it learns at a sixteenth of LearnRate. The detector
	// counts it in frame intervals at the format's rate (25 fps when
	// unknown) from the frames' capture times, so frames it did not get
	// (dropped behind a busy CPU) count as well; 0 turns it off.
	StillTime time.Duration `toml:"still_time"`
	// Shake tolerates camera shake: a changed cell whose value lies within
	// the range of the background around it, Shake cells in each direction,
	// is an edge moved by the shake, and when such cells are spread over the
	// picture (6 of its 16 regions) they are not motion (toml "shake"; 0
	// turns it off, at most 2). During a shake, parts of an object over a
	// busy background of similar brightness are lost.
	Shake int `toml:"shake"`
	// MinAreaPercent is the smallest motion region that counts, in percent
	// of the analysed picture (toml "min_area_percent"; Frigate's
	// contour_area, made resolution-independent). Percent of the analysed
	// picture is the one unit of every area in the config and of the motion
	// score wherever the agent shows it (see Percent).
	MinAreaPercent float64 `toml:"min_area_percent"`
	// Despeckle is Motion's despeckle_filter: a sequence of e (erode, cross),
	// E (erode, 3x3), d (dilate, cross), D (dilate, 3x3) applied to the
	// changed-cell mask, optionally ending in l (keep only the largest
	// region). Empty turns it off (toml "despeckle").
	Despeckle string `toml:"despeckle"`
	// Zones restrict detection (toml "zones", an array of tables). With any
	// include zone, only cells inside an include zone count; cells inside an
	// exclude zone never count.
	Zones []Zone `toml:"zones"`
	// LightChangePercent is the part of the grid, in percent, that, changed
	// at the same time, makes the detector look at the frame as a whole
	// (toml "light_change_percent"). If the background's edges are still in place it is a
	// global light change: the detector fits the brightness mapping between
	// background and frame, relights the background with it and looks for
	// motion in what the mapping does not explain. If the edges moved, the
	// picture moved (a panning camera, a large object): that is motion.
	LightChangePercent float64 `toml:"light_change_percent"`
	// LightningPercent is the part of the grid, in percent, that, still
	// changed after that fit, or moved, makes the detector re-learn the background from scratch
	// (Frigate's lightning_threshold): a day/night switch, a turned camera.
	// After a light change no motion is reported while it re-learns (10
	// frames); a moving picture goes on being reported
	// (toml "lightning_percent").
	LightningPercent float64 `toml:"lightning_percent"`
	// MinMotionFrames is how many consecutive frames with motion start an
	// event (Motion's minimum_motion_frames; toml "min_motion_frames").
	MinMotionFrames int `toml:"min_motion_frames"`
	// EventGap is how long without motion ends an event (Motion's event_gap;
	// toml "event_gap", a duration string such as "5s").
	EventGap time.Duration `toml:"event_gap"`
	// Cooldown is how long after an event ends no new one starts
	// (toml "cooldown").
	Cooldown time.Duration `toml:"cooldown"`
}

// Zone is a polygon in frame-relative coordinates: (0,0) is the top left
// corner, (1,1) the bottom right. A cell belongs to it when its centre does.
type Zone struct {
	Polygon [][2]float64 `toml:"polygon"`
	Exclude bool         `toml:"exclude"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		GridWidth:          160,
		Blur:               true,
		Threshold:          12,
		NoiseK:             4,
		LearnRate:          0.02,
		StillTime:          3 * time.Second,
		Shake:              1,
		MinAreaPercent:     0.1,
		Despeckle:          "ED",
		LightChangePercent: 20,
		LightningPercent:   60,
		MinMotionFrames:    3,
		EventGap:           5 * time.Second,
	}
}

// Limits on the configuration.
const (
	minGridWidth = 16
	maxGridWidth = 1024
	maxZones     = 32
	maxZonePts   = 64
	maxDespeckle = 16
	maxMinFrames = 1000
	maxStillTime = 10 * time.Minute
)

// ErrConfig marks an invalid configuration.
var ErrConfig = errors.New("motion: invalid config")

func badKey(key, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, a...))
}

// Validate checks every field and names the first bad one by its TOML key.
func (c Config) Validate() error {
	switch {
	case c.GridWidth < minGridWidth || c.GridWidth > maxGridWidth:
		return badKey("grid_width", "%d outside %d..%d", c.GridWidth, minGridWidth, maxGridWidth)
	case c.Threshold < 1 || c.Threshold > 255:
		return badKey("threshold", "%d outside 1..255", c.Threshold)
	case !(c.NoiseK >= 0 && c.NoiseK <= 50):
		return badKey("noise_k", "%v outside 0..50", c.NoiseK)
	case !(c.LearnRate >= 1.0/4096 && c.LearnRate <= 1):
		return badKey("learn_rate", "%v outside 1/4096..1", c.LearnRate)
	case c.StillTime < 0 || c.StillTime > maxStillTime:
		return badKey("still_time", "%v outside 0..%v", c.StillTime, maxStillTime)
	case c.Shake < 0 || c.Shake > 2:
		return badKey("shake", "%d outside 0..2", c.Shake)
	case !(c.MinAreaPercent >= 0 && c.MinAreaPercent < 100):
		return badKey("min_area_percent", "%v outside 0..100 (percent of the picture)", c.MinAreaPercent)
	case !(c.LightChangePercent > 0 && c.LightChangePercent <= 100):
		return badKey("light_change_percent", "%v outside (0, 100] (percent of the picture)", c.LightChangePercent)
	case !(c.LightningPercent > 0 && c.LightningPercent <= 100):
		return badKey("lightning_percent", "%v outside (0, 100] (percent of the picture)", c.LightningPercent)
	case c.MinMotionFrames < 1 || c.MinMotionFrames > maxMinFrames:
		return badKey("min_motion_frames", "%d outside 1..%d", c.MinMotionFrames, maxMinFrames)
	case c.EventGap < 0:
		return badKey("event_gap", "negative")
	case c.Cooldown < 0:
		return badKey("cooldown", "negative")
	}
	if len(c.Despeckle) > maxDespeckle {
		return badKey("despeckle", "longer than %d", maxDespeckle)
	}
	for i, r := range c.Despeckle {
		if !strings.ContainsRune("eEdDl", r) || (r == 'l' && i != len(c.Despeckle)-1) {
			return badKey("despeckle", "%q: want e, E, d, D, then optionally l", c.Despeckle)
		}
	}
	if len(c.Zones) > maxZones {
		return badKey("zones", "more than %d", maxZones)
	}
	for i, z := range c.Zones {
		if len(z.Polygon) < 3 || len(z.Polygon) > maxZonePts {
			return badKey(fmt.Sprintf("zones[%d].polygon", i), "%d points, want 3..%d", len(z.Polygon), maxZonePts)
		}
		for _, p := range z.Polygon {
			for _, v := range p {
				if math.IsNaN(v) || v < 0 || v > 1 {
					return badKey(fmt.Sprintf("zones[%d].polygon", i), "coordinate %v outside 0..1", v)
				}
			}
		}
	}
	return nil
}

// The detector's area thresholds as fractions of the grid (the config holds
// them in percent).
func (c Config) minArea() float64     { return c.MinAreaPercent / 100 }
func (c Config) lightChange() float64 { return c.LightChangePercent / 100 }
func (c Config) lightning() float64   { return c.LightningPercent / 100 }

// RenamedKey returns the new name of a [motion] key that held a fraction
// (0..1) before the config moved to percent, so that a file still using it
// is refused with a message naming the new key and its unit.
func RenamedKey(old string) (string, bool) {
	switch old {
	case "min_area":
		return "min_area_percent", true
	case "light_change":
		return "light_change_percent", true
	case "lightning_threshold":
		return "lightning_percent", true
	}
	return "", false
}
