package control

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/camagent/camagent/uplink/upload"
)

// WriteUploads prints an upload status (the answer of PathUploads) for a
// person at a serial console; `camagent ctl uploads` and the shell's
// `uploads` both print it.
func WriteUploads(w io.Writer, st upload.Status, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	state := Printable(st.State)
	if state == "" {
		state = "not running (no [upload] url configured, or the uploader has stopped; status shows its part)"
	}
	if st.Current != "" {
		state += " " + Printable(st.Current)
	}
	if !st.NextAttempt.IsZero() {
		state += fmt.Sprintf(" (next attempt in %s)", st.NextAttempt.Sub(now).Round(time.Second))
	}
	p("uploads:\t%s\n", state)
	if st.Busy != "" {
		p("cloud:\t%s; the queue is kept\n", Printable(st.Busy))
	}
	if st.Blocked != "" {
		p("blocked:\t%s\n", Printable(st.Blocked))
	}
	more := ""
	if st.Truncated {
		more = " (and more on the card)"
	}
	p("queued:\t%d clips, %s%s\n", st.Queued, ByteSize(st.QueuedBytes), more)
	if st.Unchecked {
		p("card:\tnot checked yet since the start: clips a power cut left open join the queue when the check seals them\n")
	}
	p("since start:\t%d clips uploaded, %s sent, last %s\n", st.Uploaded, ByteSize(st.BytesSent), Stamp(st.LastUpload))
	if st.LastError != "" {
		p("last error:\t%s %s: %s (%d failures in a row)\n", Stamp(st.LastErrorAt), Printable(st.LastCode),
			Printable(st.LastError), st.Failures)
	}
	if len(st.Items) > 0 {
		p("\nCLIP\tSEQ\tPHASE\tPROGRESS\tNOTE\n")
		for _, it := range st.Items {
			note := Printable(it.Reason)
			if !it.RetryAt.IsZero() {
				note += ", retry " + Stamp(it.RetryAt)
			}
			p("%s\t%d\t%s\t%s / %s\t%s\n", Printable(it.Name), it.Seq, Printable(it.Phase), ByteSize(it.Sent), ByteSize(it.Total), note)
		}
		if st.Queued > len(st.Items) {
			p("... %d more\n", st.Queued-len(st.Items))
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("uploads: %w", err)
	}
	return nil
}
