package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/control"
)

var ctlStatusFixture = control.Status{
	Version:       "1.2.3",
	Started:       time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
	UptimeSeconds: 3723.4,
	ConfigPath:    "/etc/camagent.toml",
	ConfigHash:    "sha256:0123456789abcdef0123456789abcdef",
	ConfigLoaded:  time.Date(2026, 3, 1, 10, 0, 1, 0, time.UTC),
	Parts: []control.PartStatus{
		{Name: "capture", State: control.PartRunning, Since: time.Date(2026, 3, 1, 10, 0, 2, 0, time.UTC)},
		{Name: "uplink", State: control.PartBackoff, Restarts: 3, LastError: "uplink: dial: connection refused\x1b[2J"},
	},
	Capture: control.CaptureStatus{
		Device: "/dev/video0", State: "running", Format: "YUYV", Width: 640, Height: 480, Stride: 1280,
		FPS: 14.93, NegotiatedFPS: 15, Frames: 55123, Dropped: 7, BadFrames: 1,
		Queues: []control.QueueStatus{{Name: "motion", Delivered: 55000, Dropped: 123}},
	},
	Storage: control.StorageStatus{Mount: "/mnt/sd", State: "ok", FreeBytes: 3 << 30, TotalBytes: 8 << 30},
	Motion:  &control.MotionStatus{ScorePercent: 60, Threshold: 12},
}

var ctlLogLines = []string{"first", "second", "third\x07"}

// startAgent serves the fixture on a fresh socket until the test ends.
func startAgent(t *testing.T, routes ...control.Route) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ct") // short: sun_path holds 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "a.sock")
	if len(routes) == 0 {
		routes = []control.Route{
			control.StatusRoute(func(context.Context) (control.Status, error) { return ctlStatusFixture, nil }),
			control.LogsRoute(func(n int) []string { return ctlLogLines[max(0, len(ctlLogLines)-n):] }),
		}
	}
	s := control.NewServer(control.ServerConfig{Path: path, Routes: routes})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return path
}

func TestCtlStatusText(t *testing.T) {
	sock := startAgent(t)
	var out, errOut bytes.Buffer
	if err := ctlCmd(t.Context(), []string{"-socket", sock, "status"}, &out, &errOut); err != nil {
		t.Fatalf("ctl status: %v (stderr %q)", err, errOut.String())
	}
	got := out.String()
	t.Logf("output:\n%s", got)
	for _, want := range []string{
		"camagent 1.2.3, up 1h2m3s (since 2026-03-01 10:00:00 UTC)",
		"/etc/camagent.toml (sha256:0123456789ab, loaded 2026-03-01 10:00:01 UTC)",
		"PART", "RESTARTS", "LAST ERROR",
		"capture  running  0         2026-03-01 10:00:02 UTC  -",
		"uplink   backoff  3         -                        uplink: dial: connection refused?[2J",
		"/dev/video0 running",
		"YUYV 640x480 stride 1280",
		"14.93 measured, 15.00 negotiated",
		"55123 captured, 7 dropped, 1 bad",
		"queue motion  55000 delivered, 123 dropped",
		"/mnt/sd ok, 3.0 GiB free of 8.0 GiB",
		// One scale (issue 15): percent of the picture, as the shell, the
		// log and the manifests show it, not 0.6000.
		"score 60.0%, noise 0.0, luma threshold 12.0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(got, "\x1b") || strings.Contains(got, "0123456789abcdef0123") {
		t.Error("output holds a terminal escape or the full hash")
	}
}

func TestCtlStatusJSON(t *testing.T) {
	sock := startAgent(t)
	for _, args := range [][]string{
		{"-socket", sock, "-json", "status"},
		{"-socket", sock, "status", "-json"},
	} {
		var out bytes.Buffer
		if err := ctlCmd(t.Context(), args, &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var st control.Status
		if err := json.Unmarshal(out.Bytes(), &st); err != nil {
			t.Fatalf("%v: output is not Status JSON: %v\n%s", args, err, out.Bytes())
		}
		if !reflect.DeepEqual(st, ctlStatusFixture) {
			t.Errorf("%v: decoded %+v, want the fixture", args, st)
		}
		if !bytes.Contains(out.Bytes(), []byte("\n  \"version\": \"1.2.3\"")) {
			t.Errorf("%v: JSON is not indented:\n%s", args, out.Bytes())
		}
	}
}

func TestCtlLogs(t *testing.T) {
	sock := startAgent(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"logs"}, "first\nsecond\nthird?\n"},
		{[]string{"logs", "-n", "2"}, "second\nthird?\n"},
		{[]string{"-json", "logs", "-n", "1"}, "{\n  \"lines\": [\n    \"third\\u0007\"\n  ]\n}\n"},
	} {
		var out bytes.Buffer
		if err := ctlCmd(t.Context(), append([]string{"-socket", sock}, tc.args...), &out, &bytes.Buffer{}); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if out.String() != tc.want {
			t.Errorf("%v: output %q, want %q", tc.args, out.String(), tc.want)
		}
	}
}

func TestCtlErrors(t *testing.T) {
	dir, err := os.MkdirTemp("", "ct")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	missing := filepath.Join(dir, "none.sock")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{}, "missing command (commands: status, logs, clips, uploads, events, control)"},
		{"unknown command", []string{"reboot"}, `unknown command "reboot" (commands: status, logs, clips, uploads, events, control)`},
		{"no agent", []string{"-socket", missing, "status"}, "camagent: no agent listening on " + missing + " (is `camagent run` running? set -socket)"},
		{"bad n", []string{"-socket", missing, "logs", "-n", "0"}, "-n 0: want at least 1"},
		{"extra argument", []string{"-socket", missing, "status", "now"}, `unexpected argument "now"`},
		{"bad flag", []string{"-frobnicate"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := ctlCmd(t.Context(), tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q on error", out.String())
			}
		})
	}
	var errOut bytes.Buffer
	if err := ctlCmd(t.Context(), []string{"-h"}, &bytes.Buffer{}, &errOut); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(errOut.String(), "logs [-n N]") {
		t.Errorf("usage lacks the commands:\n%s", errOut.String())
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{3 << 30, "3.0 GiB"}, {1 << 60, "1.0 EiB"}, {^uint64(0), "16.0 EiB"},
	} {
		if got := control.ByteSize(tc.n); got != tc.want {
			t.Errorf("control.ByteSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// TestCtlClipsEvents: ctl clips names the events each clip shows, the IDs
// the shell's events command lists (issue 15's second defect).
func TestCtlClipsEvents(t *testing.T) {
	clips := control.ClipsResponse{Clips: []control.Clip{
		{Name: "2026/05/14/100000-e5", State: "sealed", Size: 1 << 20, Frames: 40, Events: []uint64{5, 6}},
		{Name: "2026/05/14/100100-e7", State: "recording"},
	}}
	sock := startAgent(t, control.Route{Method: "GET", Path: control.PathClips, Handler: http.HandlerFunc(
		func(w http.ResponseWriter, _ *http.Request) { control.WriteJSON(w, http.StatusOK, clips) })})
	var out, errb bytes.Buffer
	if err := ctlCmd(t.Context(), []string{"-socket", sock, "clips"}, &out, &errb); err != nil {
		t.Fatalf("ctl clips: %v %s", err, errb.String())
	}
	for _, re := range []string{`(?m)^CLIP .* EVENTS$`, `(?m)^2026/05/14/100000-e5 .* 5,6$`, `(?m)^2026/05/14/100100-e7 .* -$`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output does not match %s:\n%s", re, out.String())
		}
	}
}
