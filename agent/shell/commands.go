package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/upload"
)

// command is one entry of the shell's command table.
type command struct {
	name, alias string
	usage       string // the forms it takes, one per line
	summary     string
	// details is more help, shown by help COMMAND only ("" for none).
	details string
	// privileged returns the name of this use of the command when it needs
	// an unlocked shell, "" otherwise (nil: never).
	privileged func(args []string) string
	// complete returns the candidates for the next argument after prev.
	complete func(prev []string) []string
	quit     bool
	run      func(ctx context.Context, args []string) error
}

// always marks a command that always needs an unlocked shell.
func always(name string) func([]string) string {
	return func([]string) string { return name }
}

// usageError reports a command used the wrong way and points to its help.
func usageError(c string, format string, a ...any) error {
	return fmt.Errorf("%s: %s (type help %s)", c, fmt.Sprintf(format, a...), c)
}

// commandTable lists the commands in the order help shows them.
func (s *Shell) commandTable() []*command {
	return []*command{
		{name: "help", usage: "help [COMMAND]", summary: "list the commands, or explain one",
			complete: func(prev []string) []string {
				if len(prev) == 0 {
					return s.names
				}
				return nil
			}, run: s.cmdHelp},
		{name: "status", usage: "status", summary: "the agent: uptime, config, parts, capture, storage", run: s.cmdStatus},
		{name: "log", usage: "log [N]\nlog -f", summary: "the agent's last N log lines (default 20); -f follows until Ctrl-C",
			complete: completeWords("-f"), run: s.cmdLog},
		{name: "events", usage: "events [N]", summary: "the last N motion events (default 20)", run: s.cmdEvents},
		{name: "clips", usage: "clips [list]\nclips info NAME\nclips verify NAME", summary: "clips on the SD card; verify checks one against its signed manifest",
			complete: completeWords("list", "info", "verify"), run: s.cmdClips},
		{name: "uploads", usage: "uploads", summary: "the upload queue", run: s.cmdUploads},
		{name: "net", usage: "net", summary: "network interfaces and addresses", run: s.cmdNet},
		{name: "config", usage: "config get [KEY]\nconfig set KEY VALUE", summary: "show the running config, or change one key of the config file (set needs unlock; it rewrites the file without its comments)",
			privileged: func(args []string) string {
				if len(args) > 0 && args[0] == "set" {
					return "config set"
				}
				return ""
			},
			complete: func(prev []string) []string {
				switch {
				case len(prev) == 0:
					return []string{"get", "set"}
				case len(prev) == 1 && (prev[0] == "get" || prev[0] == "set"):
					return s.keys
				}
				return nil
			}, run: s.cmdConfig},
		{name: "motion", usage: "motion [N]\nmotion -f", summary: "motion score, noise and boxes of the next N frames (default 10); -f follows until Ctrl-C",
			complete: completeWords("-f"), run: s.cmdMotion},
		{name: "control", usage: "control NAME VALUE", summary: "set a camera control live (not saved: the config's [capture.controls] apply again at restart)",
			details: vividControls, run: s.cmdControl},
		{name: "snapshot", usage: "snapshot", summary: "save the next camera frame as a JPEG on the SD card", run: s.cmdSnapshot},
		{name: "storage", usage: "storage", summary: "the SD card: state, usage, health, last recovery", run: s.cmdStorage},
		{name: "id", usage: "id", summary: "device ID, public key, certificate, owner binding (never the private key)", run: s.cmdID},
		{name: "unlock", usage: "unlock\nunlock RESPONSE", summary: "unlock the privileged commands with a signed challenge", run: s.cmdUnlock},
		{name: "lock", usage: "lock", summary: "end the unlock now", run: s.cmdLock},
		{name: "reboot", usage: "reboot [-y]", summary: "restart the camera cleanly (needs unlock)", privileged: always("reboot"),
			complete: completeWords("-y"), run: s.action("reboot", control.PathReboot, "Reboot the camera?")},
		{name: "format-sd", usage: "format-sd [-y]", summary: "erase the agent's data on the SD card: clips, snapshots, state (needs unlock)", privileged: always("format-sd"),
			complete: completeWords("-y"), run: s.action("format-sd", control.PathFormatSD, "Erase every clip and snapshot on the SD card?")},
		{name: "factory-reset", usage: "factory-reset [-y]", summary: "unpair the owner, erase the SD card's agent data, reboot (needs unlock)", privileged: always("factory-reset"),
			complete: completeWords("-y"), run: s.action("factory-reset", control.PathFactoryReset, "Unpair the owner, erase the SD card's clips and reboot?")},
		{name: "history", usage: "history", summary: "the commands typed in this shell", run: s.cmdHistory},
		{name: "exit", alias: "quit", usage: "exit", summary: "leave the shell (Ctrl-D too)", quit: true},
	}
}

