package control

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/camagent/camagent/board/timesync"
)

// EventIDs formats the motion event IDs a clip shows as "5,6", or "-" for
// none (the IDs the shell's events command lists).
func EventIDs(ids []uint64) string {
	if len(ids) == 0 {
		return "-"
	}
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(id, 10))
	}
	return b.String()
}

// WriteStatus prints st for a person at a serial console.
func WriteStatus(w io.Writer, st Status) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }

	uptime := time.Duration(st.UptimeSeconds * float64(time.Second)).Round(time.Second)
	p("agent\tcamagent %s, up %s (since %s)\n", Printable(st.Version), uptime, Stamp(st.Started))
	p("config\t%s (%s, loaded %s)\n", Printable(st.ConfigPath), shortHash(st.ConfigHash), Stamp(st.ConfigLoaded))
	if id := st.Identity; id != nil {
		owner := "not paired"
		if id.Owner != "" {
			owner = "paired with " + Printable(id.Owner)
		}
		p("device\t%s, %s\n", Printable(id.DeviceID), owner)
	}
	if t := st.Time; t != nil {
		p("clock\t%s\n", clockLine(*t))
	}
	if m := st.MQTT; m != nil {
		link := "disconnected"
		if m.Connected {
			link = "connected since " + Stamp(m.LastConnected)
		}
		p("mqtt\t%s, %d queued, %d acked, %d dropped, commands %d obeyed %d refused\n", link, m.Queued,
			m.MessagesAcked, m.Dropped+m.PublishDropped, m.CommandsObeyed, m.CommandsRefused)
		if m.LastError != "" {
			p("  last error\t%s\n", Printable(m.LastError))
		}
	}
	if l := st.Live; l != nil {
		p("live\t%d of %d viewers, offers %d accepted %d refused %d dropped\n", l.Viewers, l.MaxViewers,
			l.Accepted, l.Refused, l.Dropped)
		if l.LastRefusal != "" {
			p("  last refusal\t%s\n", Printable(l.LastRefusal))
		}
		for _, ss := range l.Sessions {
			p("  session %s\t%s %s since %s, %d frames sent (%d skipped), %d bytes\n", Printable(ss.ID),
				Printable(ss.Media), Printable(ss.State), ss.Started.UTC().Format("2006-01-02 15:04:05 UTC"),
				ss.Sent, ss.Skipped, ss.Bytes)
		}
	}
	if m := st.Memory; m != nil {
		writeMemory(p, m)
	}
	p("\n")

	if len(st.Parts) == 0 {
		p("parts\tnone reported\n")
	} else {
		p("PART\tSTATE\tRESTARTS\tSINCE\tLAST ERROR\n")
		for _, pt := range st.Parts {
			lastErr := Printable(pt.LastError)
			if lastErr == "" {
				lastErr = "-"
			}
			p("%s\t%s\t%d\t%s\t%s\n", Printable(pt.Name), Printable(pt.State), pt.Restarts, Stamp(pt.Since), lastErr)
		}
	}
	p("\n")

	cp := st.Capture
	if cp.Device == "" && cp.State == "" {
		p("capture\tnot reported\n")
	} else {
		p("capture\t%s %s\n", Printable(cp.Device), Printable(cp.State))
		p("  format\t%s %dx%d stride %d\n", Printable(cp.Format), cp.Width, cp.Height, cp.Stride)
		p("  fps\t%.2f measured, %.2f negotiated\n", cp.FPS, cp.NegotiatedFPS)
		p("  frames\t%d captured, %d dropped, %d bad\n", cp.Frames, cp.Dropped, cp.BadFrames)
		for _, q := range cp.Queues {
			p("  queue %s\t%d delivered, %d dropped\n", Printable(q.Name), q.Delivered, q.Dropped)
		}
	}

	sd := st.Storage
	if sd.Mount == "" && sd.State == "" {
		p("storage\tnot reported\n")
	} else {
		p("storage\t%s %s, %s free of %s\n", Printable(sd.Mount), Printable(sd.State), ByteSize(sd.FreeBytes), ByteSize(sd.TotalBytes))
	}
	if cl := st.Clips; cl != nil {
		p("  clips\t%d on the card (%d uploaded, %s), %d sealed, %d deleted by retention\n",
			cl.Clips, cl.Uploaded, ByteSize(uint64(max(cl.Bytes, 0))), cl.Sealed, cl.Deleted)
		for _, r := range cl.Recording {
			p("  recording\t%s\n", Printable(r))
		}
	}
	if m := st.Motion; m != nil {
		p("motion\tscore %s, noise %.1f, luma threshold %.1f, %d boxes, %d events, %d frames analysed\n",
			FormatPercent(m.ScorePercent), m.Noise, m.Threshold, len(m.Boxes), m.Stats.Events, m.Frames)
	}
	if r := st.Recorder; r != nil {
		rate := "-"
		if r.ClipFPS > 0 {
			rate = fmt.Sprintf("%.4g fps", r.ClipFPS)
		}
		p("recorder\t%s (card %s), %d clips at %s, %d frames recorded, %d skipped for the clip rate, %d dropped behind\n",
			Printable(r.State), Printable(r.Card), r.Clips, rate, r.Recorded, r.SkippedRate, r.DroppedBehind)
	}
	return tw.Flush()
}

