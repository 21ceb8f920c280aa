package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/camagent/camagent/agent/control"
)

// Defaults of Config.
const (
	// DefaultFollowLimit bounds `log -f` and `motion -f` when input is not a
	// terminal (there is no Ctrl-C to stop them).
	DefaultFollowLimit = 30 * time.Second
	// requestTimeout bounds each request to the agent.
	requestTimeout = control.MaxWait + 10*time.Second
	// lockTimeout bounds the lock request sent on exit.
	lockTimeout = 2 * time.Second
	// consoleRetry is how long the console's log follower waits before
	// asking again after an error or an answer that did not wait.
	consoleRetry = 2 * time.Second
	// maxPendingLog bounds the log lines kept for the next prompt while a
	// command runs.
	maxPendingLog = 100
)

// Prompts: '#' while the shell is unlocked, as root's prompt.
const (
	PromptLocked   = "camagent> "
	PromptUnlocked = "camagent# "
)

// Config configures a Shell. Agent, In and Out are required.
type Config struct {
	// Agent answers the shell's requests (a *control.Client).
	Agent Agent
	// In and Out are the shell's input and output.
	In  io.Reader
	Out io.Writer
	// Terminal says that In and Out are a terminal already in raw mode: the
	// shell edits lines with x/term (echo, history, completion, escape
	// sequences). Otherwise it reads plain lines and writes plain text.
	Terminal bool
	// Width and Height are the terminal's size when known; 0 keeps x/term's
	// 80x24 (a serial line has no size).
	Width, Height int
	// PrintStatus prints the agent's status (camagent's `ctl status`
	// format); nil prints a short summary.
	PrintStatus func(w io.Writer, st control.Status) error
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FollowLimit bounds following without a terminal (default
	// DefaultFollowLimit).
	FollowLimit time.Duration
}

// Shell is one interactive session. Create it with New and call Run once.
type Shell struct {
	cfg      Config
	agent    Agent
	now      func() time.Time
	hist     *History
	commands []*command
	names    []string // command names, for completion
	keys     []string // config keys, for completion

	// Set up by Run.
	in   *input
	out  io.Writer
	term *term.Terminal

	// The agent's log on a terminal (see followConsole): lines newer than
	// logShown wait in pending while a command runs and are printed above
	// the input line at a prompt.
	logMu    sync.Mutex
	atPrompt bool
	pending  []control.LogLine
	skipped  uint64
	logShown uint64 // the newest line printed, by a log command or at a prompt

	// The unlock session, known only to this shell and the agent.
	session    string
	sessionEnd time.Time
	sessionBy  string
}

// New returns a shell for cfg.
func New(cfg Config) *Shell {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FollowLimit <= 0 {
		cfg.FollowLimit = DefaultFollowLimit
	}
	s := &Shell{cfg: cfg, agent: cfg.Agent, now: cfg.Now, hist: NewHistory(DefaultHistory), out: cfg.Out, keys: configKeys()}
	s.commands = s.commandTable()
	for _, c := range s.commands {
		s.names = append(s.names, c.name)
	}
	return s
}

// History returns the shell's history.
func (s *Shell) History() *History { return s.hist }

// Run reads and runs commands until exit, the end of input (Ctrl-D), or the
// end of ctx. It locks the session it unlocked before it returns. It returns
// nil on exit or end of input, ctx's error when ctx ended, and an error when
// input or output failed.
func (s *Shell) Run(ctx context.Context) error {
	s.in = newInput(s.cfg.In)
	defer s.in.stop()
	if s.cfg.Terminal {
		s.term = term.NewTerminal(&ttyConn{in: s.in, out: s.cfg.Out, cancel: ctx.Done()}, PromptLocked)
		s.term.History = s.hist
		s.term.AutoCompleteCallback = s.autoComplete
		if s.cfg.Width > 0 && s.cfg.Height > 0 {
			_ = s.term.SetSize(s.cfg.Width, s.cfg.Height)
		}
		s.out = s.term
	}
	defer s.lockOnExit(ctx)
	s.banner(ctx)
	if s.term != nil {
		// On a terminal the agent's log comes through the shell, above the
		// input line, and not from the agent straight onto the console.
		fctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { s.followConsole(fctx) })
		defer func() {
			stop()
			wg.Wait()
		}()
	}
	for {
		line, err := s.readLine(ctx, s.prompt())
		switch {
		case errors.Is(err, ErrLineTooLong):
			s.printf("error: %v\n", err)
			continue
		case errors.Is(err, io.EOF):
			s.printf("\n")
			return nil
		case err != nil && ctx.Err() != nil:
			return context.Cause(ctx)
		case err != nil:
			return fmt.Errorf("shell: read: %w", err)
		}
		if s.execute(ctx, line) {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
	}
}

// banner greets the technician and says which agent answers.
func (s *Shell) banner(ctx context.Context) {
	s.printf("camagent shell: type help for the commands; Tab completes; exit or Ctrl-D leaves.\n")
	var st control.Status
	if err := s.get(ctx, control.PathStatus, &st); err != nil {
		s.printf("warning: %s\n", describe(err))
		return
	}
	s.printf("agent camagent %s, up %s\n", clean(st.Version),
		time.Duration(st.UptimeSeconds*float64(time.Second)).Round(time.Second))
}

// prompt returns the prompt, and forgets an unlock whose time is up.
func (s *Shell) prompt() string {
	if s.session != "" && !s.now().Before(s.sessionEnd) {
		s.session = ""
		s.printf("(the unlock expired; privileged commands are refused again)\n")
	}
	if s.session != "" {
		return PromptUnlocked
	}
	return PromptLocked
}

// readLine reads one line with prompt.
func (s *Shell) readLine(ctx context.Context, prompt string) (string, error) {
	if s.term != nil {
		s.term.SetPrompt(prompt)
		s.promptLog(true)
		line, err := s.term.ReadLine()
		s.promptLog(false)
		switch {
		case errors.Is(err, errStopped):
			return "", context.Cause(ctx)
		case errors.Is(err, term.ErrPasteIndicator):
			// A pasted line (a terminal left in bracketed-paste mode marks
			// them) is a line like any other.
			return line, nil
		}
		return line, err
	}
	if _, err := io.WriteString(s.out, prompt); err != nil {
		return "", err
	}
	line, err := s.in.readLine(ctx.Done())
	if errors.Is(err, errStopped) {
		return "", context.Cause(ctx)
	}
	if err == nil {
		s.hist.Add(line)
	}
	return line, err
}

// execute runs one line; it reports whether the shell should end.
func (s *Shell) execute(ctx context.Context, line string) (quit bool) {
	words, err := Parse(line)
	if err != nil {
		s.printf("error: %v\n", err)
		return false
	}
	if len(words) == 0 {
		return false
	}
	c := s.lookup(words[0])
	if c == nil {
		s.printf("error: unknown command %s%s; type help\n", echo(words[0]), s.suggest(words[0]))
		return false
	}
	if c.quit {
		return true
	}
	if c.privileged != nil && s.session == "" {
		if name := c.privileged(words[1:]); name != "" {
			s.printf("error: %v: %s needs an unlocked shell; run unlock (a challenge for the vendor or owner key to sign)\n",
				control.ErrLocked, name)
			return false
		}
	}
	if err := c.run(ctx, words[1:]); err != nil {
		if ctx.Err() != nil {
			return false
		}
		s.printf("error: %s\n", describe(err))
	}
	return false
}

// lookup finds a command by name or alias.
func (s *Shell) lookup(name string) *command {
	for _, c := range s.commands {
		if c.name == name || c.alias == name {
			return c
		}
	}
	return nil
}

// suggest names commands close to a mistyped one.
func (s *Shell) suggest(word string) string {
	var close []string
	for _, n := range s.names {
		if strings.HasPrefix(n, word) || editDistance(word, n) <= 2 {
			close = append(close, n)
		}
	}
	if len(close) == 0 {
		return ""
	}
	return " (did you mean " + strings.Join(close, ", ") + "?)"
}

// editDistance is the Levenshtein distance of two short words.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// autoComplete is the terminal's key hook: Tab completes, and Ctrl-C
// (delivered as keyClearLine) clears the line.
func (s *Shell) autoComplete(line string, pos int, key rune) (string, int, bool) {
	switch key {
	case keyClearLine:
		return "", 0, true
	case '\t':
		newLine, newPos, cands := s.Complete(line, pos)
		if len(cands) > 1 {
			_, _ = s.term.Write([]byte(strings.Join(cands, "  ") + "\n"))
		}
		return newLine, newPos, true
	}
	return "", 0, false
}

// lockOnExit ends the unlock session at the agent, even when ctx has ended.
func (s *Shell) lockOnExit(ctx context.Context) {
	if s.session == "" {
		return
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockTimeout)
	defer cancel()
	if err := s.agent.Post(lctx, control.PathLock, control.SessionRequest{Session: s.session}, nil); err == nil {
		s.printf("locked\n")
	}
	s.session = ""
}

// printf writes to the shell's output. Text that came from the agent must
// have gone through clean first.
func (s *Shell) printf(format string, a ...any) {
	_, _ = fmt.Fprintf(s.out, format, a...)
}

// get and post are the agent's Get and Post, bounded by requestTimeout.
func (s *Shell) get(ctx context.Context, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return s.agent.Get(ctx, path, out)
}

func (s *Shell) post(ctx context.Context, path string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	return s.agent.Post(ctx, path, in, out)
}

// describe turns an error from the agent into one line for the technician.
func describe(err error) string {
	var ae *control.APIError
	switch {
	case errors.As(err, &ae) && ae.StatusCode == 404 && strings.HasPrefix(ae.Message, "no such endpoint"):
		return fmt.Sprintf("the agent does not serve %s (is it an older camagent?)", clean(ae.Path))
	case errors.As(err, &ae):
		return clean(ae.Message)
	case errors.Is(err, context.DeadlineExceeded):
		return "the agent did not answer in time"
	}
	return clean(err.Error())
}

// followConsole shows the agent's log on a terminal shell: it follows the
// log from now on, asking the agent to keep the lines off its console
// meanwhile (control.LogHoldConsole: on a serial console the agent's own
// log and the shell share the line, and the agent's lines would land in
// the middle of what is typed). At a prompt the lines are printed above the
// input line, which x/term redraws unbroken; while a command prints its
// answer they wait for the next prompt. It returns when ctx ends.
func (s *Shell) followConsole(ctx context.Context) {
	after := uint64(0)
	started := false
	for ctx.Err() == nil {
		// hold first: the agent keeps its log off the console while this
		// request is open.
		q := "?hold=" + url.QueryEscape(control.LogHoldConsole) + "&n=0" // only where the log is now
		if started {
			q = "?hold=" + url.QueryEscape(control.LogHoldConsole) + "&after=" + strconv.FormatUint(after, 10) +
				"&n=200&wait=" + strconv.FormatInt(control.MaxWait.Milliseconds(), 10)
		}
		var r control.LogResponse
		asked := s.now()
		err := s.get(ctx, control.PathLog+q, &r)
		var fresh []control.LogLine
		switch {
		case err == nil && !started:
			after = r.Last
		case err == nil:
			if r.Last < after { // the agent restarted; its first lines went to the console
				after = r.Last
			}
			for _, l := range r.Lines {
				if l.Seq > after {
					fresh = append(fresh, l)
				}
			}
			if len(fresh) > 0 {
				after = fresh[len(fresh)-1].Seq
				s.showLog(fresh)
			}
		}
		if err != nil || (started && len(fresh) == 0 && s.now().Sub(asked) < consoleRetry) {
			// The agent is away, or answered at once with nothing new: ask
			// again in a while rather than at once.
			t := time.NewTimer(consoleRetry)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
		started = started || err == nil
	}
}

// showLog prints log lines above the input line at a prompt, and keeps them
// (bounded) for the next prompt while a command runs.
func (s *Shell) showLog(lines []control.LogLine) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for _, l := range lines {
		if len(s.pending) == maxPendingLog {
			s.pending = s.pending[1:]
			s.skipped++
		}
		s.pending = append(s.pending, l)
	}
	if s.atPrompt {
		s.flushLog()
	}
}

// promptLog marks the shell as waiting at a prompt (printing the log lines
// kept meanwhile), or as running a command.
func (s *Shell) promptLog(at bool) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.atPrompt = at
	if at {
		s.flushLog()
	}
}

// flushLog prints the kept log lines a log command has not printed; logMu
// is held.
func (s *Shell) flushLog() {
	var b strings.Builder
	if s.skipped > 0 {
		fmt.Fprintf(&b, "(%d log lines skipped; log shows them)\n", s.skipped)
		s.skipped = 0
	}
	for _, l := range s.pending {
		if l.Seq <= s.logShown {
			continue
		}
		b.WriteString(clean(l.Text))
		b.WriteByte('\n')
		s.logShown = l.Seq
	}
	s.pending = s.pending[:0]
	if b.Len() > 0 {
		_, _ = s.term.Write([]byte(b.String()))
	}
}

// noteLogShown records that a log command printed the lines up to seq, so
// that they are not printed again at the next prompt.
func (s *Shell) noteLogShown(seq uint64) {
	s.logMu.Lock()
	s.logShown = max(s.logShown, seq)
	s.logMu.Unlock()
}
