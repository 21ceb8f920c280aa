package main

import (
	"context"
	"flag"
	"fmt"
	"io"
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
	return control.WriteUploads(stdout, st, time.Now())
}
