package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"testing"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/outputtest"
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
	out := &outputtest.Output{}
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
	wait := func(re string) { _, pos = out.WaitFor(t, pos, regexp.MustCompile(re)) }
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