func (s *Shell) cmdHelp(_ context.Context, args []string) error {
	if len(args) > 1 {
		return usageError("help", "one command at a time")
	}
	if len(args) == 1 {
		c := s.lookup(args[0])
		if c == nil {
			return fmt.Errorf("help: unknown command %s%s", echo(args[0]), s.suggest(args[0]))
		}
		s.printf("%s\n  %s\n", c.usage, c.summary)
		if c.details != "" {
			s.printf("%s", c.details)
		}
		if c.alias != "" {
			s.printf("  also: %s\n", c.alias)
		}
		return nil
	}
	tw := tabwriter.NewWriter(s.out, 0, 8, 2, ' ', 0)
	for _, c := range s.commands {
		forms := strings.Split(c.usage, "\n")
		fmt.Fprintf(tw, "  %s\t%s\n", forms[0], c.summary)
		for _, f := range forms[1:] {
			fmt.Fprintf(tw, "  %s\t\n", f)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	s.printf("Privileged commands (config set, reboot, format-sd, factory-reset) need unlock.\n")
	return nil
}

func (s *Shell) cmdStatus(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("status", "no arguments")
	}
	var st control.Status
	if err := s.get(ctx, control.PathStatus, &st); err != nil {
		return err
	}
	if s.cfg.PrintStatus != nil {
		return s.cfg.PrintStatus(s.out, st)
	}
	s.printf("agent   camagent %s, up %s\n", clean(st.Version), time.Duration(st.UptimeSeconds*float64(time.Second)).Round(time.Second))
	s.printf("capture %s %s, %d frames\n", clean(st.Capture.Device), clean(st.Capture.State), st.Capture.Frames)
	s.printf("storage %s %s\n", clean(st.Storage.Mount), clean(st.Storage.State))
	for _, p := range st.Parts {
		s.printf("part    %s %s\n", clean(p.Name), clean(p.State))
	}
	return nil
}

// count parses a count argument of cmd.
func count(cmd, arg string, hi int) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > hi {
		return 0, usageError(cmd, "%q: want a number from 1 to %d", clean(arg), hi)
	}
	return n, nil
}

func (s *Shell) cmdLog(ctx context.Context, args []string) error {
	n, follow := 0, false
	for _, a := range args {
		if a == "-f" {
			follow = true
			continue
		}
		v, err := count("log", a, control.MaxShellLogLines)
		if err != nil {
			return err
		}
		n = v
	}
	if n == 0 {
		n = control.DefaultLogTail
		if follow {
			n = 10
		}
	}
	var r control.LogResponse
	if err := s.get(ctx, control.PathLog+"?"+url.Values{"n": {strconv.Itoa(n)}}.Encode(), &r); err != nil {
		return err
	}
	s.printLog(r.Lines)
	if !follow {
		return nil
	}
	after := r.Last
	return s.follow(ctx, "log", func(ctx context.Context) error {
		var r control.LogResponse
		q := url.Values{"after": {strconv.FormatUint(after, 10)}, "n": {"200"},
			"wait": {strconv.FormatInt(control.MaxWait.Milliseconds(), 10)}}
		if err := s.get(ctx, control.PathLog+"?"+q.Encode(), &r); err != nil {
			return err
		}
		if r.Last < after {
			s.printf("(the agent restarted)\n")
			after = r.Last - min(r.Last, 10)
			return nil
		}
		if len(r.Lines) > 0 && r.Lines[0].Seq > after+1 {
			s.printf("(%d lines skipped)\n", r.Lines[0].Seq-after-1)
		}
		s.printLog(r.Lines)
		if len(r.Lines) > 0 {
			after = r.Lines[len(r.Lines)-1].Seq
		}
		return nil
	})
}

