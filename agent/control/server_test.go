package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sockPath returns a socket path in a fresh short directory: sun_path holds
// only 108 bytes, which t.TempDir() can exceed.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "a.sock")
}

// testServer is a Server running in the background.
type testServer struct {
	*Server
	path   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// stop cancels Run and returns its result; it may be called again.
func (ts *testServer) stop() error {
	ts.once.Do(func() {
		ts.cancel()
		ts.err = <-ts.done
	})
	return ts.err
}

// startServer runs a server on cfg.Path (or a fresh path) until the test
// ends; setup may adjust the server before it starts.
func startServer(t *testing.T, cfg ServerConfig, setup func(*Server)) *testServer {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = sockPath(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s := NewServer(cfg)
	if setup != nil {
		setup(s)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ts := &testServer{Server: s, path: cfg.Path, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-ts.done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

// tWriter sends log output to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var testStatus = Status{
	Version:       "1.2.3",
	Started:       time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
	UptimeSeconds: 3723.5,
	ConfigPath:    "/etc/camagent.toml",
	ConfigHash:    "sha256:0123456789abcdef0123",
	ConfigLoaded:  time.Date(2026, 3, 1, 10, 0, 1, 0, time.UTC),
	Parts: []PartStatus{
		{Name: "capture", State: PartRunning, Since: time.Date(2026, 3, 1, 10, 0, 2, 0, time.UTC)},
		{Name: "uplink", State: PartBackoff, Restarts: 3, LastError: "uplink: dial: connection refused"},
	},
	Capture: CaptureStatus{
		Device: "/dev/video0", State: "running", Format: "YUYV", Width: 640, Height: 480, Stride: 1280,
		FPS: 14.93, NegotiatedFPS: 15, Frames: 55123, Dropped: 7, BadFrames: 1,
		Queues: []QueueStatus{{Name: "motion", Delivered: 55000, Dropped: 123}},
	},
	Storage: StorageStatus{Mount: "/mnt/sd", State: "ok", FreeBytes: 3 << 30, TotalBytes: 8 << 30},
}

var testLines = []string{"line 1", "line 2", "line 3"}

func lastLines(n int) []string { return testLines[max(0, len(testLines)-n):] }

func statusFunc(context.Context) (Status, error) { return testStatus, nil }

func TestStatusAndLogsOverSocket(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, ServerConfig{Routes: []Route{StatusRoute(statusFunc), LogsRoute(lastLines)}}, nil)

	fi, err := os.Lstat(ts.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
	if ents, _ := os.ReadDir(filepath.Dir(ts.path)); len(ents) != 1 {
		t.Errorf("socket directory holds %d entries, want only the socket", len(ents))
	}

	c := &Client{Socket: ts.path}
	st, err := c.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(testStatus)
	got, _ := json.Marshal(st)
	if !bytes.Equal(got, want) {
		t.Errorf("Status = %s\nwant %s", got, want)
	}

	for _, tc := range []struct {
		n    int
		want []string
	}{
		{0, testLines}, {2, testLines[1:]}, {1, testLines[2:]}, {100, testLines},
	} {
		lines, err := c.Logs(t.Context(), tc.n)
		if err != nil {
			t.Fatalf("Logs(%d): %v", tc.n, err)
		}
		if !slices.Equal(lines, tc.want) {
			t.Errorf("Logs(%d) = %q, want %q", tc.n, lines, tc.want)
		}
	}

	if err := ts.stop(); err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	if _, err := os.Lstat(ts.path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still present after Run returned: %v", err)
	}
	if _, err := c.Status(t.Context()); !errors.Is(err, ErrNoAgent) {
		t.Errorf("Status after stop = %v, want ErrNoAgent", err)
	}
}

func TestStatusJSONNames(t *testing.T) {
	b, err := json.Marshal(testStatus)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "started", "uptime_s", "config_path", "config_hash", "config_loaded", "parts", "capture", "storage"} {
		if _, ok := m[k]; !ok {
			t.Errorf("status JSON lacks %q: %s", k, b)
		}
	}
	capture := m["capture"].(map[string]any)
	for _, k := range []string{"device", "state", "format", "width", "height", "stride", "fps", "negotiated_fps", "frames", "dropped", "bad_frames", "queues"} {
		if _, ok := capture[k]; !ok {
			t.Errorf("capture JSON lacks %q", k)
		}
	}
	part := m["parts"].([]any)[1].(map[string]any)
	for _, k := range []string{"name", "state", "since", "restarts", "last_error"} {
		if _, ok := part[k]; !ok {
			t.Errorf("part JSON lacks %q", k)
		}
	}
	storage := m["storage"].(map[string]any)
	for _, k := range []string{"mount", "state", "free_bytes", "total_bytes"} {
		if _, ok := storage[k]; !ok {
			t.Errorf("storage JSON lacks %q", k)
		}
	}
}

// roundTrip sends one raw request over the socket.
func roundTrip(t *testing.T, sock string, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req.Close = true
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// echoRoute is a write route that decodes a JSON object and answers it back.
func echoRoute() Route {
	return Route{Method: http.MethodPost, Path: "/v1/echo", Write: true, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if !ReadJSON(w, r, &in) {
			return
		}
		WriteJSON(w, http.StatusOK, in)
	})}
}

// chunked hides a reader's length so that the request is sent chunked.
type chunked struct{ io.Reader }

func TestRouting(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, ServerConfig{
		MaxBodyBytes: 64,
		Routes:       []Route{StatusRoute(statusFunc), LogsRoute(lastLines), echoRoute()},
	}, nil)
	big := `{"k":"` + strings.Repeat("x", 100) + `"}`
	for _, tc := range []struct {
		name, method, path string
		body               io.Reader
		code               int
		allow              string
	}{
		{"status", "GET", "/v1/status", nil, 200, ""},
		{"unknown path", "GET", "/v1/nope", nil, 404, ""},
		{"root", "GET", "/", nil, 404, ""},
		{"wrong method", "POST", "/v1/status", nil, 405, "GET"},
		{"wrong method on write route", "GET", "/v1/echo", nil, 405, "POST"},
		{"bad n", "GET", "/v1/logs?n=abc", nil, 400, ""},
		{"zero n", "GET", "/v1/logs?n=0", nil, 400, ""},
		{"echo", "POST", "/v1/echo", strings.NewReader(`{"a":"b"}`), 200, ""},
		{"unknown field type", "POST", "/v1/echo", strings.NewReader(`{"a":1}`), 400, ""},
		{"trailing data", "POST", "/v1/echo", strings.NewReader(`{"a":"b"} {}`), 400, ""},
		{"body over limit", "POST", "/v1/echo", strings.NewReader(big), 413, ""},
		{"chunked body over limit", "POST", "/v1/echo", chunked{strings.NewReader(big)}, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://camagent"+tc.path, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, body := roundTrip(t, ts.path, req)
			if resp.StatusCode != tc.code {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tc.code, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if tc.code >= 400 {
				var er ErrorResponse
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&er); err != nil || er.Error == "" {
					t.Errorf("error body %s is not {\"error\":...}: %v", body, err)
				}
			}
		})
	}
}

