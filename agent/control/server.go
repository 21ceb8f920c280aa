package control

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrAgentRunning is returned by Server.Run when another process already
// answers on the socket path.
var ErrAgentRunning = errors.New("control: another agent is running")

// Defaults and fixed limits of the server.
const (
	DefaultShutdownTimeout = 5 * time.Second
	DefaultMaxBodyBytes    = 1 << 20

	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 30 * time.Second
	maxHeaderBytes    = 16 << 10
	staleProbeTimeout = time.Second
	linkAttempts      = 3
)

// Route is one entry of the server's route table. Write routes change the
// agent's state and are held to a stricter peer check (see authorize).
type Route struct {
	Method, Path string
	Write        bool
	Handler      http.Handler
}

// ServerConfig configures a Server; zero fields take their defaults.
type ServerConfig struct {
	// Path is the socket's path (default DefaultSocket). Its directory is
	// created if missing.
	Path string
	// Logger should be tagged with the component; nil discards.
	Logger *slog.Logger
	// Routes is the route table; each Method and Path pair may appear once.
	Routes []Route
	// ShutdownTimeout bounds how long Run waits for requests in flight once
	// its context ends (default DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// MaxBodyBytes limits a request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
}

// Server serves the route table on a unix socket. Create it with NewServer and
// call Run once.
type Server struct {
	path            string
	log             *slog.Logger
	routes          []Route
	cfgErr          error
	shutdownTimeout time.Duration
	maxBody         int64
	ownUID          int
	// peer learns a connection's peer; tests swap it for fake credentials.
	peer    func(net.Conn) peerInfo
	ready   chan struct{}
	started atomic.Bool
}

// NewServer returns a server for cfg. Mistakes in the route table are reported
// by Run.
func NewServer(cfg ServerConfig) *Server {
	s := &Server{
		path:            cfg.Path,
		log:             cfg.Logger,
		routes:          slices.Clone(cfg.Routes),
		shutdownTimeout: cfg.ShutdownTimeout,
		maxBody:         cfg.MaxBodyBytes,
		ownUID:          os.Getuid(),
		peer:            readPeer,
		ready:           make(chan struct{}),
	}
	if s.path == "" {
		s.path = DefaultSocket
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = DefaultShutdownTimeout
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	s.cfgErr = checkRoutes(s.routes)
	return s
}

func checkRoutes(routes []Route) error {
	seen := make(map[[2]string]bool, len(routes))
	for _, rt := range routes {
		switch {
		case rt.Method == "" || rt.Path == "" || rt.Path[0] != '/':
			return fmt.Errorf("control: route %q %q: method and an absolute path are required", rt.Method, rt.Path)
		case rt.Handler == nil:
			return fmt.Errorf("control: route %s %s: nil handler", rt.Method, rt.Path)
		case seen[[2]string{rt.Method, rt.Path}]:
			return fmt.Errorf("control: route %s %s: listed twice", rt.Method, rt.Path)
		}
		seen[[2]string{rt.Method, rt.Path}] = true
	}
	return nil
}

// Ready is closed once the socket is in place and accepting connections.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run listens on the socket and serves until ctx ends, then waits up to the
// shutdown timeout for requests in flight, closes what is left, removes the
// socket and returns nil. It returns an error wrapping ErrAgentRunning when
// another process answers on the socket, and other errors when the socket
// cannot be created or serving fails.
func (s *Server) Run(ctx context.Context) error {
	if s.cfgErr != nil {
		return s.cfgErr
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("control: Run called twice")
	}
	ln, sock, err := s.listen(ctx)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext: func(cctx context.Context, c net.Conn) context.Context {
			return context.WithValue(cctx, peerKey{}, s.peer(c))
		},
	}
	s.log.Info("control: listening", "socket", s.path)
	close(s.ready)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("control: shutdown: closing requests still in flight", "err", err)
		_ = srv.Close()
	}
	cancel()
	if serveErr == nil {
		<-errc // http.ErrServerClosed
	}
	s.removeSocket(sock)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("control: serve %s: %w", s.path, serveErr)
	}
	return nil
}