func (s *Shell) printLog(lines []control.LogLine) {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(clean(l.Text))
		b.WriteByte('\n')
	}
	s.printf("%s", b.String())
	if len(lines) > 0 {
		s.noteLogShown(lines[len(lines)-1].Seq)
	}
}

// follow calls step until Ctrl-C (or q or Enter) on a terminal; without a
// terminal until the next input line (which is then run), or
// Config.FollowLimit. step should wait for news (a long poll) rather than
// return at once.
func (s *Shell) follow(ctx context.Context, what string, step func(ctx context.Context) error) error {
	var fctx context.Context
	var cancel context.CancelFunc
	if s.term != nil {
		fctx, cancel = context.WithCancel(ctx)
		s.printf("(following the %s; Ctrl-C, q or Enter stops)\n", what)
	} else {
		fctx, cancel = context.WithTimeout(ctx, s.cfg.FollowLimit)
		s.printf("(following the %s for up to %s; the next input line stops)\n", what, s.cfg.FollowLimit)
	}
	defer cancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.waitStop(fctx)
		cancel()
	}()
	var err error
	for err == nil && fctx.Err() == nil {
		err = step(fctx)
	}
	stopped := fctx.Err() != nil // by a key, a line or the limit
	cancel()
	<-watched
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case stopped:
		s.printf("(stopped following)\n")
		return nil
	}
	return err
}

// waitStop returns when the technician asks to stop following, or when ctx
// ends. On a terminal Ctrl-C, Ctrl-D, q or Enter stop (and the end of
// input), other keys are dropped; otherwise a line stops, and is put back to
// be run next, while the end of input leaves following to the limit.
func (s *Shell) waitStop(ctx context.Context) {
	for {
		if s.term != nil {
			data, err := s.in.read(ctx.Done())
			if err != nil { // stopped, or the terminal is gone
				return
			}
			if strings.ContainsAny(string(data), "\x03\x04qQ\r\n") {
				return
			}
			continue
		}
		line, err := s.in.readLine(ctx.Done())
		switch {
		case errors.Is(err, errStopped):
			return
		case errors.Is(err, ErrLineTooLong):
			return
		case err != nil: // end of input: follow until the limit
			<-ctx.Done()
			return
		}
		if strings.TrimSpace(line) != "" {
			s.in.unread([]byte(line + "\n"))
		}
		return
	}
}

func (s *Shell) cmdEvents(ctx context.Context, args []string) error {
	n := 20
	if len(args) > 1 {
		return usageError("events", "at most one argument")
	}
	if len(args) == 1 {
		v, err := count("events", args[0], control.MaxEvents)
		if err != nil {
			return err
		}
		n = v
	}
	var r control.EventsResponse
	if err := s.get(ctx, control.PathEvents+"?n="+strconv.Itoa(n), &r); err != nil {
		return err
	}
	if len(r.Events) == 0 {
		s.printf("no motion events yet\n")
		return nil
	}
	tw := tabwriter.NewWriter(s.out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "EVENT\tSTART\tEND\tPEAK\tBOXES\tCLIP\n")
	for _, e := range r.Events {
		end := "ongoing"
		if !e.End.IsZero() {
			end = e.End.Sub(e.Start).Round(100*time.Millisecond).String() + " later"
		}
		clip := clean(e.Clip)
		if clip == "" {
			clip = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.ID, stamp(e.Start), end, control.FormatPercent(e.PeakPercent), boxes(e.Boxes), clip)
	}
	return tw.Flush()
}

// boxes formats motion boxes as WxH@X,Y.
func boxes(bs []control.Box) string {
	if len(bs) == 0 {
		return "-"
	}
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = fmt.Sprintf("%dx%d@%d,%d", b.W, b.H, b.X, b.Y)
	}
	return strings.Join(parts, " ")
}

