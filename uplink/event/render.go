package event

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Render writes m as one line for people, e.g.
//
//	2026-12-04 05:40:01Z cam-3xq7... #118 motion-start score 12.3%, 2 boxes (event 7)
//
// The time is the device's; "(clock not set)" follows it when the device
// said its clock was not synchronised. Untrusted text (the reason) is quoted.
func Render(m Message) string {
	var b strings.Builder
	b.WriteString(m.Time.UTC().Format("2006-01-02 15:04:05Z"))
	if !m.ClockTrusted {
		b.WriteString(" (clock not set)")
	}
	fmt.Fprintf(&b, " %s #%d %s", m.DeviceID, m.Seq, m.Kind)
	if d := Describe(m.Event); d != "" {
		b.WriteString(" ")
		b.WriteString(d)
	}
	return b.String()
}

// Describe writes the kind-specific part of e, without time or origin.
func Describe(e Event) string {
	var parts []string
	add := func(format string, a ...any) { parts = append(parts, fmt.Sprintf(format, a...)) }
	switch e.Kind {
	case KindMotionStart, KindMotionEnd:
		add("score %s, %d boxes", percent(e.ScorePPM), len(e.Boxes))
		if e.MotionID != 0 {
			add("(event %d)", e.MotionID)
		}
	case KindClipSealed:
		add("%s, %s, %s", e.Clip, size(e.Bytes), e.Duration.Round(100*time.Millisecond))
		if e.ManifestSeq != 0 {
			add("manifest #%d", e.ManifestSeq)
		}
	case KindClipUploaded:
		add("%s, %s", e.Clip, size(e.Bytes))
		if e.ManifestSeq != 0 {
			add("manifest #%d", e.ManifestSeq)
		}
	case KindRetention:
		add("deleted %d clips, freed %s", e.Deleted, size(e.Freed))
	case KindSD, KindDayNight:
		add("%s", e.State)
	case KindState, KindOnline:
		add("up %s", e.Uptime)
		if e.Kind == KindState {
			add("SD %s free of %s, %s fps, %d to upload", size(e.SDFree), size(e.SDTotal),
				strconv.FormatFloat(e.FPS, 'f', 1, 64), e.Backlog)
			if e.Dropped != 0 {
				add("%d events dropped", e.Dropped)
			}
		}
	case KindCommandResult:
		add("%s %s (nonce %x)", e.Op, e.State, e.Nonce)
		if len(e.Challenge) != 0 {
			add("challenge %x", e.Challenge)
		}
	}
	if e.Reason != "" {
		add("%q", e.Reason)
	}
	s := strings.Join(parts, " ")
	return strings.ReplaceAll(s, ", (", " (")
}

func percent(ppm uint32) string {
	return strconv.FormatFloat(float64(ppm)/1e4, 'f', 1, 64) + "%"
}

func size(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
