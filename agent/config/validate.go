package config

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
)

// Validate checks every value against its allowed range. It returns nil, or
// every problem joined with errors.Join, one complete message per line; each
// matches ErrInvalid.
func (c Config) Validate() error {
	var p problems
	p.add(checkOneOf("board", c.Board, Boards()))
	d := c.ShutdownTimeout.Duration
	if d < MinShutdownTimeout || d > MaxShutdownTimeout {
		p.addKey("shutdown_timeout", "%s is out of range %s..%s", d, seconds(MinShutdownTimeout), seconds(MaxShutdownTimeout))
	}
	p.add(checkOneOf("log.level", c.Log.Level, LogLevels()))
	p.add(checkOneOf("log.format", c.Log.Format, LogFormats()))
	p.add(checkRange("log.ring_lines", c.Log.RingLines, MinRingLines, MaxRingLines))
	p.add(checkSocket("control.socket", c.Control.Socket))
	p.add(checkOneOf("capture.source", c.Capture.Source, Sources()))
	p.add(checkOneOf("capture.scene", c.Capture.Scene, sceneNames()))
	if c.Capture.Source == "y4m" || c.Capture.File != "" {
		p.add(checkAbs("capture.file", c.Capture.File))
	}
	p.add(checkAbs("capture.device", c.Capture.Device))
	checkFormats(&p, "capture.formats", c.Capture.Formats)
	p.add(checkRange("capture.width", c.Capture.Width, MinWidth, MaxWidth))
	p.add(checkRange("capture.height", c.Capture.Height, MinHeight, MaxHeight))
	if f := c.Capture.FPS; !(f >= MinFPS && f <= MaxFPS) {
		p.addKey("capture.fps", "%s is out of range %d..%d", formatFloat(f), MinFPS, MaxFPS)
	}
	p.add(checkRange("capture.buffers", c.Capture.Buffers, MinBuffers, MaxBuffers))
	checkControls(&p, "capture.controls", c.Capture.Controls)
	st := c.Storage
	p.add(checkAbs("storage.mount", st.Mount))
	p.add(checkDuration("storage.pre_roll", st.PreRoll.Duration, 0, time.Minute))
	p.add(checkRange("storage.pre_roll_mb", st.PreRollMB, 1, 256))
	p.add(checkDuration("storage.post_roll", st.PostRoll.Duration, 0, 10*time.Minute))
	p.add(checkDuration("storage.max_clip", st.MaxClip.Duration, time.Second, 4*time.Hour))
	if f := st.ClipFPS; !(f >= 1 && f <= 60) {
		p.addKey("storage.clip_fps", "%s is out of range 1..60", formatFloat(f))
	}
	p.add(checkRange("storage.jpeg_quality", st.JPEGQuality, 1, 100))
	p.add(checkDuration("storage.fragment", st.Fragment.Duration, time.Second, 10*time.Second))
	p.add(checkRange("storage.free_floor_mb", st.FreeFloorMB, 0, 1<<30))
	p.add(checkRange("storage.critical_floor_mb", st.CriticalFloorMB, 0, 1<<30))
	p.add(checkRange("storage.quota_mb", st.QuotaMB, 0, 1<<30))
	if st.FreeFloorMB > 0 && st.CriticalFloorMB > st.FreeFloorMB {
		p.addKey("storage.critical_floor_mb", "%d is above storage.free_floor_mb (%d)", st.CriticalFloorMB, st.FreeFloorMB)
	}
	if err := c.Motion.Validate(); err != nil {
		p.addKey("motion", "%s", strings.TrimPrefix(err.Error(), "motion: invalid config: "))
	}
	if u := c.Upload; u.URL != "" {
		if !strings.HasPrefix(u.URL, "https://") {
			p.addKey("upload.url", "%s is not an https:// URL", quote(u.URL))
		}
		p.add(checkAbs("upload.ca", u.CA))
	}
	p.add(checkRange("upload.bandwidth_kbps", c.Upload.BandwidthKBps, 0, 1<<30))
	p.add(checkDuration("upload.start_delay", c.Upload.StartDelay.Duration, 0, time.Hour))
	p.add(checkAbs("identity.key", c.Identity.Key))
	if c.Identity.CloudKey != "" {
		p.add(checkAbs("identity.cloud_key", c.Identity.CloudKey))
	}
	validateLive(&p, c.Live)
	return p.err()
}

func sceneNames() []string {
	var out []string
	for _, s := range synth.Scenes() {
		out = append(out, string(s))
	}
	return out
}

func checkOneOf(key, v string, allowed []string) *Error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return keyError(key, "%s is not one of %s", quote(v), strings.Join(allowed, ", "))
}

func checkRange(key string, v, lo, hi int) *Error {
	if v >= lo && v <= hi {
		return nil
	}
	return keyError(key, "%d is out of range %d..%d", v, lo, hi)
}

func checkAbs(key, p string) *Error {
	switch {
	case p == "":
		return keyError(key, "is empty, want an absolute path")
	case strings.IndexByte(p, 0) >= 0:
		return keyError(key, "%s contains a NUL byte", quote(p))
	case !path.IsAbs(p):
		return keyError(key, "%s is not an absolute path", quote(p))
	}
	return nil
}

func checkSocket(key, p string) *Error {
	if e := checkAbs(key, p); e != nil {
		return e
	}
	if len(p) > MaxSocketPath {
		return keyError(key, "%s is %d bytes, at most %d", quote(p), len(p), MaxSocketPath)
	}
	return nil
}

func checkFormats(p *problems, key string, formats []string) {
	names := capture.FormatNames()
	if len(formats) == 0 {
		p.addKey(key, "is empty, want at least one of %s", strings.Join(names, ", "))
		return
	}
	for i, f := range formats {
		if !slices.Contains(names, f) {
			p.addKey(key, "%s is not one of %s", quote(f), strings.Join(names, ", "))
		} else if slices.Index(formats, f) < i {
			p.addKey(key, "%s is listed twice", quote(f))
		}
	}
}

func checkControls(p *problems, key string, controls map[string]int32) {
	if len(controls) > MaxControls {
		p.addKey(key, "has %d controls, at most %d", len(controls), MaxControls)
		return
	}
	names := make([]string, 0, len(controls))
	for n := range controls {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		k := key + "." + keyPart(n)
		switch {
		case n == "":
			p.addKey(k, "a control name is empty")
		case len(n) > MaxControlName:
			p.addKey(k, "the name is %d bytes, at most %d", len(n), MaxControlName)
		case strings.IndexFunc(n, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0:
			p.addKey(k, "the name has a character that is not printable ASCII")
		}
	}
}

// keyPart writes one part of a key as TOML would: bare when it can be,
// quoted otherwise.
func keyPart(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) >= 0 {
		return quote(s)
	}
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "..."
	}
	return s
}

// seconds writes a whole number of seconds as "60s" rather than "1m0s".
func checkDuration(key string, d, lo, hi time.Duration) *Error {
	if d >= lo && d <= hi {
		return nil
	}
	return keyError(key, "%s is out of range %s..%s", d, seconds(lo), seconds(hi))
}

func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return fmt.Sprintf("%g", f)
}