// writeMemory prints the memory budget, the process's use and each pool.
func writeMemory(p func(string, ...any), m *MemoryStatus) {
	rss := "unknown"
	if m.RSSBytes > 0 {
		rss = fmt.Sprintf("%s (anonymous %s, file-backed %s; %s counted)", ByteSize(uint64(m.RSSBytes)),
			ByteSize(uint64(max(m.RSSBytes-m.RSSFileBytes, 0))), ByteSize(uint64(max(m.RSSFileBytes, 0))),
			ByteSize(uint64(max(m.ChargedBytes, 0))))
	}
	limit := "not set"
	if m.GoLimitBytes > 0 {
		limit = fmt.Sprintf("%s, gc %d%%", ByteSize(uint64(m.GoLimitBytes)), m.GCPercent)
	}
	p("memory\tresident %s of a %s budget; go heap %s, go total %s (limit %s); plan peak %s\n", rss,
		ByteSize(uint64(max(m.BudgetBytes, 0))), ByteSize(m.HeapBytes), ByteSize(m.GoBytes), limit,
		ByteSize(uint64(max(m.PeakBytes, 0))))
	if m.StacksBytes > 0 {
		p("  go total\theap objects %s, heap free %s, stacks %s, runtime %s\n", ByteSize(m.HeapBytes),
			ByteSize(m.HeapFreeBytes), ByteSize(m.StacksBytes), ByteSize(m.RuntimeBytes))
	}
	if m.OverBytes > 0 {
		p("  over budget\tby %s even after every step down\n", ByteSize(uint64(m.OverBytes)))
	}
	if len(m.Degraded) > 0 {
		p("  degraded\t%s\n", Printable(strings.Join(m.Degraded, ", ")))
	}
	for _, pl := range m.Pools {
		if pl.Unit == "bytes" {
			p("  pool %s\t%s of %s\n", Printable(pl.Name), ByteSize(uint64(max(pl.Used, 0))), ByteSize(uint64(max(pl.Size, 0))))
			continue
		}
		made := ""
		if pl.Made > 0 {
			made = fmt.Sprintf(" (%d made)", pl.Made)
		}
		p("  pool %s\t%d of %d %s%s\n", Printable(pl.Name), pl.Used, pl.Size, Printable(pl.Unit), made)
	}
}

// clockLine says whether the clock is trusted, and from what.
func clockLine(t timesync.Status) string {
	s := "not trusted"
	if t.Trusted {
		s = "trusted (" + Printable(t.Source) + ")"
	}
	if t.Server != "" {
		s += fmt.Sprintf(", last sync %s with %s, offset %s, %d steps", Stamp(t.LastSync), Printable(t.Server), t.Offset, t.Steps)
	}
	if t.LastErr != "" {
		s += ", last error: " + Printable(t.LastErr)
	}
	return s
}

// Stamp formats a time from the agent, or "-" when it is unset.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Format("2006-01-02 15:04:05 MST")
}

// shortHash keeps the algorithm and the first 12 hex digits of a config hash.
func shortHash(h string) string {
	if h == "" {
		return "no hash"
	}
	algo, digits, ok := strings.Cut(h, ":")
	if !ok {
		algo, digits = "", h
	}
	if len(digits) > 12 {
		digits = digits[:12]
	}
	if algo == "" {
		return Printable(digits)
	}
	return Printable(algo + ":" + digits)
}

// ByteSize formats n bytes with a binary unit.
func ByteSize(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Printable replaces control characters so that text from the agent (error
// messages may quote device or network input) cannot drive the terminal.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

// Percent converts a motion score as the detector reports it (a
// motion.Result's Score, a motion.Event's PeakScore: the share of the
// analysed picture in motion, 0..1) to percent of the analysed picture
// (0..100), the one unit in which the agent shows a motion score (status,
// shell, log, JSON, manifests) and the config sets areas
// (motion.min_area_percent).
func Percent(share float64) float64 { return share * 100 }

// FormatPercent shows a percent with one decimal: "12.3%".
func FormatPercent(p float64) string { return strconv.FormatFloat(p, 'f', 1, 64) + "%" }
