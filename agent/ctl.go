package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/shell"
)

const ctlUsage = `usage: camagent ctl [-socket PATH] [-json] <command>

Ask the running agent over its control socket.

commands:
  status        uptime, config, parts, capture and storage
  logs [-n N]   the agent's last N log lines (default %d, at most %d)
  clips         the clips on the SD card: state, size, duration, event time
  uploads       the upload queue, with progress
  control NAME VALUE
                set a V4L2 control of the running camera by its driver name
                (vivid: control "Horizontal Movement" 6 moves, 3 stops)

flags:
`

// ctlCmd runs `camagent ctl` with args (without "ctl"). It returns
// flag.ErrHelp after printing the usage for -h.
func ctlCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", control.DefaultSocket, "the agent's control socket `path`")
	asJSON := fs.Bool("json", false, "print the agent's JSON answer")
	fs.Usage = func() {
		fmt.Fprintf(stderr, ctlUsage, control.DefaultLogLines, control.MaxLogLines)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("camagent ctl: missing command (commands: status, logs, clips, uploads, control)")
	}
	c := &control.Client{Socket: *socket}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "status":
		return ctlStatus(ctx, c, rest, *asJSON, stdout, stderr)
	case "logs":
		return ctlLogs(ctx, c, rest, *asJSON, stdout, stderr)
	case "control":
		return ctlControl(ctx, c, rest, stdout)
	case "uploads":
		return ctlUploads(ctx, c, rest, *asJSON, stdout, stderr)
	case "clips":
		return ctlClips(ctx, c, rest, *asJSON, stdout)
	default:
		return fmt.Errorf("camagent ctl: unknown command %q (commands: status, logs, clips, uploads, control)", cmd)
	}
}

func ctlStatus(ctx context.Context, c *control.Client, args []string, asJSON bool, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent ctl status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&asJSON, "json", asJSON, "print the agent's JSON answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("camagent ctl status: unexpected argument %q", fs.Arg(0))
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, st)
	}
	return writeStatus(stdout, st)
}

func ctlControl(ctx context.Context, c *control.Client, args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return errors.New(`camagent ctl control: want NAME VALUE, e.g. control "Horizontal Movement" 6`)
	}
	v, err := strconv.ParseInt(args[1], 10, 32)
	if err != nil {
		return fmt.Errorf("camagent ctl control: value %q is not a 32-bit integer", args[1])
	}
	req := control.CaptureControl{Name: args[0], Value: int32(v)}
	if err := c.Post(ctx, control.PathCaptureControl, req, &req); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s = %d\n", printable(req.Name), req.Value)
	return err
}

func ctlClips(ctx context.Context, c *control.Client, args []string, asJSON bool, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("camagent ctl clips: unexpected argument %q", args[0])
	}
	var resp shell.ClipsResponse
	if err := c.Get(ctx, shell.PathClips, &resp); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, resp)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "CLIP\tSTATE\tSIZE\tDURATION\tFRAMES\tEVENT\n")
	for _, cl := range resp.Clips {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", printable(cl.Name), printable(cl.State), byteSize(uint64(max(cl.Size, 0))),
			cl.Duration.Round(10*time.Millisecond), cl.Frames, stamp(cl.EventTime))
	}
	if len(resp.Clips) == 0 {
		fmt.Fprintf(tw, "(no clips)\n")
	}
	return tw.Flush()
}