func (s *Shell) cmdClips(ctx context.Context, args []string) error {
	sub := "list"
	if len(args) > 0 {
		sub = args[0]
	}
	switch {
	case sub == "list" && len(args) <= 1:
		var r control.ClipsResponse
		if err := s.get(ctx, control.PathClips, &r); err != nil {
			return err
		}
		if len(r.Clips) == 0 {
			s.printf("no clips on the SD card\n")
			return nil
		}
		tw := tabwriter.NewWriter(s.out, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "NAME\tSTATE\tSTART\tDURATION\tSIZE\tEVENTS\n")
		for _, c := range r.Clips {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", clean(c.Name), clean(c.State), stamp(c.Start),
				c.Duration.Round(100*time.Millisecond), byteSize(c.Size), control.EventIDs(c.Events))
		}
		return tw.Flush()
	case sub == "info" && len(args) == 2:
		var r control.ClipsResponse
		if err := s.get(ctx, control.PathClips+"?"+url.Values{"name": {args[1]}}.Encode(), &r); err != nil {
			return err
		}
		if len(r.Clips) != 1 {
			return fmt.Errorf("clips info: the agent answered %d clips for %q", len(r.Clips), clean(args[1]))
		}
		return s.printClip(r.Clips[0])
	case sub == "verify" && len(args) == 2:
		var r control.VerifyResponse
		if err := s.get(ctx, control.PathClipVerify+"?"+url.Values{"name": {args[1]}}.Encode(), &r); err != nil {
			return err
		}
		for _, l := range r.Lines {
			s.printf("%s\n", clean(l))
		}
		if r.OK {
			s.printf("verified: every check passed\n")
		} else {
			s.printf("NOT verified: see the FAIL lines\n")
		}
		return nil
	}
	return usageError("clips", "use clips [list], clips info NAME or clips verify NAME")
}

func (s *Shell) printClip(c control.Clip) error {
	tw := tabwriter.NewWriter(s.out, 0, 8, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	p("name", "%s", clean(c.Name))
	p("state", "%s", clean(c.State))
	p("file", "%s (%s)", clean(c.Path), byteSize(c.Size))
	p("start", "%s", stamp(c.Start))
	p("duration", "%s, %d frames", c.Duration.Round(time.Millisecond), c.Frames)
	switch {
	case c.Codec != "" && c.Width > 0:
		p("video", "%s %dx%d", clean(c.Codec), c.Width, c.Height)
	case c.Codec != "":
		p("video", "%s", clean(c.Codec))
	}
	if len(c.Events) > 0 {
		p("events", "%v (peak %s at %s)", c.Events, control.FormatPercent(c.PeakPercent), stamp(c.EventTime))
	}
	if c.SHA256 != "" {
		p("sha256", "%s", clean(c.SHA256))
	}
	if c.Thumbnail != "" {
		p("thumbnail", "%s", clean(c.Thumbnail))
	}
	manifest := clean(c.Manifest)
	if manifest == "" {
		manifest = "none"
	}
	p("manifest", "%s", manifest)
	if c.Recovered {
		p("recovered", "yes: cut back to its last whole fragment after a crash")
	}
	return tw.Flush()
}

func (s *Shell) cmdUploads(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("uploads", "no arguments")
	}
	var st upload.Status
	if err := s.get(ctx, control.PathUploads, &st); err != nil {
		return err
	}
	return control.WriteUploads(s.out, st, s.now())
}

func (s *Shell) cmdNet(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("net", "no arguments")
	}
	var r control.NetResponse
	if err := s.get(ctx, control.PathNet, &r); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "IFACE\tSTATE\tMTU\tMAC\tADDRESSES\n")
	for _, i := range r.Interfaces {
		state := "down"
		if i.Up {
			state = "up"
		}
		mac, addrs := clean(i.MAC), clean(strings.Join(i.Addrs, " "))
		if mac == "" {
			mac = "-"
		}
		if addrs == "" {
			addrs = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", clean(i.Name), state, i.MTU, mac, addrs)
	}
	return tw.Flush()
}

