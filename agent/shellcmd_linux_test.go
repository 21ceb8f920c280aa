package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"sync"
	"testing"

	"github.com/camagent/camagent/agent/control"
	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal's master and slave. A fresh pty has
// no window size (0x0), like a serial console.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open slave: %v", err)
	}
	return m, s
}

// TestShellOnTerminal runs `camagent shell` on a terminal without a window
// size, as on the camera's serial console: raw mode, line editing, Tab, and
// the terminal's settings restored at the end.
func TestShellOnTerminal(t *testing.T) {
	sock := startAgent(t, control.StatusRoute(func(context.Context) (control.Status, error) {
		return control.Status{Version: "test", Capture: control.CaptureStatus{Device: "/dev/video0", State: "running"}}, nil
	}))
	master, slave := openPTY(t)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if ws, err := unix.IoctlGetWinsize(int(slave.Fd()), unix.TIOCGWINSZ); err == nil && (ws.Col != 0 || ws.Row != 0) {
		t.Logf("this pty has a size %dx%d", ws.Col, ws.Row)
	}
	out := newSyncWriter()
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, master) // ends with EIO once the slave is closed
	}()
	defer func() {
		// Closing the master does not end a read in progress on it; closing
		// the (last) slave does.
		slave.Close()
		<-copied
		master.Close()
	}()
	done := make(chan error, 1)
	go func() { done <- shellCmd(t.Context(), []string{"-socket", sock}, slave, slave, io.Discard) }()
	pos := 0
	wait := func(re string) { _, pos = out.waitFor(t, pos, regexp.MustCompile(re)) }
	wait(`camagent> `)
	if _, err := master.Write([]byte("sta\t\r")); err != nil {
		t.Fatal(err)
	}
	wait(`/dev/video0 running`)
	wait(`camagent> `)
	if _, err := master.Write([]byte("\x04")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("shell: %v", err)
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if *after != *before {
		t.Errorf("terminal settings not restored:\nbefore %+v\nafter  %+v", before, after)
	}
	if regexp.MustCompile(`\x1b\[6n`).MatchString(out.String()) {
		t.Error("the shell asked the terminal for the cursor position")
	}
}

// syncWriter collects output and wakes a reader waiting for text.
type syncWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	change chan struct{}
}

func newSyncWriter() *syncWriter { return &syncWriter{change: make(chan struct{})} }

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	close(w.change)
	w.change = make(chan struct{})
	return len(p), nil
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// waitFor waits until the output holds re (after offset from), and returns
// the first match and the offset after it.
func (w *syncWriter) waitFor(t *testing.T, from int, re *regexp.Regexp) (string, int) {
	t.Helper()
	for {
		w.mu.Lock()
		s, ch := w.b.String(), w.change
		w.mu.Unlock()
		if loc := re.FindStringIndex(s[from:]); loc != nil {
			return s[from+loc[0] : from+loc[1]], from + loc[1]
		}
		select {
		case <-ch:
		case <-t.Context().Done():
			t.Fatalf("output never showed %s:\n%s", re, s)
		}
	}
}
