package main

import (
	"context"
	"crypto"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/upload"
)

// pathUploads is the control-socket path of the upload queue: GET answers
// an upload.Status.
const pathUploads = "/v1/uploads"

// maxCAFile bounds the ingest CA file.
const maxCAFile = 256 << 10

// uploadSettings is what the daemon needs to start the uploader; the config
// keys map onto it.
type uploadSettings struct {
	// URL is the ingest's base URL, e.g. "https://10.0.2.100:8443".
	URL string
	// CAFile holds the PEM CA certificate(s) the ingest's certificate
	// chains to (camcloud's ca.crt).
	CAFile string
	// CertFile is the device certificate (PEM; identity.CertPath of the
	// key by default). It is read again when it changes.
	CertFile string
	// ServerName overrides the name checked on the ingest's certificate.
	ServerName string
	// Bandwidth caps the upload in bytes per second; 0 is no cap.
	Bandwidth int64
	// StartDelay is the most the first attempt waits after start
	// (default upload.DefaultStartDelay).
	StartDelay time.Duration
}

// newUploader builds the uploader of the clips in store, authenticated by
// the device key (a keystore crypto.Signer) and its certificate. Run it as a
// part; wire its Notify to storage.StoreConfig.OnComplete and its Status to
// uploadsRoute.
func newUploader(s uploadSettings, key crypto.Signer, store upload.Store, log *slog.Logger) (*upload.Uploader, error) {
	id, err := identity.DeviceID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	f, err := os.Open(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("upload: ingest CA: %w", err)
	}
	caPEM, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	f.Close()
	if err != nil || len(caPEM) > maxCAFile {
		return nil, fmt.Errorf("upload: ingest CA %s: unreadable or over %d bytes (%v)", s.CAFile, maxCAFile, err)
	}
	tlsCfg, err := upload.TLSConfig(key, s.CertFile, caPEM, s.ServerName)
	if err != nil {
		return nil, err
	}
	cc := upload.ClientConfig{URL: s.URL, TLS: tlsCfg}
	if s.Bandwidth > 0 {
		cc.Limiter = upload.NewLimiter(s.Bandwidth, nil, nil)
	}
	cl, err := upload.NewClient(cc)
	if err != nil {
		return nil, err
	}
	return upload.New(upload.Config{Store: store, Client: cl, DeviceID: id, Logger: log, StartDelay: s.StartDelay})
}

// uploadsRoute serves GET pathUploads with the uploader's status.
func uploadsRoute(status func() upload.Status) control.Route {
	return control.Route{Method: http.MethodGet, Path: pathUploads, Handler: http.HandlerFunc(
		func(w http.ResponseWriter, _ *http.Request) { control.WriteJSON(w, http.StatusOK, status()) })}
}

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
	if err := c.Get(ctx, pathUploads, &st); err != nil {
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
		state += " " + printable(st.Current)
	}
	if !st.NextAttempt.IsZero() {
		state += fmt.Sprintf(" (next attempt in %s)", st.NextAttempt.Sub(now).Round(time.Second))
	}
	p("uploads:\t%s\n", state)
	more := ""
	if st.Truncated {
		more = " (and more on the card)"
	}
	p("queued:\t%d clips, %s%s\n", st.Queued, byteSize(st.QueuedBytes), more)
	p("since start:\t%d uploaded, %s sent, last %s\n", st.Uploaded, byteSize(st.BytesSent), stamp(st.LastUpload))
	if st.LastError != "" {
		p("last error:\t%s %s: %s (%d failures in a row)\n", stamp(st.LastErrorAt), printable(st.LastCode),
			printable(st.LastError), st.Failures)
	}
	p("watching:\t%d folders\n", st.Watching)
	if len(st.Items) > 0 {
		p("\nCLIP\tSEQ\tPHASE\tPROGRESS\tNOTE\n")
		for _, it := range st.Items {
			note := printable(it.Reason)
			if !it.RetryAt.IsZero() {
				note += ", retry " + stamp(it.RetryAt)
			}
			p("%s\t%d\t%s\t%s / %s\t%s\n", printable(it.Name), it.Seq, it.Phase, byteSize(it.Sent), byteSize(it.Total), note)
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