func (s *Shell) cmdConfig(ctx context.Context, args []string) error {
	switch {
	case len(args) >= 1 && len(args) <= 2 && args[0] == "get":
		path := control.PathConfig
		if len(args) == 2 {
			path += "?" + url.Values{"key": {args[1]}}.Encode()
		}
		var r control.ConfigResponse
		if err := s.get(ctx, path, &r); err != nil {
			return err
		}
		s.printf("%s\n", cleanLines(r.TOML))
		return nil
	case len(args) == 3 && args[0] == "set":
		var r control.ConfigSetResponse
		err := s.post(ctx, control.PathConfigSet, control.ConfigSetRequest{Session: s.session, Key: args[1], Value: args[2]}, &r)
		if err != nil {
			s.noteRefusal(err)
			return err
		}
		if len(r.Sections) == 0 {
			s.printf("%s is already %s in %s: nothing to change\n", clean(r.Key), clean(r.New), clean(r.Path))
			return nil
		}
		s.printf("%s: %s -> %s\n", clean(r.Key), clean(r.Old), clean(r.New))
		s.printf("written to %s; the agent reloads it (changed: %s)\n", clean(r.Path), clean(strings.Join(r.Sections, ", ")))
		return nil
	case len(args) > 3 && args[0] == "set":
		return usageError("config", "put a value with spaces in quotes")
	}
	return usageError("config", "use config get [KEY] or config set KEY VALUE")
}

func (s *Shell) cmdMotion(ctx context.Context, args []string) error {
	n, follow := 10, false
	for _, a := range args {
		if a == "-f" {
			follow = true
			continue
		}
		v, err := count("motion", a, control.MaxMotion)
		if err != nil {
			return err
		}
		n = v
	}
	var r control.MotionResponse
	if err := s.get(ctx, control.PathMotion+"?n=0", &r); err != nil {
		return err
	}
	after, got := r.Last, 0
	step := func(ctx context.Context) error {
		var r control.MotionResponse
		want := 50
		if !follow {
			want = n - got
		}
		q := url.Values{"after": {strconv.FormatUint(after, 10)}, "n": {strconv.Itoa(want)}, "wait": {"2000"}}
		if err := s.get(ctx, control.PathMotion+"?"+q.Encode(), &r); err != nil {
			return err
		}
		if len(r.Samples) == 0 {
			return errors.New("motion: no frame analysed in 2s (is the camera delivering frames? see status)")
		}
		if got == 0 {
			s.printf("FRAME     TIME          SCORE   NOISE  THRESH  MOTION  BOXES\n")
		}
		for _, m := range r.Samples {
			flag := "-"
			switch {
			case m.Recalibrated:
				flag = "relearn"
			case m.Motion:
				flag = "MOTION"
			case m.Light:
				flag = "light"
			}
			s.printf("%-9d %s  %6s  %5.1f  %6.1f  %-7s %s\n", m.Frame, m.Time.UTC().Format("15:04:05.000"),
				control.FormatPercent(m.ScorePercent), m.Noise, m.Threshold, flag, boxes(m.Boxes))
			after = m.Seq
			got++
		}
		return nil
	}
	if follow {
		return s.follow(ctx, "motion detector", step)
	}
	for got < n {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// vividControls is help control's text: the controls a newcomer meets on
// the QEMU camera, whose camera is the kernel's vivid driver.
const vividControls = `  NAME is the driver's name of the control (quote it when it has spaces),
  VALUE an integer; the answer is the value the driver took.
  On the QEMU camera (the kernel's vivid driver):
    control "Horizontal Movement" 6   moves the picture right fast: motion
    control "Horizontal Movement" 3   stops it (the config's setting)
    "Horizontal Movement": 0 left fast, 1 left, 2 left slow, 3 no movement,
    4 right slow, 5 right, 6 right fast.
    "OSD Text Mode": 0 all text (a clock that changes every frame),
    1 counters only, 2 none (the config's setting).
  On a real camera the names are its driver's (e.g. "Brightness",
  "Exposure Time, Absolute").
`

func (s *Shell) cmdControl(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return usageError("control", `want NAME VALUE, e.g. control "Horizontal Movement" 6`)
	}
	v, err := strconv.ParseInt(args[1], 10, 32)
	if err != nil {
		return usageError("control", "value %q is not a 32-bit integer", clean(args[1]))
	}
	req := control.CaptureControl{Name: args[0], Value: int32(v)}
	if err := s.post(ctx, control.PathCaptureControl, req, &req); err != nil {
		return fmt.Errorf("control %s: %s", echo(args[0]), describe(err))
	}
	s.printf("%s = %d\n", clean(req.Name), req.Value)
	return nil
}

func (s *Shell) cmdSnapshot(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("snapshot", "no arguments")
	}
	var r control.SnapshotResponse
	if err := s.post(ctx, control.PathSnapshot, nil, &r); err != nil {
		return err
	}
	s.printf("saved %s (%dx%d from %s, frame %d at %s, %s)\n", clean(r.Path), r.Width, r.Height,
		clean(r.Format), r.Frame, stamp(r.Time), byteSize(r.Bytes))
	return nil
}

