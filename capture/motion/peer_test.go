package motion

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/y4m"
)

// The peer is OpenCV's MOG2 (Debian's python3-opencv), run by testdata/mog2.py
// with /usr/bin/python3: the default python3 on the build machines is a
// separate install without Debian's modules.
const peerPython = "/usr/bin/python3"

var peerCheck = sync.OnceValue(func() error {
	if _, err := os.Stat(peerPython); err != nil {
		return err
	}
	out, err := exec.Command(peerPython, "-c", "import cv2, numpy").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
})

// mog2 is a running mog2.py fed frame by frame through a pipe.
type mog2 struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    io.ReadCloser
	w      *y4m.Writer
	stderr bytes.Buffer
	mask   []byte
}

// peerStats is what mog2.py reports at the end.
type peerStats struct {
	Frames        int     `json:"frames"`
	NsPerFrame    float64 `json:"ns_per_frame"`
	CPUNsPerFrame float64 `json:"cpu_ns_per_frame"`
	OpenCV        string  `json:"opencv"`
	Threads       int     `json:"threads"`
}

func startMOG2(tb testing.TB, f capture.Format, cell, gw, gh int) *mog2 {
	tb.Helper()
	if err := peerCheck(); err != nil {
		tb.Skipf("MOG2 peer unavailable (%s with cv2): %v", peerPython, err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "mog2.py"))
	if err != nil {
		tb.Fatal(err)
	}
	m := &mog2{mask: make([]byte, gw*gh)}
	m.cmd = exec.Command(peerPython, script, "-", fmt.Sprint(cell), fmt.Sprint(gw), fmt.Sprint(gh))
	m.cmd.Stderr = &m.stderr
	if m.in, err = m.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	if m.out, err = m.cmd.StdoutPipe(); err != nil {
		tb.Fatal(err)
	}
	if err := m.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	if m.w, err = y4m.NewWriter(m.in, f); err != nil {
		tb.Fatal(err)
	}
	return m
}

// apply sends one frame and reads back its grid mask (valid until the next
// call). The script reads the whole frame before it writes the mask, so the
// lockstep cannot deadlock.
func (m *mog2) apply(tb testing.TB, f *capture.Frame) []byte {
	if err := m.w.WriteFrame(f); err != nil {
		tb.Fatalf("mog2: write: %v (%s)", err, m.stderr.String())
	}
	if _, err := io.ReadFull(m.out, m.mask); err != nil {
		tb.Fatalf("mog2: read mask: %v (%s)", err, m.stderr.String())
	}
	return m.mask
}

func (m *mog2) finish(tb testing.TB) peerStats {
	m.in.Close()
	if err := m.cmd.Wait(); err != nil {
		tb.Fatalf("mog2: %v (%s)", err, m.stderr.String())
	}
	var st peerStats
	if err := json.Unmarshal(m.stderr.Bytes(), &st); err != nil {
		tb.Fatalf("mog2: report %q: %v", m.stderr.String(), err)
	}
	return st
}