func ctlLogs(ctx context.Context, c *control.Client, args []string, asJSON bool, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent ctl logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", control.DefaultLogLines, "number of lines")
	fs.BoolVar(&asJSON, "json", asJSON, "print the agent's JSON answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("camagent ctl logs: unexpected argument %q", fs.Arg(0))
	}
	if *n < 1 {
		return fmt.Errorf("camagent ctl logs: -n %d: want at least 1", *n)
	}
	lines, err := c.Logs(ctx, *n)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, control.LogsResponse{Lines: lines})
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(printable(l))
		b.WriteByte('\n')
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("camagent ctl: encode: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeStatus prints st for a person at a serial console.
func writeStatus(w io.Writer, st control.Status) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }

	uptime := time.Duration(st.UptimeSeconds * float64(time.Second)).Round(time.Second)
	p("agent\tcamagent %s, up %s (since %s)\n", printable(st.Version), uptime, stamp(st.Started))
	p("config\t%s (%s, loaded %s)\n", printable(st.ConfigPath), shortHash(st.ConfigHash), stamp(st.ConfigLoaded))
	if id := st.Identity; id != nil {
		owner := "not paired"
		if id.Owner != "" {
			owner = "paired with " + printable(id.Owner)
		}
		p("device\t%s, %s\n", printable(id.DeviceID), owner)
	}
	p("\n")

	if len(st.Parts) == 0 {
		p("parts\tnone reported\n")
	} else {
		p("PART\tSTATE\tRESTARTS\tSINCE\tLAST ERROR\n")
		for _, pt := range st.Parts {
			lastErr := printable(pt.LastError)
			if lastErr == "" {
				lastErr = "-"
			}
			p("%s\t%s\t%d\t%s\t%s\n", printable(pt.Name), printable(pt.State), pt.Restarts, stamp(pt.Since), lastErr)
		}
	}
	p("\n")

	cp := st.Capture
	if cp.Device == "" && cp.State == "" {
		p("capture\tnot reported\n")
	} else {
		p("capture\t%s %s\n", printable(cp.Device), printable(cp.State))
		p("  format\t%s %dx%d stride %d\n", printable(cp.Format), cp.Width, cp.Height, cp.Stride)
		p("  fps\t%.2f measured, %.2f negotiated\n", cp.FPS, cp.NegotiatedFPS)
		p("  frames\t%d captured, %d dropped, %d bad\n", cp.Frames, cp.Dropped, cp.BadFrames)
		for _, q := range cp.Queues {
			p("  queue %s\t%d delivered, %d dropped\n", printable(q.Name), q.Delivered, q.Dropped)
		}
	}

	sd := st.Storage
	if sd.Mount == "" && sd.State == "" {
		p("storage\tnot reported\n")
	} else {
		p("storage\t%s %s, %s free of %s\n", printable(sd.Mount), printable(sd.State), byteSize(sd.FreeBytes), byteSize(sd.TotalBytes))
	}
	if cl := st.Clips; cl != nil {
		p("  clips\t%d on the card (%d uploaded, %s), %d sealed, %d deleted by retention\n",
			cl.Clips, cl.Uploaded, byteSize(uint64(max(cl.Bytes, 0))), cl.Sealed, cl.Deleted)
		for _, r := range cl.Recording {
			p("  recording\t%s\n", printable(r))
		}
	}
	if m := st.Motion; m != nil {
		p("motion\tscore %.4f, noise %.1f, threshold %.1f, %d boxes, %d events, %d frames analysed\n",
			m.Score, m.Noise, m.Threshold, len(m.Boxes), m.Stats.Events, m.Frames)
	}
	if r := st.Recorder; r != nil {
		rate := "-"
		if r.ClipFPS > 0 {
			rate = fmt.Sprintf("%.4g fps", r.ClipFPS)
		}
		p("recorder\t%s (card %s), %d clips at %s, %d frames recorded, %d skipped for the clip rate, %d dropped behind\n",
			printable(r.State), printable(r.Card), r.Clips, rate, r.Recorded, r.SkippedRate, r.DroppedBehind)
	}
	return tw.Flush()
}

// stamp formats a time from the agent, or "-" when it is unset.
func stamp(t time.Time) string {
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
		return printable(digits)
	}
	return printable(algo + ":" + digits)
}

// byteSize formats n bytes with a binary unit.
func byteSize(n uint64) string {
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

// printable replaces control characters so that text from the agent (error
// messages may quote device or network input) cannot drive the terminal.
func printable(s string) string {
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
