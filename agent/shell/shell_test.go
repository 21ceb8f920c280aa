package shell

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/upload"
)

// stdAgent answers the read-only routes like an agent with no clip store, no
// motion detector and a short log.
func stdAgent() *fakeAgent {
	a := &fakeAgent{}
	a.answer(control.PathStatus, control.Status{Version: "1.2.3", UptimeSeconds: 61,
		Capture: control.CaptureStatus{Device: "/dev/video0", State: "running", Frames: 42},
		Storage: control.StorageStatus{Mount: "/mnt/sd", State: "writable"},
		Parts:   []control.PartStatus{{Name: "capture", State: "running"}}})
	a.answer(control.PathLog, control.LogResponse{Lines: []control.LogLine{{Seq: 1, Text: "first"}, {Seq: 2, Text: "second \x1b[31mred"}, {Seq: 3, Text: "third"}}, Last: 3})
	a.handle(control.PathCaptureControl, func(_ context.Context, method, path string, in any) (any, error) {
		req := in.(control.CaptureControl)
		if req.Name != "Horizontal Movement" {
			return nil, &control.APIError{Method: method, Path: path, StatusCode: 409, Message: "no control named " + req.Name}
		}
		return req, nil
	})
	a.answer(control.PathEvents, control.EventsResponse{})
	a.refuse(control.PathClips, 503, "clip store not running (no writable SD card, or the storage part has stopped; status says which)")
	a.answer(control.PathUploads, upload.Status{State: "uploading", Current: "2026/05/14/115900-e3", Queued: 2, QueuedBytes: 3 << 20,
		Uploaded: 7, BytesSent: 9 << 20, Items: []upload.ItemStatus{{Name: "2026/05/14/115900-e3", Seq: 12, Phase: "body", Sent: 512 << 10, Total: 1 << 20}}})
	a.refuse(control.PathMotion, 503, "motion detection not running")
	a.answer(control.PathConfig, control.ConfigResponse{TOML: "[log]\nlevel = \"info\"\n"})
	a.answer(control.PathNet, control.NetResponse{Interfaces: []control.Interface{{Name: "lo", Up: true, MTU: 65536, Addrs: []string{"127.0.0.1/8"}}}})
	a.answer(control.PathStorage, control.StorageResponse{Mount: "/mnt/sd", State: "writable", Device: "/dev/vda", FSType: "ext4",
		FreeBytes: 3 << 30, TotalBytes: 4 << 30, StoreMissing: "clip store not running (no writable SD card, or the storage part has stopped; status says which)"})
	a.answer(control.PathID, control.IDResponse{KeyPath: "/var/lib/camagent/device.key", DeviceID: "cam-aaaa",
		PublicKeyPEM: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", VendorKey: "none: no vendor key"})
	return a
}

// runShell runs a non-terminal shell over input and returns what it wrote.
func runShell(t *testing.T, a Agent, input string, cfg Config) string {
	t.Helper()
	checkGoroutines(t)
	var out bytes.Buffer
	cfg.Agent, cfg.In, cfg.Out = a, strings.NewReader(input), &out
	if err := New(cfg).Run(t.Context()); err != nil {
		t.Fatalf("Run = %v; output:\n%s", err, out.String())
	}
	return out.String()
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        []string
		notWant     []string
	}{
		{"help", "help\n", []string{"config get [KEY]", "config set KEY VALUE", "unlock RESPONSE", "factory-reset", "need unlock"}, nil},
		{"help one", "help log\n", []string{"log -f", "follows"}, nil},
		{"help unknown", "help stauts\n", []string{`help: unknown command "stauts" (did you mean status?)`}, nil},
		{"long unknown command", strings.Repeat("x", 3000) + "\n", []string{`error: unknown command "` + strings.Repeat("x", 32) + `"... (3000 characters); type help`}, []string{strings.Repeat("x", 33)}},
		{"long help word", "help " + strings.Repeat("y", 3000) + "\n", []string{`help: unknown command "` + strings.Repeat("y", 32) + `"... (3000 characters)`}, []string{strings.Repeat("y", 33)}},
		{"unknown command", "stauts\n", []string{`error: unknown command "stauts" (did you mean status?); type help`}, nil},
		{"status", "status\n", []string{"camagent 1.2.3", "/dev/video0 running, 42 frames", "part    capture running"}, nil},
		{"log", "log 3\n", []string{"first\nsecond ?[31mred\nthird\n"}, []string{"\x1b"}},
		{"log bad count", "log 0\nlog x\nlog 1001\n", []string{`log: "0": want a number from 1 to 1000`, `log: "x"`, `log: "1001"`}, nil},
		{"events", "events\n", []string{"no motion events yet"}, nil},
		{"clips", "clips\nclips info x\nclips verify x\n", []string{"error: clip store not running (no writable SD card"}, nil},
		{"clips usage", "clips delete x\n", []string{"use clips [list], clips info NAME or clips verify NAME"}, nil},
		{"control", "control \"Horizontal Movement\" 6\n", []string{"Horizontal Movement = 6\n"}, []string{"error"}},
		{"control usage", "control\ncontrol Brightness x\n", []string{`control: want NAME VALUE, e.g. control "Horizontal Movement" 6`, `control: value "x" is not a 32-bit integer`}, nil},
		{"control refused", "control Nope 1\n", []string{`error: control "Nope": no control named Nope`}, nil},
		{"help control", "help control\n", []string{"control NAME VALUE", "3 no movement", "6 right fast", "not saved"}, nil},
		{"uploads", "uploads\n", []string{"uploads:      uploading 2026/05/14/115900-e3", "queued:       2 clips, 3.0 MiB", "7 clips uploaded, 9.0 MiB sent",
			"512.0 KiB / 1.0 MiB", "... 1 more"}, []string{"not available"}},
		{"motion", "motion\n", []string{"error: motion detection not running"}, nil},
		{"net", "net\n", []string{"lo", "up", "65536", "127.0.0.1/8"}, nil},
		{"config get", "config get log.level\n", []string{"[log]\nlevel = \"info\""}, nil},
		{"config usage", "config\nconfig rm x\nconfig get a b\n", []string{"use config get [KEY] or config set KEY VALUE"}, nil},
		{"storage", "storage\n", []string{"/mnt/sd: writable", "/dev/vda (ext4)", "1.0 GiB used, 3.0 GiB free of 4.0 GiB (25% used)", "clip store not running"}, nil},
		{"id", "id\n", []string{"cam-aaaa", "BEGIN PUBLIC KEY", "none: no vendor key", "certificate  none"}, []string{"PRIVATE"}},
		{"locked config set", "config set log.level debug\n", []string{"error: locked: config set needs an unlocked shell; run unlock"}, nil},
		{"locked reboot", "reboot -y\nformat-sd\nfactory-reset\n", []string{"locked: reboot needs", "locked: format-sd needs", "locked: factory-reset needs"}, nil},
		{"syntax", "config get 'log\n", []string{"error: shell: syntax error: unterminated '"}, nil},
		{"control bytes", "status\x1b[2J\n", []string{"error: shell: control character: U+001B"}, []string{"\x1b"}},
		{"too long", strings.Repeat("a", MaxLine+10) + "\nstatus\n", []string{"error: shell: line too long", "camagent 1.2.3"}, nil},
		{"history", "status\nnet\nhistory\n", []string{"   1  status\n   2  net\n   3  history\n"}, nil},
		{"exit stops", "exit\nstatus\n", nil, []string{"camagent 1.2.3, up"}},
		{"quit", "quit\n", nil, nil},
		{"comments and blanks", "\n   \n# just a comment\n", nil, []string{"error"}},
		{"agent too old", "snapshot\n", []string{"error: the agent does not serve /v1/shell/snapshot (is it an older camagent?)"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := stdAgent()
			if tc.name == "exit stops" {
				a.answer(control.PathStatus, control.Status{Version: "banner"})
			}
			out := runShell(t, a, tc.input, Config{})
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
			if !strings.HasPrefix(out, "camagent shell: type help") || !strings.HasSuffix(out, PromptLocked+"\n") && !strings.HasSuffix(out, PromptLocked) {
				t.Errorf("output does not start with the banner and end at a prompt:\n%q", out)
			}
		})
	}
}

func TestBannerWithoutAgent(t *testing.T) {
	a := &fakeAgent{}
	a.handle("/", func(context.Context, string, string, any) (any, error) { return nil, control.ErrNoAgent })
	out := runShell(t, a, "status\nhelp\n", Config{})
	if !strings.Contains(out, "warning: camagent: no agent listening") || !strings.Contains(out, "error: camagent: no agent listening") ||
		!strings.Contains(out, "snapshot") {
		t.Errorf("output:\n%s", out)
	}
}

// logAgent serves a log that grows by one line per request while following,
// up to n lines, then waits for the request's end (a long poll that sees
// nothing new).
func logAgent(n int) *fakeAgent {
	a := stdAgent()
	seq := uint64(3)
	a.handle(control.PathLog+"?after=", func(ctx context.Context, _, _ string, _ any) (any, error) {
		if seq < uint64(3+n) {
			seq++
			return control.LogResponse{Lines: []control.LogLine{{Seq: seq, Text: "new line"}}, Last: seq}, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	return a
}

func TestFollowStopsOnNextLine(t *testing.T) {
	out := runShell(t, logAgent(2), "log -f\nstatus\n", Config{FollowLimit: time.Hour})
	for _, w := range []string{"(following the log for up to 1h0m0s; the next input line stops)", "(stopped following)", "camagent 1.2.3"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestFollowEndsAtLimit(t *testing.T) {
	// Without a terminal and at the end of input, following ends at the
	// limit (here the first long poll that sees nothing new, cut by it).
	out := runShell(t, logAgent(3), "log -f", Config{FollowLimit: time.Millisecond})
	if !strings.Contains(out, "(stopped following)") {
		t.Errorf("output:\n%s", out)
	}
}

func TestFollowAgentRestarted(t *testing.T) {
	a := stdAgent()
	calls := 0
	a.handle(control.PathLog+"?after=", func(ctx context.Context, _, path string, _ any) (any, error) {
		calls++
		switch calls {
		case 1:
			return control.LogResponse{Last: 1}, nil // fewer lines than we saw: a new agent
		case 2:
			if !strings.Contains(path, "after=0") {
				return nil, &control.APIError{StatusCode: 400, Message: "want after=0, got " + path}
			}
			return control.LogResponse{Lines: []control.LogLine{{Seq: 5, Text: "after a gap"}}, Last: 5}, nil
		}
		return nil, &control.APIError{StatusCode: 503, Message: "agent went away"}
	})
	out := runShell(t, a, "log -f\n", Config{FollowLimit: time.Hour})
	for _, w := range []string{"(the agent restarted)", "(4 lines skipped)", "after a gap", "error: agent went away"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestMotion(t *testing.T) {
	a := stdAgent()
	a.answer(control.PathMotion+"?n=0", control.MotionResponse{Last: 7})
	seq := uint64(7)
	a.handle(control.PathMotion+"?after=", func(context.Context, string, string, any) (any, error) {
		seq++
		return control.MotionResponse{Samples: []control.MotionSample{{Seq: seq, Frame: 100 + seq, Motion: seq%2 == 0, ScorePercent: 12.5,
			Noise: 2.5, Threshold: 12, Boxes: []control.Box{{X: 10, Y: 20, W: 30, H: 40}}}}, Last: seq}, nil
	})
	out := runShell(t, a, "motion 3\n", Config{})
	if strings.Count(out, " 12.5% ") != 3 || !strings.Contains(out, "MOTION") || !strings.Contains(out, "30x40@10,20") {
		t.Errorf("output:\n%s", out)
	}
	a.answer(control.PathMotion+"?after=", control.MotionResponse{Last: seq})
	out = runShell(t, a, "motion 2\n", Config{})
	if !strings.Contains(out, "no frame analysed in 2s") {
		t.Errorf("output without frames:\n%s", out)
	}
}

// unlockAgent answers challenge and unlock, and checks the session of
// privileged requests.
func unlockAgent(t *testing.T) *fakeAgent {
	a := stdAgent()
	a.answer(control.PathChallenge, control.ChallengeResponse{Challenge: "camagent-unlock-v1.x", DeviceID: "cam-aaaa", TTLSeconds: 600,
		Keys: []string{"vendor key sha256:01"}})
	a.handle(control.PathUnlock, func(_ context.Context, _, _ string, in any) (any, error) {
		if in.(control.UnlockRequest).Response != "good" {
			return nil, &control.APIError{StatusCode: 403, Message: "response not signed by the vendor or owner key"}
		}
		return control.UnlockResponse{Session: "tok", TTLSeconds: 900, By: "vendor key sha256:01"}, nil
	})
	privileged := func(_ context.Context, _, _ string, in any) (any, error) {
		var s string
		switch r := in.(type) {
		case control.SessionRequest:
			s = r.Session
		case control.ConfigSetRequest:
			s = r.Session
		}
		if s != "tok" {
			return nil, &control.APIError{StatusCode: 403, Message: "locked: the agent does not know this session"}
		}
		if r, ok := in.(control.ConfigSetRequest); ok {
			return control.ConfigSetResponse{Path: "/etc/camagent/camagent.toml", Key: r.Key, Old: `"info"`, New: `"` + r.Value + `"`, Sections: []string{"log"}}, nil
		}
		return control.ActionResponse{Message: "rebooting"}, nil
	}
	a.handle(control.PathConfigSet, privileged)
	a.handle(control.PathReboot, privileged)
	a.answer(control.PathLock, control.ActionResponse{Message: "locked"})
	return a
}

func TestUnlockFlow(t *testing.T) {
	clk := newClock()
	a := unlockAgent(t)
	out := runShell(t, a, strings.Join([]string{
		"unlock", "bad", // the prompted response is refused
		"unlock", "", // cancelled
		"unlock good",
		"config set log.level debug",
		"reboot", "no", // not confirmed
		"reboot", "yes",
		"lock",
		"reboot -y",
	}, "\n")+"\n", Config{Now: clk.Now})
	for _, w := range []string{
		"camagent-unlock-v1.x", "keys that unlock: vendor key sha256:01",
		"camagent sign-challenge -key KEY.pem camagent-unlock-v1.x",
		"error: unlock refused: response not signed by the vendor or owner key",
		"unlock cancelled",
		"unlocked for 15m0s by vendor key sha256:01",
		PromptUnlocked,
		`log.level: "info" -> "debug"`, "the agent reloads it (changed: log)",
		"reboot cancelled", "rebooting",
		"locked\n",
		"error: locked: reboot needs an unlocked shell",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "tok") {
		t.Error("the session token was printed")
	}
	calls := strings.Join(a.called(), "\n")
	if strings.Count(calls, "POST "+control.PathReboot) != 1 || !strings.Contains(calls, "POST "+control.PathLock) {
		t.Errorf("calls:\n%s", calls)
	}
}

func TestUnlockExpiresAndAgentRefusal(t *testing.T) {
	clk := newClock()
	a := unlockAgent(t)
	// status stands for the time a technician takes: the unlock runs out.
	first := true
	a.handle(control.PathStatus, func(context.Context, string, string, any) (any, error) {
		if first { // the banner
			first = false
			return control.Status{}, nil
		}
		clk.Advance(15 * time.Minute)
		return control.Status{}, nil
	})
	// The agent forgot the session (a restart): its refusal locks the shell.
	a.refuse(control.PathReboot, 403, "locked: the agent does not know this session (locked, or the agent restarted); run unlock")
	out := runShell(t, a, strings.Join([]string{
		"unlock good", "status",
		"config set log.level debug", // the prompt before it noticed the expiry
		"unlock good", "reboot -y", "reboot -y",
	}, "\n")+"\n", Config{Now: clk.Now})
	for _, w := range []string{
		"(the unlock expired; privileged commands are refused again)",
		"error: locked: config set needs an unlocked shell",
		"error: locked: the agent does not know this session",
		"error: locked: reboot needs an unlocked shell",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestRunEndsWithContext(t *testing.T) {
	checkGoroutines(t)
	pr, pw := io.Pipe()
	defer pw.Close() // ends the input goroutine, blocked in Read
	ctx, cancel := context.WithCancel(t.Context())
	a := unlockAgent(t)
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- New(Config{Agent: a, In: pr, Out: &out}).Run(ctx) }()
	_, _ = pw.Write([]byte("unlock good\n"))
	_, _ = pw.Write([]byte("status\n"))
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	// It locked its session on the way out.
	if calls := strings.Join(a.called(), "\n"); !strings.Contains(calls, "POST "+control.PathLock) {
		t.Errorf("no lock on exit; calls:\n%s", calls)
	}
}

// TestTerminal drives the line editor: Tab completion, Ctrl-C clearing the
// line, history (Up), and Ctrl-D leaving.
func TestTerminal(t *testing.T) {
	checkGoroutines(t)
	a := stdAgent()
	input := "sta\t\r" + // completes to status
		"net\x03" + "his\t\r" + // Ctrl-C drops "net"
		"\x1b[A\x1b[A\r" + // Up twice: status again
		"c\t\t\r" + // ambiguous: lists clips and config
		"\x04"
	var out bytes.Buffer
	err := New(Config{Agent: a, In: strings.NewReader(input), Out: &out, Terminal: true, Width: 100, Height: 30}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if n := strings.Count(got, "/dev/video0 running"); n != 2 {
		t.Errorf("status ran %d times, want 2:\n%q", n, got)
	}
	if strings.Contains(got, "IFACE") {
		t.Errorf("net ran although Ctrl-C cleared it:\n%q", got)
	}
	if !strings.Contains(got, "clips  config") {
		t.Errorf("candidates not listed:\n%q", got)
	}
	if !strings.Contains(got, "\r\n") || strings.Contains(strings.ReplaceAll(got, "\r\n", ""), "\n") {
		t.Errorf("terminal output is not CRLF:\n%q", got)
	}
	if !strings.Contains(got, "1  status") {
		t.Errorf("history missing:\n%q", got)
	}
}

// FuzzExecute runs any line against an agent that refuses everything: each
// gives an answer or an error, never a panic or a hang.
func FuzzExecute(f *testing.F) {
	for _, tc := range parseCases {
		if len(tc.line) < 256 {
			f.Add(tc.line)
		}
	}
	for _, l := range []string{"status", "log -f", "log 5", "motion -f", "unlock", "unlock x", "config set a b", "reboot",
		"clips info x", "help help", "events 3", "history", "lock", "snapshot x", "id", "net", "storage"} {
		f.Add(l)
	}
	a := &fakeAgent{}
	a.refuse("/", 503, "down")
	f.Fuzz(func(t *testing.T, line string) {
		var out bytes.Buffer
		s := New(Config{Agent: a, Out: &out, FollowLimit: time.Millisecond})
		s.in = newInput(strings.NewReader(""))
		defer s.in.stop()
		quit := s.execute(t.Context(), line)
		words, err := Parse(line)
		silent := err == nil && (len(words) == 0 || quit || words[0] == "history")
		if !silent && out.Len() == 0 {
			t.Fatalf("%q gave no answer", line)
		}
	})
}

// waitWriter collects output and lets a test wait for some text.
type waitWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	change chan struct{}
}

func newWaitWriter() *waitWriter { return &waitWriter{change: make(chan struct{})} }

func (w *waitWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	close(w.change)
	w.change = make(chan struct{})
	return len(p), nil
}

// waitFor waits until the output holds text after offset from and returns
// the offset after it.
func (w *waitWriter) waitFor(t *testing.T, from int, text string) int {
	t.Helper()
	for {
		w.mu.Lock()
		s, ch := w.b.String(), w.change
		w.mu.Unlock()
		if i := strings.Index(s[from:], text); i >= 0 {
			return from + i + len(text)
		}
		select {
		case <-ch:
		case <-t.Context().Done():
			t.Fatalf("output never showed %q:\n%q", text, s)
		}
	}
}

// TestTerminalFollow stops following the log with Ctrl-C, on a terminal.
func TestTerminalFollow(t *testing.T) {
	checkGoroutines(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	out := newWaitWriter()
	done := make(chan error, 1)
	go func() {
		done <- New(Config{Agent: logAgent(2), In: pr, Out: out, Terminal: true}).Run(t.Context())
	}()
	pos := out.waitFor(t, 0, PromptLocked)
	_, _ = pw.Write([]byte("log -f\r"))
	pos = out.waitFor(t, pos, "(following the log; Ctrl-C, q or Enter stops)")
	pos = out.waitFor(t, pos, "new line\r\nnew line\r\n")
	_, _ = pw.Write([]byte("x\x03"))
	pos = out.waitFor(t, pos, "(stopped following)")
	out.waitFor(t, pos, PromptLocked)
	_, _ = pw.Write([]byte("\x04"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// FuzzTerminal types any bytes into a terminal shell whose agent refuses
// everything: it must end at the end of input, without a panic.
func FuzzTerminal(f *testing.F) {
	for _, s := range []string{"sta\t\r", "log -f\r\x03", "unlock\rabc\r", "reboot\ryes\r", "\x1b[A\x1b[B\x1b[C\x1b[D\r",
		"\x1b[200~status\r\x1b[201~", "c\t\t\r", "\xff\xfe\r", "history\r\x04", strings.Repeat("x", 5000) + "\r"} {
		f.Add([]byte(s))
	}
	a := &fakeAgent{}
	a.refuse("/", 503, "down")
	f.Fuzz(func(t *testing.T, input []byte) {
		var out bytes.Buffer
		s := New(Config{Agent: a, In: bytes.NewReader(input), Out: &out, Terminal: true, FollowLimit: time.Millisecond})
		if err := s.Run(t.Context()); err != nil {
			t.Fatalf("Run = %v", err)
		}
	})
}

// TestTerminalLogAboveInput is issue 15's "log lines land in the middle of
// what a person types": on a terminal the shell follows the agent's log
// (asking it to keep the lines off the console meanwhile) and prints a new
// line above the input line, redrawing the prompt and what was typed so
// far; the typed command then runs whole. A line that comes while a command
// prints its answer waits for the next prompt.
func TestTerminalLogAboveInput(t *testing.T) {
	checkGoroutines(t)
	a := stdAgent()
	lines := make(chan control.LogLine)
	a.handle(control.PathLog+"?hold=", func(ctx context.Context, _, path string, _ any) (any, error) {
		if strings.Contains(path, "&n=0") {
			return control.LogResponse{Last: 3}, nil
		}
		select {
		case l := <-lines:
			return control.LogResponse{Lines: []control.LogLine{l}, Last: l.Seq}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	statusGate := make(chan struct{})
	a.handle(control.PathStatus, func(ctx context.Context, _, _ string, _ any) (any, error) {
		select {
		case <-statusGate:
		default:
			// the banner's status
			return control.Status{Version: "1.2.3"}, nil
		}
		// the typed status: a log line comes while it is being answered
		lines <- control.LogLine{Seq: 5, Text: "level=INFO msg=during"}
		return control.Status{Version: "1.2.3", Capture: control.CaptureStatus{Device: "/dev/video0", State: "running"}}, nil
	})
	pr, pw := io.Pipe()
	defer pw.Close()
	out := newWaitWriter()
	done := make(chan error, 1)
	go func() {
		done <- New(Config{Agent: a, In: pr, Out: out, Terminal: true, Width: 80, Height: 24}).Run(t.Context())
	}()
	pos := out.waitFor(t, 0, PromptLocked)
	_, _ = pw.Write([]byte("sta"))
	pos = out.waitFor(t, pos, "sta")
	lines <- control.LogLine{Seq: 4, Text: "level=INFO msg=hello \x1b[2J"}
	// The line, then the prompt and the typed text again.
	pos = out.waitFor(t, pos, "level=INFO msg=hello ?[2J\r\n"+PromptLocked+"sta")
	close(statusGate)
	_, _ = pw.Write([]byte("tus\r"))
	pos = out.waitFor(t, pos, "/dev/video0 running")
	// The line logged during the command comes after its answer, before
	// the next prompt.
	pos = out.waitFor(t, pos, "level=INFO msg=during\r\n")
	out.waitFor(t, pos, PromptLocked)
	_, _ = pw.Write([]byte("\x04"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	held := 0
	for _, c := range a.calls {
		if strings.HasPrefix(c, "GET "+control.PathLog+"?hold="+control.LogHoldConsole) {
			held++
		}
	}
	if held < 2 {
		t.Errorf("log requests holding the console: %d, want every one of the follower's:\n%v", held, a.calls)
	}
}