func TestClientSeesAPIErrors(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, ServerConfig{Routes: []Route{StatusRoute(statusFunc)}}, nil)
	c := &Client{Socket: ts.path}
	err := c.Get(t.Context(), "/v1/nope", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 404 || !strings.Contains(ae.Message, "/v1/nope") {
		t.Fatalf("Get /v1/nope = %v, want a 404 APIError naming the path", err)
	}
	if errors.Is(err, ErrPermission) {
		t.Error("404 matches ErrPermission")
	}
	err = c.Post(t.Context(), PathStatus, map[string]int{"x": 1}, nil)
	if !errors.As(err, &ae) || ae.StatusCode != 405 {
		t.Fatalf("Post status = %v, want 405", err)
	}
}

func TestPeerRefused(t *testing.T) {
	unsupported := peerInfo{err: fmt.Errorf("control: peer credentials: %w", errors.ErrUnsupported)}
	for _, tc := range []struct {
		name            string
		peer            peerInfo
		readOK, writeOK bool
	}{
		{"other uid", peerInfo{peer: Peer{UID: 4242, PID: 1}}, false, false},
		{"root", peerInfo{peer: Peer{UID: 0, PID: 1}}, true, true},
		{"same uid", peerInfo{peer: Peer{UID: os.Getuid(), PID: 1}}, true, true},
		{"unsupported platform", unsupported, true, false},
		{"lookup failed", peerInfo{err: errors.New("getsockopt: bad file descriptor")}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			ts := startServer(t, ServerConfig{Routes: []Route{StatusRoute(statusFunc), echoRoute()}}, func(s *Server) {
				s.peer = func(net.Conn) peerInfo { return tc.peer }
			})
			c := &Client{Socket: ts.path}
			check := func(op string, err error, ok bool) {
				t.Helper()
				if ok {
					if err != nil {
						t.Errorf("%s: %v, want success", op, err)
					}
					return
				}
				var ae *APIError
				if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || !errors.Is(err, ErrPermission) {
					t.Errorf("%s: %v, want 403 matching ErrPermission", op, err)
				}
			}
			_, err := c.Status(t.Context())
			check("read", err, tc.readOK)
			check("write", c.Post(t.Context(), "/v1/echo", map[string]string{"a": "b"}, nil), tc.writeOK)
			// An unknown path is refused before it is looked up.
			if !tc.readOK {
				var ae *APIError
				if err := c.Get(t.Context(), "/v1/nope", nil); !errors.As(err, &ae) || ae.StatusCode != 403 {
					t.Errorf("unknown path for a refused peer: %v, want 403", err)
				}
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	const own = 1000
	unsupported := peerInfo{err: fmt.Errorf("x: %w", errors.ErrUnsupported)}
	failed := peerInfo{err: errors.New("getsockopt failed")}
	for _, tc := range []struct {
		name  string
		peer  peerInfo
		write bool
		ok    bool
	}{
		{"root read", peerInfo{peer: Peer{UID: 0}}, false, true},
		{"root write", peerInfo{peer: Peer{UID: 0}}, true, true},
		{"own uid read", peerInfo{peer: Peer{UID: own}}, false, true},
		{"own uid write", peerInfo{peer: Peer{UID: own}}, true, true},
		{"other uid read", peerInfo{peer: Peer{UID: 1001}}, false, false},
		{"other uid write", peerInfo{peer: Peer{UID: 1001}}, true, false},
		{"nobody read", peerInfo{peer: Peer{UID: 65534}}, false, false},
		{"unsupported read", unsupported, false, true},
		{"unsupported write", unsupported, true, false},
		{"failed read", failed, false, false},
		{"failed write", failed, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := authorize(tc.peer, own, tc.write)
			if (err == nil) != tc.ok {
				t.Fatalf("authorize = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, errPeerRefused) {
				t.Errorf("error %v does not wrap errPeerRefused", err)
			}
		})
	}
}

func TestRealPeerCredentials(t *testing.T) {
	checkGoroutines(t)
	type answer struct {
		Peer Peer
		OK   bool
	}
	who := Route{Method: "GET", Path: "/v1/whoami", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PeerFromContext(r.Context())
		WriteJSON(w, 200, answer{p, ok})
	})}
	ts := startServer(t, ServerConfig{Routes: []Route{who}}, nil)
	var got answer
	err := (&Client{Socket: ts.path}).Get(t.Context(), "/v1/whoami", &got)
	if runtime.GOOS != "linux" {
		if err != nil || got.OK {
			t.Fatalf("without peer credentials: %+v, %v; want ok=false and no error", got, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	want := answer{Peer{UID: os.Getuid(), GID: os.Getgid(), PID: os.Getpid()}, true}
	if got != want {
		t.Errorf("peer = %+v, want %+v", got, want)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	checkGoroutines(t)
	path := sockPath(t)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // leaves the socket file behind, as a crashed agent does
	stale, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}

	ts := startServer(t, ServerConfig{Path: path, Routes: []Route{StatusRoute(statusFunc)}}, nil)
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(fi, stale) || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket not replaced (same file %v, mode %v)", os.SameFile(fi, stale), fi.Mode())
	}
	if _, err := (&Client{Socket: path}).Status(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestSecondServerRefused(t *testing.T) {
	checkGoroutines(t)
	first := startServer(t, ServerConfig{Routes: []Route{StatusRoute(statusFunc)}}, nil)
	second := NewServer(ServerConfig{Path: first.path, Routes: []Route{StatusRoute(statusFunc)}})
	err := second.Run(t.Context())
	if !errors.Is(err, ErrAgentRunning) {
		t.Fatalf("second Run = %v, want ErrAgentRunning", err)
	}
	if !strings.Contains(err.Error(), first.path) {
		t.Errorf("error %q does not name the socket", err)
	}
	ents, err := os.ReadDir(filepath.Dir(first.path))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != filepath.Base(first.path) {
		t.Errorf("directory holds %v, want only the first socket", ents)
	}
	if _, err := (&Client{Socket: first.path}).Status(t.Context()); err != nil {
		t.Errorf("first server after the second was refused: %v", err)
	}
}

func TestPathNotASocket(t *testing.T) {
	path := sockPath(t)
	if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := NewServer(ServerConfig{Path: path}).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("Run = %v, want a not-a-socket error", err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "keep me" {
		t.Errorf("file at the socket path was changed: %q, %v", b, err)
	}
}

func TestSocketPathTooLong(t *testing.T) {
	path := filepath.Join(sockPath(t)+strings.Repeat("d", 120), "a.sock")
	if err := NewServer(ServerConfig{Path: path}).Run(t.Context()); err == nil {
		t.Fatal("Run with a 130-byte path succeeded")
	}
}

func TestBadRoutes(t *testing.T) {
	h := http.NotFoundHandler()
	for _, tc := range []struct {
		name   string
		routes []Route
	}{
		{"no method", []Route{{Path: "/x", Handler: h}}},
		{"no path", []Route{{Method: "GET", Handler: h}}},
		{"relative path", []Route{{Method: "GET", Path: "x", Handler: h}}},
		{"nil handler", []Route{{Method: "GET", Path: "/x"}}},
		{"duplicate", []Route{{Method: "GET", Path: "/x", Handler: h}, {Method: "GET", Path: "/x", Handler: h, Write: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := sockPath(t)
			if err := NewServer(ServerConfig{Path: path, Routes: tc.routes}).Run(t.Context()); err == nil {
				t.Fatal("Run accepted a bad route table")
			}
			if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("socket created despite a bad route table: %v", err)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, ServerConfig{}, nil)
	if err := ts.Run(t.Context()); err == nil {
		t.Fatal("second Run on the same Server succeeded")
	}
}

func TestShutdownClosesStuckRequests(t *testing.T) {
	checkGoroutines(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	stuck := Route{Method: "GET", Path: "/v1/stuck", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release // ignores its context, as a buggy handler would
	})}
	ts := startServer(t, ServerConfig{Routes: []Route{stuck}, ShutdownTimeout: time.Millisecond}, nil)
	defer close(release)
	clientErr := make(chan error, 1)
	go func() { clientErr <- (&Client{Socket: ts.path}).Get(t.Context(), "/v1/stuck", nil) }()
	<-entered
	if err := ts.stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := <-clientErr; err == nil {
		t.Error("request cut by shutdown reported success")
	}
	if _, err := os.Lstat(ts.path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestSocketReplacedWhileRunningIsLeft(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, ServerConfig{}, nil)
	if err := os.Remove(ts.path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ts.path, []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(ts.path); err != nil || string(b) != "other" {
		t.Errorf("Run removed a file it did not create: %q, %v", b, err)
	}
}

func TestParseLogCount(t *testing.T) {
	for _, tc := range logCountCases {
		n, err := parseLogCount(tc.q)
		if (err == nil) != tc.ok || (tc.ok && n != tc.n) {
			t.Errorf("parseLogCount(%q) = %d, %v; want %d ok=%v", tc.q, n, err, tc.n, tc.ok)
		}
	}
}

var logCountCases = []struct {
	q  string
	n  int
	ok bool
}{
	{"", DefaultLogLines, true},
	{"1", 1, true},
	{"250", 250, true},
	{fmt.Sprint(MaxLogLines), MaxLogLines, true},
	{fmt.Sprint(MaxLogLines + 1), MaxLogLines, true},
	{"99999999999999999999999", 0, false},
	{"0", 0, false},
	{"-5", 0, false},
	{"abc", 0, false},
	{"1e3", 0, false},
	{" 5", 0, false},
}

func FuzzParseLogCount(f *testing.F) {
	for _, tc := range logCountCases {
		f.Add(tc.q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		n, err := parseLogCount(q)
		if err == nil && (n < 1 || n > MaxLogLines) {
			t.Fatalf("parseLogCount(%q) = %d outside [1, %d]", q, n, MaxLogLines)
		}
	})
}
