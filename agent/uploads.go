package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/upload"
)

// ctlUploads runs `camagent ctl uploads`: the upload queue with progress.
func ctlUploads(ctx context.Context, c *control.Client, args []string, asJSON bool, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camagent ctl uploads", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&asJSON, "json", asJSON, "print the agent's JSON answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("camagent ctl uploads: unexpected argument %q", fs.Arg(0))
	}
	var st upload.Status
	if err := c.Get(ctx, control.PathUploads, &st); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, st)
	}
	return writeUploads(stdout, st, time.Now())
}

// writeUploads prints an upload status for a person at a serial console.
func writeUploads(w io.Writer, st upload.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	state := st.State
	if st.Current != "" {
		state += " " + control.Printable(st.Current)
	}
	if !st.NextAttempt.IsZero() {
		state += fmt.Sprintf(" (next attempt in %s)", st.NextAttempt.Sub(now).Round(time.Second))
	}
	p("uploads:\t%s\n", state)
	more := ""
	if st.Truncated {
		more = " (and more on the card)"
	}
	p("queued:\t%d clips, %s%s\n", st.Queued, control.ByteSize(st.QueuedBytes), more)
	p("since start:\t%d uploaded, %s sent, last %s\n", st.Uploaded, control.ByteSize(st.BytesSent), control.Stamp(st.LastUpload))
	if st.LastError != "" {
		p("last error:\t%s %s: %s (%d failures in a row)\n", control.Stamp(st.LastErrorAt), control.Printable(st.LastCode),
			control.Printable(st.LastError), st.Failures)
	}
	p("watching:\t%d folders\n", st.Watching)
	if len(st.Items) > 0 {
		p("\nCLIP\tSEQ\tPHASE\tPROGRESS\tNOTE\n")
		for _, it := range st.Items {
			note := control.Printable(it.Reason)
			if !it.RetryAt.IsZero() {
				note += ", retry " + control.Stamp(it.RetryAt)
			}
			p("%s\t%d\t%s\t%s / %s\t%s\n", control.Printable(it.Name), it.Seq, it.Phase, control.ByteSize(it.Sent), control.ByteSize(it.Total), note)
		}
		if st.Queued > len(st.Items) {
			p("... %d more\n", st.Queued-len(st.Items))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("camagent ctl uploads: %w", err)
	}
	return nil
}
