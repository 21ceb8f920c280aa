package control

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestClientDialErrors(t *testing.T) {
	const sock = "/run/test.sock"
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "unix", Err: &os.SyscallError{Syscall: "connect", Err: errno}}
	}
	for _, tc := range []struct {
		name    string
		err     error
		kind    error
		message string
	}{
		{"missing socket", opErr(syscall.ENOENT), ErrNoAgent, "camagent: no agent listening on /run/test.sock (is `camagent run` running? set -socket)"},
		{"stale socket", opErr(syscall.ECONNREFUSED), ErrNoAgent, "camagent: no agent listening on /run/test.sock (is `camagent run` running? set -socket)"},
		{"not root", opErr(syscall.EACCES), ErrPermission, "camagent: permission denied on /run/test.sock (run as root, e.g. with sudo, or as the agent's user)"},
		{"not permitted", opErr(syscall.EPERM), ErrPermission, "camagent: permission denied on /run/test.sock (run as root, e.g. with sudo, or as the agent's user)"},
		{"other", opErr(syscall.EAGAIN), nil, "camagent: connect /run/test.sock: dial unix: connect: resource temporarily unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{Socket: sock, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if network != "unix" || addr != sock {
					t.Errorf("Dial(%q, %q)", network, addr)
				}
				return nil, tc.err
			}}
			_, err := c.Status(t.Context())
			if err == nil || err.Error() != tc.message {
				t.Fatalf("error = %v\nwant    %s", err, tc.message)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error does not match %v", tc.kind)
			}
			if !errors.Is(err, tc.err.(*net.OpError).Err.(*os.SyscallError).Err) {
				t.Errorf("error does not wrap its cause")
			}
		})
	}
}

func TestClientNoAgentOnRealPath(t *testing.T) {
	path := sockPath(t)
	_, err := (&Client{Socket: path}).Status(t.Context())
	want := fmt.Sprintf("camagent: no agent listening on %s (is `camagent run` running? set -socket)", path)
	if !errors.Is(err, ErrNoAgent) || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	if got := (&Client{}).socket(); got != DefaultSocket {
		t.Errorf("default socket = %q", got)
	}
}

// pipeAgent answers one request on an in-memory connection with raw bytes.
func pipeAgent(t *testing.T, answer []byte) *Client {
	t.Helper()
	return &Client{Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		agent, client := net.Pipe()
		done := make(chan struct{})
		t.Cleanup(func() { agent.Close(); <-done })
		go func() {
			defer close(done)
			defer agent.Close()
			if _, err := http.ReadRequest(bufio.NewReader(agent)); err != nil {
				return
			}
			_, _ = agent.Write(answer)
		}()
		return client, nil
	}}
}