// listen creates the socket without a moment in which anyone else could open
// it: it binds inside a fresh 0700 directory next to the final path, chmods the
// socket to 0600 there, and then hard-links it to the final path. A link never
// replaces an existing file, so when the path exists the existing socket is
// probed first and removed only when nobody answers (stale). A rename would
// have been atomic too, but it silently replaces whatever is at the path,
// including a live agent's socket that appeared after the probe.
func (s *Server) listen(ctx context.Context) (*net.UnixListener, os.FileInfo, error) {
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("control: listen %s: %w", s.path, err)
	}
	tmpDir, err := os.MkdirTemp(dir, "."+filepath.Base(s.path)+"-")
	if err != nil {
		return nil, nil, fmt.Errorf("control: listen %s: %w", s.path, err)
	}
	defer func() {
		if err := os.RemoveAll(tmpDir); err != nil {
			s.log.Warn("control: remove temporary socket directory", "dir", tmpDir, "err", err)
		}
	}()
	tmp := filepath.Join(tmpDir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("control: listen %s: %w", s.path, err)
	}
	ln.SetUnlinkOnClose(false) // the final path is removed by removeSocket
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		_ = ln.Close()
		return nil, nil, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(fmt.Errorf("control: listen %s: %w", s.path, err))
	}
	fi, err := os.Lstat(tmp)
	if err != nil {
		return fail(fmt.Errorf("control: listen %s: %w", s.path, err))
	}
	for attempt := 1; ; attempt++ {
		err := os.Link(tmp, s.path)
		if err == nil {
			return ln, fi, nil
		}
		if !errors.Is(err, fs.ErrExist) || attempt == linkAttempts {
			return fail(fmt.Errorf("control: listen %s: %w", s.path, err))
		}
		if err := s.removeStale(ctx); err != nil {
			return fail(err)
		}
	}
}

// removeStale removes the socket at s.path when no process answers on it.
func (s *Server) removeStale(ctx context.Context) error {
	fi, err := os.Lstat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: check %s: %w", s.path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control: %s exists and is not a socket; remove it or choose another path", s.path)
	}
	d := net.Dialer{Timeout: staleProbeTimeout}
	c, err := d.DialContext(ctx, "unix", s.path)
	if err == nil {
		_ = c.Close()
		return fmt.Errorf("%w: %s answers; stop it first or choose another socket path", ErrAgentRunning, s.path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("control: probe existing socket %s: %w", s.path, err)
	}
	// Remove only the socket that was probed, not one that replaced it since.
	if again, err := os.Lstat(s.path); err != nil || !os.SameFile(fi, again) {
		return nil
	}
	s.log.Info("control: removing stale socket", "socket", s.path)
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control: remove stale socket %s: %w", s.path, err)
	}
	return nil
}

// removeSocket removes the socket at s.path if it is still the one Run made.
func (s *Server) removeSocket(sock os.FileInfo) {
	fi, err := os.Lstat(s.path)
	if err != nil || !os.SameFile(fi, sock) {
		s.log.Warn("control: socket was replaced or removed, leaving it", "socket", s.path)
		return
	}
	if err := os.Remove(s.path); err != nil {
		s.log.Warn("control: remove socket", "socket", s.path, "err", err)
	}
}

// serveHTTP checks the peer, finds the route and limits the body.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	pi, ok := r.Context().Value(peerKey{}).(peerInfo)
	if !ok {
		pi = peerInfo{err: errors.New("connection did not come through the socket")}
	}
	if err := authorize(pi, s.ownUID, false); err != nil {
		s.refuse(w, r, pi, err)
		return
	}
	var rt *Route
	var allow []string
	for i := range s.routes {
		if s.routes[i].Path != r.URL.Path {
			continue
		}
		if s.routes[i].Method == r.Method {
			rt = &s.routes[i]
			break
		}
		allow = append(allow, s.routes[i].Method)
	}
	if rt == nil {
		if len(allow) == 0 {
			WriteError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
			return
		}
		w.Header().Set("Allow", joinMethods(allow))
		WriteError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
		return
	}
	if rt.Write {
		if err := authorize(pi, s.ownUID, true); err != nil {
			s.refuse(w, r, pi, err)
			return
		}
		s.log.Info("control: write request", "method", r.Method, "path", r.URL.Path, peerAttrs(pi))
	} else {
		s.log.Debug("control: request", "method", r.Method, "path", r.URL.Path, peerAttrs(pi))
	}
	if r.ContentLength > s.maxBody {
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than %d bytes", s.maxBody))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	rt.Handler.ServeHTTP(w, r)
}

func (s *Server) refuse(w http.ResponseWriter, r *http.Request, pi peerInfo, err error) {
	s.log.Warn("control: refused", "method", r.Method, "path", r.URL.Path, peerAttrs(pi), "err", err)
	WriteError(w, http.StatusForbidden, err.Error())
}

func joinMethods(m []string) string {
	slices.Sort(m)
	return strings.Join(m, ", ")
}

// peerAttrs names the peer in log lines.
func peerAttrs(pi peerInfo) slog.Attr {
	if pi.err != nil {
		return slog.String("peer", "unknown")
	}
	return slog.Group("peer", "uid", pi.peer.UID, "pid", pi.peer.PID)
}
