package daemon

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// consoleGrace is how long the console stays quiet after the last shell
// that shows the log itself stopped asking: the gap between its long polls,
// and a shell that is busy for a moment.
const consoleGrace = 5 * time.Second

// consoleGate is the agent's log on its console (stderr: on a camera the
// serial console). While a terminal shell on that console shows the log
// lines itself, above the line being typed (it follows the log with
// control.LogHoldConsole), the agent keeps them off the console, so they do
// not land in the middle of what a person types. The lines stay in the log
// ring; when the console gets them again it first says how many it did not
// show.
type consoleGate struct {
	w   io.Writer
	now func() time.Time

	mu      sync.Mutex
	holders int
	until   time.Time // quiet until then after the last holder left
	held    uint64    // lines kept off the console since it was last open
}

func newConsoleGate(w io.Writer, now func() time.Time) *consoleGate {
	return &consoleGate{w: w, now: now}
}

// Write writes one log record to the console, unless a shell shows it.
func (g *consoleGate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holders > 0 || g.now().Before(g.until) {
		g.held++
		return len(p), nil
	}
	if g.held > 0 {
		_, _ = fmt.Fprintf(g.w, "(camagent: %d log lines were shown only in the debug shell; camagent ctl logs has them)\n", g.held)
		g.held = 0
	}
	return g.w.Write(p)
}

// Hold keeps the log off the console until release is called and
// consoleGrace has passed since.
func (g *consoleGate) Hold() (release func()) {
	g.mu.Lock()
	g.holders++
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.holders--
			g.until = g.now().Add(consoleGrace)
			g.mu.Unlock()
		})
	}
}