func TestClientAnswers(t *testing.T) {
	for _, tc := range clientAnswerCases {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			st, err := pipeAgent(t, []byte(tc.answer)).Status(t.Context())
			if (err == nil) != (tc.want == "") {
				t.Fatalf("Status = %+v, %v; want error %q", st, err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

var clientAnswerCases = []struct{ name, answer, want string }{
	{"ok", "HTTP/1.1 200 OK\r\nContent-Length: 19\r\n\r\n{\"version\":\"1.0.0\"}", ""},
	{"json error", "HTTP/1.1 403 Forbidden\r\nContent-Length: 17\r\n\r\n{\"error\":\"nope\"}\n", "agent answered 403 Forbidden: nope"},
	{"plain error", "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 4\r\n\r\noops", "agent answered 502 Bad Gateway: oops"},
	{"empty error", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", "(no message)"},
	{"bad json", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{]", "decode answer"},
	{"wrong type", "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"version\":123}", "decode answer"},
	{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", "read answer"},
	{"garbage", "SSH-2.0-OpenSSH\r\n", "read answer"},
	{"nothing", "", "read answer"},
	{"too large", fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", MaxResponseBytes+1), "larger than"},
}

func TestClientTooLargeAnswer(t *testing.T) {
	body := `{"version":"` + strings.Repeat("x", MaxResponseBytes) + `"}`
	answer := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_, err := pipeAgent(t, []byte(answer)).Status(t.Context())
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Status = %v, want a too-large error", err)
	}
}

func FuzzClientAnswer(f *testing.F) {
	for _, tc := range clientAnswerCases {
		if len(tc.answer) < 1<<10 {
			f.Add([]byte(tc.answer))
		}
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		c := pipeAgent(t, answer)
		var out map[string]any
		err := c.Get(t.Context(), PathStatus, &out)
		var ae *APIError
		if errors.As(err, &ae) && (ae.StatusCode >= 200 && ae.StatusCode <= 299 || ae.Message == "") {
			t.Fatalf("APIError %+v for a success or without a message", ae)
		}
	})
}

func TestClientCancel(t *testing.T) {
	checkGoroutines(t)
	entered := make(chan struct{})
	hold := Route{Method: "GET", Path: "/v1/hold", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-r.Context().Done() // ends when the client hangs up
	})}
	ts := startServer(t, ServerConfig{Routes: []Route{hold}}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- (&Client{Socket: ts.path}).Get(ctx, "/v1/hold", nil) }()
	<-entered
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get after cancel = %v, want context.Canceled", err)
	}
}

func TestClientPostRoundTrip(t *testing.T) {
	checkGoroutines(t)
	ts := startServer(t, ServerConfig{Routes: []Route{echoRoute()}}, nil)
	var out map[string]string
	if err := (&Client{Socket: ts.path}).Post(t.Context(), "/v1/echo", map[string]string{"k": "v"}, &out); err != nil {
		t.Fatal(err)
	}
	if out["k"] != "v" {
		t.Errorf("echo = %v", out)
	}
	err := (&Client{Socket: ts.path}).Post(t.Context(), "/v1/echo", func() {}, nil)
	if err == nil || !strings.Contains(err.Error(), "encode request") {
		t.Errorf("Post of a func = %v, want an encode error", err)
	}
}

// serveRaw feeds one raw request to the server's handler with peer pi.
func serveRaw(s *Server, pi peerInfo, raw []byte) (*http.Response, error) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(string(raw))))
	if err != nil {
		return nil, err
	}
	req = req.WithContext(context.WithValue(req.Context(), peerKey{}, pi))
	rec := newRecorder()
	s.serveHTTP(rec, req)
	return rec.result(), nil
}

// recorder is a minimal http.ResponseWriter for the fuzzer.
type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func newRecorder() *recorder             { return &recorder{header: http.Header{}} }
func (r *recorder) Header() http.Header  { return r.header }
func (r *recorder) WriteHeader(code int) { r.code = code }
func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(p)
}
func (r *recorder) result() *http.Response {
	return &http.Response{StatusCode: r.code, Header: r.header, Body: io.NopCloser(strings.NewReader(r.body.String()))}
}

func FuzzServeRequest(f *testing.F) {
	for _, raw := range []string{
		"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /v1/logs?n=2 HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /v1/logs?n=-1 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/status HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"a\":\"b\"}",
		"POST /v1/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n4\r\n\"b\"}\r\n0\r\n\r\n",
		"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		f.Add([]byte(raw), uint8(0))
		f.Add([]byte(raw), uint8(1))
	}
	s := NewServer(ServerConfig{MaxBodyBytes: 64, Routes: []Route{StatusRoute(statusFunc), LogsRoute(lastLines), echoRoute()}})
	peers := []peerInfo{{peer: Peer{UID: 0}}, {peer: Peer{UID: 4242}}, {err: errors.ErrUnsupported}}
	f.Fuzz(func(t *testing.T, raw []byte, who uint8) {
		pi := peers[int(who)%len(peers)]
		resp, err := serveRaw(s, pi, raw)
		if err != nil {
			return // net/http refused to parse it; the server never sees it
		}
		switch resp.StatusCode {
		case 200, 400, 403, 404, 405, 413:
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
		if resp.StatusCode == 200 && authorize(pi, s.ownUID, false) != nil {
			t.Fatalf("refused peer %+v got 200", pi)
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			if msg := errorMessage(b); !strings.HasPrefix(string(b), `{"error":`) || msg == "" {
				t.Fatalf("error body %q", b)
			}
		}
	})
}

func BenchmarkStatusRoundTrip(b *testing.B) {
	dir, err := os.MkdirTemp("", "cs")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s := NewServer(ServerConfig{Path: dir + "/a.sock", Routes: []Route{StatusRoute(statusFunc)}})
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	select {
	case <-s.Ready():
	case err := <-done:
		b.Fatal(err)
	}
	c := &Client{Socket: dir + "/a.sock"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Status(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