func (s *Shell) cmdStorage(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("storage", "no arguments")
	}
	var r control.StorageResponse
	if err := s.get(ctx, control.PathStorage, &r); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 8, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	p("card", "%s: %s", clean(r.Mount), clean(r.State))
	if r.Device != "" {
		p("device", "%s (%s)", clean(r.Device), clean(r.FSType))
	}
	if r.TotalBytes > 0 {
		used := r.TotalBytes - min(r.FreeBytes, r.TotalBytes)
		p("usage", "%s used, %s free of %s (%.0f%% used)", byteSize(used), byteSize(r.FreeBytes),
			byteSize(r.TotalBytes), 100*float64(used)/float64(r.TotalBytes))
	}
	if r.Error != "" {
		p("problem", "%s", clean(r.Error))
	}
	if st := r.Store; st != nil {
		p("clips", "%d (%s), %d uploaded", st.Clips, byteSize(st.Bytes), st.Uploaded)
		if len(st.Recording) > 0 {
			p("recording", "%s", clean(strings.Join(st.Recording, ", ")))
		}
		p("written", "%s since start, %d clips sealed, %d deleted by retention", byteSize(st.BytesWritten), st.Sealed, st.Deleted)
		if !st.RecoveryAt.IsZero() {
			p("recovery", "at %s: %d sealed (%s cut), %d removed, %d completed, %d orphans, %d failed",
				stamp(st.RecoveryAt), st.RecoverySealed, byteSize(st.RecoveryCutBytes), st.RecoveryRemoved,
				st.RecoveryCompleted, st.RecoveryOrphans, st.RecoveryFailed)
		}
	} else if r.StoreMissing != "" {
		p("clips", "%s", clean(r.StoreMissing))
	}
	return tw.Flush()
}

func (s *Shell) cmdID(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("id", "no arguments")
	}
	var r control.IDResponse
	if err := s.get(ctx, control.PathID, &r); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(s.out, 0, 8, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	if r.DeviceID != "" {
		p("device id", "%s", clean(r.DeviceID))
	} else {
		p("device id", "unknown: %s", clean(r.KeyError))
	}
	p("key", "%s", clean(r.KeyPath))
	if c := r.Certificate; c != nil {
		switch {
		case c.Error != "":
			p("certificate", "%s: %s", clean(c.Path), clean(c.Error))
		default:
			match := "matches the device key"
			if !c.MatchesKey {
				match = "DOES NOT match the device key"
			}
			expiry := "valid"
			if s.now().After(c.NotAfter) {
				expiry = "EXPIRED"
			}
			p("certificate", "%s", clean(c.Subject))
			p("", "issuer %s", clean(c.Issuer))
			p("", "%s %s to %s; %s", expiry, stamp(c.NotBefore), stamp(c.NotAfter), match)
		}
	} else {
		p("certificate", "none (camagent provision -cert installs one)")
	}
	if o := r.Owner; o != nil {
		switch {
		case !o.Paired:
			p("owner", "not paired")
		case o.Verified:
			p("owner", "account %s, key %s, paired %s", clean(o.Account), clean(o.OwnerKey), stamp(o.Issued))
		default:
			p("owner", "binding %s NOT verified: %s", clean(o.Path), clean(o.Error))
		}
	}
	p("vendor key", "%s", clean(r.VendorKey))
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.PublicKeyPEM != "" {
		s.printf("public key:\n%s\n", cleanLines(r.PublicKeyPEM))
	}
	return nil
}

