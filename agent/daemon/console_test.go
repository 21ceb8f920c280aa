package daemon

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/camagent/camagent/agent/control"
)

// lockedBuffer is a bytes.Buffer safe for the log's writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConsoleHeldWhileShellShowsLog is issue 15's "log lines land in the
// middle of what a person types": while a terminal shell on the console
// follows the log with hold=console (and shows the lines itself, above its
// input line), the agent writes nothing to the console; the lines stay in
// the ring, the shell gets them, and once the shell is gone (after
// consoleGrace) the console says how many it did not show and goes on.
func TestConsoleHeldWhileShellShowsLog(t *testing.T) {
	fx := newShellFixture(t)
	var console lockedBuffer
	gate := newConsoleGate(&console, fx.clock.Now)
	fx.srv.cfg.Console = gate
	fx.start(t)
	log := io.MultiWriter(gate, fx.ring) // as the daemon's log handler writes

	fmt.Fprintln(log, "level=INFO msg=before")
	last := fx.ring.Tail(1)[0].Seq
	got := make(chan control.LogResponse, 1)
	go func() {
		var r control.LogResponse
		_ = fx.client.Get(t.Context(), fmt.Sprintf("%s?after=%d&wait=15000&hold=%s", control.PathLog, last, control.LogHoldConsole), &r)
		got <- r
	}()
	for held := false; !held; { // until the request holds the console
		gate.mu.Lock()
		held = gate.holders == 1
		gate.mu.Unlock()
		select {
		case r := <-got:
			t.Fatalf("the long poll returned before it held the console: %+v", r)
		default:
			runtime.Gosched()
		}
	}
	fmt.Fprintln(log, "level=INFO msg=typed-over")
	if r := <-got; len(r.Lines) != 1 || r.Lines[0].Text != "level=INFO msg=typed-over" {
		t.Errorf("the shell's long poll = %+v, want the held line", r)
	}
	fmt.Fprintln(log, "level=INFO msg=between-polls")
	if s := console.String(); s != "level=INFO msg=before\n" {
		t.Errorf("console while a shell shows the log:\n%q\nwant only the line before it", s)
	}
	fx.clock.Advance(consoleGrace)
	fmt.Fprintln(log, "level=INFO msg=after")
	want := "level=INFO msg=before\n(camagent: 2 log lines were shown only in the debug shell; camagent ctl logs has them)\nlevel=INFO msg=after\n"
	if s := console.String(); s != want {
		t.Errorf("console after the shell left:\n%q\nwant\n%q", s, want)
	}
	// A poll without hold (ctl logs, a shell on a pipe) holds nothing.
	var r control.LogResponse
	if err := fx.client.Get(t.Context(), control.PathLog+"?n=1", &r); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(log, "level=INFO msg=unheld")
	if s := console.String(); !strings.HasSuffix(s, "msg=unheld\n") {
		t.Errorf("console after a plain poll:\n%q", s)
	}
}
