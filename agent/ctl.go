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

	"github.com/camagent/camagent/agent/control"
)

const ctlUsage = `usage: camagent ctl [-socket PATH] [-json] <command>

Ask the running agent over its control socket.

commands:
  status        uptime, config, parts, capture and storage
  logs [-n N]   the agent's last N log lines (default %d, at most %d)
  clips         the clips on the SD card: state, size, duration, event time
  uploads       the upload queue, with progress
  events        the signed MQTT events and state this run queued or published
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
		return errors.New("camagent ctl: missing command (commands: status, logs, clips, uploads, events, control)")
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
	case "events":
		return ctlEvents(ctx, c, rest, *asJSON, stdout)
	default:
		return fmt.Errorf("camagent ctl: unknown command %q (commands: status, logs, clips, uploads, events, control)", cmd)
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
	return control.WriteStatus(stdout, st)
}

func ctlEvents(ctx context.Context, c *control.Client, args []string, asJSON bool, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("camagent ctl events: unexpected argument %q", args[0])
	}
	var resp control.MQTTEventsResponse
	if err := c.Get(ctx, control.PathMQTTEvents, &resp); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, resp)
	}
	if len(resp.Lines) == 0 {
		_, err := fmt.Fprintln(stdout, "no events yet")
		return err
	}
	for _, l := range resp.Lines {
		if _, err := fmt.Fprintln(stdout, control.Printable(l)); err != nil {
			return err
		}
	}
	return nil
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
	_, err = fmt.Fprintf(stdout, "%s = %d\n", control.Printable(req.Name), req.Value)
	return err
}

func ctlClips(ctx context.Context, c *control.Client, args []string, asJSON bool, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("camagent ctl clips: unexpected argument %q", args[0])
	}
	var resp control.ClipsResponse
	if err := c.Get(ctx, control.PathClips, &resp); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(stdout, resp)
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "CLIP\tSTATE\tSIZE\tDURATION\tFRAMES\tEVENT\tEVENTS\n")
	for _, cl := range resp.Clips {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", control.Printable(cl.Name), control.Printable(cl.State), control.ByteSize(uint64(max(cl.Size, 0))),
			cl.Duration.Round(10*time.Millisecond), cl.Frames, control.Stamp(cl.EventTime), control.EventIDs(cl.Events))
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
		b.WriteString(control.Printable(l))
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