func (s *Shell) cmdUnlock(ctx context.Context, args []string) error {
	if len(args) > 1 {
		return usageError("unlock", "paste the response as one word")
	}
	if len(args) == 1 {
		return s.unlockWith(ctx, args[0])
	}
	var c control.ChallengeResponse
	if err := s.post(ctx, control.PathChallenge, nil, &c); err != nil {
		return err
	}
	ttl := time.Duration(c.TTLSeconds * float64(time.Second)).Round(time.Second)
	s.printf("device    %s\nchallenge (valid %s, until %s by the camera's clock):\n\n%s\n\n",
		clean(c.DeviceID), ttl, stamp(c.Expires), clean(c.Challenge))
	if len(c.Keys) == 0 {
		s.printf("warning: no key can unlock this device now")
	} else {
		s.printf("keys that unlock: %s", clean(strings.Join(c.Keys, "; ")))
	}
	if c.KeysProblem != "" {
		s.printf(" (%s)", clean(c.KeysProblem))
	}
	s.printf("\n")
	s.printf("Sign it on your machine with the vendor's or the owner's key:\n")
	s.printf("  camagent sign-challenge -key KEY.pem %s\n", clean(c.Challenge))
	s.printf("then paste the response here (or later: unlock RESPONSE).\n")
	line, err := s.readLine(ctx, "response (Enter cancels): ")
	if err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("unlock: no response")
		}
		return err
	}
	line = strings.TrimSpace(line)
	if line == "" {
		s.printf("unlock cancelled\n")
		return nil
	}
	words, err := Parse(line)
	if err != nil {
		return fmt.Errorf("unlock: %w", err)
	}
	if len(words) != 1 {
		return errors.New("unlock: the response is one word: paste the whole line sign-challenge printed")
	}
	return s.unlockWith(ctx, words[0])
}

func (s *Shell) unlockWith(ctx context.Context, response string) error {
	var r control.UnlockResponse
	if err := s.post(ctx, control.PathUnlock, control.UnlockRequest{Response: response}, &r); err != nil {
		return fmt.Errorf("unlock refused: %s", describe(err))
	}
	ttl := time.Duration(r.TTLSeconds * float64(time.Second))
	s.session, s.sessionEnd, s.sessionBy = r.Session, s.now().Add(ttl), r.By
	s.printf("unlocked for %s by %s; lock ends it sooner\n", ttl.Round(time.Second), clean(r.By))
	return nil
}

func (s *Shell) cmdLock(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("lock", "no arguments")
	}
	if s.session == "" {
		s.printf("already locked\n")
		return nil
	}
	err := s.post(ctx, control.PathLock, control.SessionRequest{Session: s.session}, nil)
	s.session = ""
	s.printf("locked\n")
	return err
}

// noteRefusal forgets the session when the agent says it is no longer valid.
func (s *Shell) noteRefusal(err error) {
	var ae *control.APIError
	if errors.As(err, &ae) && ae.StatusCode == 403 &&
		(strings.HasPrefix(ae.Message, control.ErrLocked.Error()) || strings.HasPrefix(ae.Message, control.ErrSessionExpired.Error())) {
		s.session = ""
	}
}

// action runs a privileged action after asking for confirmation (-y skips).
func (s *Shell) action(name, path, question string) func(context.Context, []string) error {
	return func(ctx context.Context, args []string) error {
		yes := false
		for _, a := range args {
			if a != "-y" {
				return usageError(name, "unexpected argument %q", clean(a))
			}
			yes = true
		}
		if !yes {
			line, err := s.readLine(ctx, question+" Type yes to go on: ")
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if strings.TrimSpace(line) != "yes" {
				s.printf("%s cancelled\n", name)
				return nil
			}
		}
		var r control.ActionResponse
		if err := s.post(ctx, path, control.SessionRequest{Session: s.session}, &r); err != nil {
			s.noteRefusal(err)
			return err
		}
		s.printf("%s\n", cleanLines(r.Message))
		return nil
	}
}

func (s *Shell) cmdHistory(_ context.Context, args []string) error {
	if len(args) > 0 {
		return usageError("history", "no arguments")
	}
	for i, l := range s.hist.Entries() {
		s.printf("%4d  %s\n", i+1, clean(l))
	}
	return nil
}
