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
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Errors a Client's callers can tell apart with errors.Is.
var (
	// ErrNoAgent means nothing listens on the socket.
	ErrNoAgent = errors.New("camagent: no agent listening")
	// ErrPermission means the caller may not open the socket, or the agent
	// refused the caller (HTTP 403).
	ErrPermission = errors.New("camagent: permission denied")
)

// MaxResponseBytes limits the answer a Client reads.
const MaxResponseBytes = 8 << 20

// Client talks to a running agent over its control socket. The zero value uses
// DefaultSocket. Each call opens its own connection and closes it before
// returning, so a Client starts no goroutines and is safe for concurrent use.
type Client struct {
	// Socket is the socket path (default DefaultSocket).
	Socket string
	// Dial opens the connection; nil dials Socket with a net.Dialer. addr is
	// the socket path.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// APIError is an answer other than 2xx from the agent.
type APIError struct {
	Method, Path string
	StatusCode   int
	// Message is the agent's {"error": ...} text.
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("camagent: %s %s: agent answered %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Is makes a 403 answer match ErrPermission.
func (e *APIError) Is(target error) bool {
	return target == ErrPermission && e.StatusCode == http.StatusForbidden
}

// clientError carries a message that says what to do next, the sentinel that
// classifies it, and the underlying cause.
type clientError struct {
	msg         string
	kind, cause error
}

func (e *clientError) Error() string   { return e.msg }
func (e *clientError) Unwrap() []error { return []error{e.kind, e.cause} }

func (c *Client) socket() string {
	if c.Socket == "" {
		return DefaultSocket
	}
	return c.Socket
}

// Status asks for the agent's Status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.Get(ctx, PathStatus, &st)
	return st, err
}

// Logs asks for the agent's last n log lines, oldest first; n <= 0 asks for the
// agent's default.
func (c *Client) Logs(ctx context.Context, n int) ([]string, error) {
	path := PathLogs
	if n > 0 {
		path += "?" + url.Values{"n": {strconv.Itoa(n)}}.Encode()
	}
	var lr LogsResponse
	err := c.Get(ctx, path, &lr)
	return lr.Lines, err
}

// Get sends GET path and decodes the JSON answer into out (nil discards it).
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// Post sends in as JSON to path and decodes the JSON answer into out (nil
// discards it). A nil in sends no body.
func (c *Client) Post(ctx context.Context, path string, in, out any) error {
	return c.do(ctx, http.MethodPost, path, in, out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	fail := func(op string, err error) error {
		if cerr := context.Cause(ctx); cerr != nil {
			err = cerr
		}
		return fmt.Errorf("camagent: %s %s: %s: %w", method, path, op, err)
	}
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fail("encode request", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://camagent"+path, body)
	if err != nil {
		return fail("build request", err)
	}
	req.Close = true
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	conn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// A cancelled ctx unblocks the reads and writes below.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	bw := bufio.NewWriter(conn)
	if err := req.Write(bw); err != nil {
		return fail("send", err)
	}
	if err := bw.Flush(); err != nil {
		return fail("send", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return fail("read answer", err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxResponseBytes {
		return fail("read answer", fmt.Errorf("answer is larger than %d bytes", MaxResponseBytes))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return fail("read answer", err)
	}
	if len(data) > MaxResponseBytes {
		return fail("read answer", fmt.Errorf("answer is larger than %d bytes", MaxResponseBytes))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &APIError{Method: method, Path: path, StatusCode: resp.StatusCode, Message: errorMessage(data)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fail("decode answer", err)
	}
	return nil
}

// errorMessage extracts the message of an error answer.
func errorMessage(data []byte) string {
	var er ErrorResponse
	if json.Unmarshal(data, &er) == nil && er.Error != "" {
		return er.Error
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(no message)"
	}
	return s
}

// dial connects to the socket and turns the usual failures into advice.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	sock := c.socket()
	dial := c.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "unix", sock)
	switch {
	case err == nil:
		return conn, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil, &clientError{
			msg:  fmt.Sprintf("camagent: no agent listening on %s (is `camagent run` running? set -socket)", sock),
			kind: ErrNoAgent, cause: err,
		}
	case errors.Is(err, fs.ErrPermission):
		return nil, &clientError{
			msg:  fmt.Sprintf("camagent: permission denied on %s (run as root, e.g. with sudo, or as the agent's user)", sock),
			kind: ErrPermission, cause: err,
		}
	default:
		return nil, fmt.Errorf("camagent: connect %s: %w", sock, err)
	}
}
