package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camagent/camagent/uplink/ingest/protocol"
)

// Admission limits, per GOMAXPROCS (P) unless said otherwise; see Limits.
const (
	DefaultHandshakesPerProc     = 2   // TLS handshakes at once: CPU-bound, so about the cores
	DefaultHandshakeQueuePerProc = 256 // accepted connections waiting for a handshake slot
	DefaultHandshakeWait         = 5 * time.Second
	DefaultHandshakeTimeout      = 10 * time.Second
	DefaultRequestsPerProc       = 4   // manifests, status and read requests in flight
	DefaultUploadsPerProc        = 32  // object bodies (PUT) in flight: network-bound
	DefaultRequestQueuePerProc   = 128 // requests waiting for a slot, per class: cheap (no CPU)
	DefaultRequestWait           = 2 * time.Second
	DefaultConnsPerProc          = 1024 // open connections (memory: ~50 KiB each)
	DefaultMaxRetryHint          = 2 * time.Minute
	minRetryHint                 = time.Second
	defaultServiceTime           = 10 * time.Millisecond // the first estimate of a request's time
)

// Limits is the ingest's admission control: how much work it takes on at
// once. Beyond them it refuses early and cheaply instead of letting every
// handshake and request pile up, share the CPU and time out together (the
// reconnect storm of the incident): a connection over MaxConns is closed
// right after accept, before any TLS work, and while the handshake queue is
// full nothing is accepted (the kernel's backlog holds the rest); a
// request over its class's slots and queue is answered 503 overloaded with
// a Retry-After sized from the queue of cameras already told to come back.
// Zero fields take the defaults (DefaultXxx, scaled by GOMAXPROCS where
// named PerProc). The connection and handshake limits apply only when the
// ingest serves its own listener (Server.Serve).
type Limits struct {
	// MaxHandshakes is how many TLS handshakes run at once;
	// HandshakeQueue how many accepted connections may wait for one, each
	// for at most HandshakeWait; a handshake taking longer than
	// HandshakeTimeout is abandoned.
	MaxHandshakes, HandshakeQueue   int
	HandshakeWait, HandshakeTimeout time.Duration
	// MaxRequests is how many manifest, status and read requests are
	// handled at once (each verifies signatures: CPU); MaxUploads how many
	// object bodies are received at once (network and disk). RequestQueue
	// requests of each class may wait up to RequestWait for a slot.
	// A negative HandshakeQueue or RequestQueue means no queue.
	MaxRequests, MaxUploads, RequestQueue int
	RequestWait                           time.Duration
	// MaxConns bounds the open connections, and so the memory they hold
	// (TLS and HTTP buffers, a goroutine each). Above three quarters of
	// it, a connection whose device has nothing left to send is closed
	// after its answer.
	MaxConns int
	// MaxRetryHint caps the Retry-After of an overloaded answer.
	MaxRetryHint time.Duration
}

// fill returns l with its zero fields set to the defaults for procs cores.
func (l Limits) fill(procs int) Limits {
	procs = max(procs, 1)
	def := func(v *int, per int) {
		if *v <= 0 {
			*v = per * procs
		}
	}
	def(&l.MaxHandshakes, DefaultHandshakesPerProc)
	def(&l.MaxRequests, DefaultRequestsPerProc)
	def(&l.MaxUploads, DefaultUploadsPerProc)
	for _, q := range []struct {
		v   *int
		per int
	}{{&l.HandshakeQueue, DefaultHandshakeQueuePerProc}, {&l.RequestQueue, DefaultRequestQueuePerProc}} {
		if *q.v < 0 { // no queue: refuse as soon as the slots are taken
			*q.v = 0
		} else {
			def(q.v, q.per)
		}
	}
	def(&l.MaxConns, DefaultConnsPerProc)
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	dur(&l.HandshakeWait, DefaultHandshakeWait)
	dur(&l.HandshakeTimeout, DefaultHandshakeTimeout)
	dur(&l.RequestWait, DefaultRequestWait)
	dur(&l.MaxRetryHint, DefaultMaxRetryHint)
	l.MaxRetryHint = max(l.MaxRetryHint, minRetryHint)
	return l
}

// AdmissionStats counts what admission control did.
type AdmissionStats struct {
	// ConnsRefused: connections closed right after accept (MaxConns or the
	// handshake queue full), before any TLS work.
	ConnsRefused uint64 `json:"conns_refused"`
	// HandshakeWaitExpired: connections closed after waiting HandshakeWait
	// for a handshake slot; HandshakeFailed: handshakes that failed or
	// timed out.
	HandshakeWaitExpired uint64 `json:"handshake_wait_expired"`
	HandshakeFailed      uint64 `json:"handshake_failed"`
	// Overloaded: requests answered 503 overloaded.
	Overloaded uint64 `json:"overloaded"`
	// ClosedCrowded: connections closed after their last answer because
	// the ingest was above three quarters of MaxConns.
	ClosedCrowded uint64 `json:"closed_crowded"`
	// ConnsPeak, HandshakesPeak and RequestsPeak are the highest numbers of
	// open connections, handshakes and requests in flight at once.
	ConnsPeak      int64 `json:"conns_peak"`
	HandshakesPeak int64 `json:"handshakes_peak"`
	RequestsPeak   int64 `json:"requests_peak"`
	// CertVerified counts client-certificate chain verifications;
	// CertReused, requests whose connection's verified certificate was
	// used again (once per connection, not per request).
	CertVerified uint64 `json:"cert_verified"`
	CertReused   uint64 `json:"cert_reused"`
}

// admission is the Server's admission state.
type admission struct {
	lim              Limits
	hsSlots          chan struct{}
	hsPending        atomic.Int64 // accepted connections waiting for or in a handshake
	hsActive         atomic.Int64
	conns            atomic.Int64 // open connections of Serve's listener
	verify, uploads  *gate
	st               admCounters
	peakConns, peakH peak
}

type admCounters struct {
	connsRefused, hsExpired, hsFailed, overloaded, closedCrowded, certVerified, certReused atomic.Uint64
}

type peak struct{ v atomic.Int64 }

func (p *peak) note(n int64) {
	for o := p.v.Load(); n > o && !p.v.CompareAndSwap(o, n); o = p.v.Load() {
	}
}

func newAdmission(l Limits) *admission {
	l = l.fill(runtime.GOMAXPROCS(0))
	return &admission{lim: l, hsSlots: make(chan struct{}, l.MaxHandshakes),
		verify:  newGate(l.MaxRequests, l.RequestQueue, l.RequestWait, l.MaxRetryHint),
		uploads: newGate(l.MaxUploads, l.RequestQueue, l.RequestWait, l.MaxRetryHint)}
}

func (a *admission) stats() AdmissionStats {
	return AdmissionStats{ConnsRefused: a.st.connsRefused.Load(), HandshakeWaitExpired: a.st.hsExpired.Load(),
		HandshakeFailed: a.st.hsFailed.Load(), Overloaded: a.st.overloaded.Load(), ClosedCrowded: a.st.closedCrowded.Load(),
		ConnsPeak: a.peakConns.v.Load(), HandshakesPeak: a.peakH.v.Load(),
		RequestsPeak: a.verify.peak.v.Load() + a.uploads.peak.v.Load(),
		CertVerified: a.st.certVerified.Load(), CertReused: a.st.certReused.Load()}
}

// crowded reports whether the open connections are above three quarters
// of MaxConns.
func (a *admission) crowded() bool { return a.conns.Load() > int64(a.lim.MaxConns)*3/4 }

// gate bounds one class of requests: slots in flight, a bounded queue of
// waiters, and the queue of refused requests told when to come back.
type gate struct {
	slots    chan struct{}
	waiting  atomic.Int64
	maxWait  int64
	wait     time.Duration
	maxHint  time.Duration
	inflight atomic.Int64
	peak     peak
	service  atomic.Int64 // moving average of a request's time in its slot, ns

	mu       sync.Mutex
	promised time.Time // when the refused requests told to come back are all served
}

func newGate(slots, queue int, wait, maxHint time.Duration) *gate {
	g := &gate{slots: make(chan struct{}, slots), maxWait: int64(queue), wait: wait, maxHint: maxHint}
	g.service.Store(int64(defaultServiceTime))
	return g
}

// acquire takes a slot, waiting (at most wait, in a queue of at most
// maxWait) while none is free; false: refuse the request.
func (g *gate) acquire(ctx context.Context) bool {
	select {
	case g.slots <- struct{}{}:
		g.peak.note(g.inflight.Add(1))
		return true
	default:
	}
	if g.waiting.Add(1) > g.maxWait {
		g.waiting.Add(-1)
		return false
	}
	defer g.waiting.Add(-1)
	t := time.NewTimer(g.wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		g.peak.note(g.inflight.Add(1))
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// release frees a slot held for took, and folds took into the moving
// average of the service time (weight 1/8).
func (g *gate) release(took time.Duration) {
	g.inflight.Add(-1)
	<-g.slots
	for {
		o := g.service.Load()
		n := o + (int64(took)-o)/8
		if g.service.CompareAndSwap(o, max(n, 1)) {
			return
		}
	}
}

// hint is the Retry-After of a refused request at now: its place at the
// end of the queue of requests already told to come back, at the rate the
// gate serves requests (slots / service time), spread uniformly over
// [1/2, 3/2] of it so that the cameras told at once do not all return
// together, within [1 s, maxHint]. rnd draws the spread.
func (g *gate) hint(now time.Time, rnd func(int64) int64) time.Duration {
	per := time.Duration(g.service.Load()) / time.Duration(cap(g.slots))
	g.mu.Lock()
	if g.promised.Before(now) {
		g.promised = now
	}
	if g.promised.Sub(now) < g.maxHint {
		g.promised = g.promised.Add(max(per, time.Microsecond))
	}
	d := g.promised.Sub(now)
	g.mu.Unlock()
	d = d/2 + time.Duration(rnd(int64(d)+1))
	return min(max(d, minRetryHint), g.maxHint)
}

// admit runs h for r under its class's gate, or answers 503 overloaded.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, h http.Handler) {
	g := s.adm.verify
	if r.Method == http.MethodPut {
		g = s.adm.uploads
	}
	if !g.acquire(r.Context()) {
		s.adm.st.overloaded.Add(1)
		if s.adm.crowded() {
			w.Header().Set("Connection", "close")
		}
		e := refuse(http.StatusServiceUnavailable, protocol.CodeOverloaded, "the ingest is at capacity; retry after the Retry-After delay").
			after(g.hint(s.now(), rand.Int64N))
		s.fail(w, r, "", e)
		s.emit(Event{Op: opOf(r), Code: e.code})
		return
	}
	start := time.Now()
	defer func() { g.release(time.Since(start)) }()
	h.ServeHTTP(w, r)
}

// opOf names the operation of a request for Event.Op.
func opOf(r *http.Request) string {
	switch {
	case r.Method == http.MethodPost:
		return "manifest"
	case r.Method == http.MethodPut:
		return "object"
	case r.Method == http.MethodGet && len(r.URL.Path) > len(protocol.StatusSuffix) &&
		r.URL.Path[len(r.URL.Path)-len(protocol.StatusSuffix):] == protocol.StatusSuffix:
		return "status"
	}
	return "other"
}

// closeIfDone asks the client to close its connection after this answer
// when the ingest is crowded and the device has nothing left to send.
func (s *Server) closeIfDone(w http.ResponseWriter, done bool) {
	if done && s.adm.crowded() {
		s.adm.st.closedCrowded.Add(1)
		w.Header().Set("Connection", "close")
	}
}

// connKey is the context key of a connection's verified certificate.
type connKey struct{}

// connCert is the verified client certificate of one TLS connection: the
// chain is verified once per connection, and again only when the clock
// leaves the window in which every certificate of the chain is valid.
type connCert struct {
	mu          sync.Mutex
	leaf        *x509.Certificate
	id          string
	from, until time.Time
}

func (c *connCert) get(leaf *x509.Certificate, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leaf == nil || c.leaf != leaf || now.Before(c.from) || now.After(c.until) {
		return "", false
	}
	return c.id, true
}

func (c *connCert) set(leaf *x509.Certificate, id string, chain []*x509.Certificate) {
	from, until := leaf.NotBefore, leaf.NotAfter
	for _, x := range chain {
		if x.NotBefore.After(from) {
			from = x.NotBefore
		}
		if x.NotAfter.Before(until) {
			until = x.NotAfter
		}
	}
	c.mu.Lock()
	c.leaf, c.id, c.from, c.until = leaf, id, from, until
	c.mu.Unlock()
}

// ConnContext is an http.Server ConnContext hook: it gives each connection
// a place for its verified client certificate, so that the chain is
// verified once per TLS connection instead of on every request. The cache
// belongs to the connection (the server's own object, never found by
// anything the client sends) and holds only the result of the chain check:
// a device's identity on a manifest still comes only from the manifest's
// verified signature. Server.Serve sets it; set it on servers the ingest
// does not start itself (httptest).
func (s *Server) ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connCert{})
}

// connState counts the connections of Serve's listener (http.Server
// ConnState hook).
func (s *Server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateClosed, http.StateHijacked:
		s.adm.conns.Add(-1)
	}
}

// Serve serves the API on ln with hs, under admission control: it does the
// TLS handshakes itself (with hs.TLSConfig, which is required; see
// TLSConfig), at most Limits.MaxHandshakes at once, closing connections
// over Limits.MaxConns or the handshake queue right after accept, before
// any TLS work. It sets hs.ConnContext and hs.ConnState (calling any the
// caller set) and hs.Handler when nil, and returns what hs.Serve returns;
// stop it with hs.Shutdown or hs.Close.
func (s *Server) Serve(hs *http.Server, ln net.Listener) error {
	if hs.TLSConfig == nil {
		return fmt.Errorf("%w: Serve needs the http.Server's TLSConfig", ErrConfig)
	}
	tc := hs.TLSConfig.Clone()
	if !slices.Contains(tc.NextProtos, "http/1.1") {
		tc.NextProtos = append(tc.NextProtos, "http/1.1")
	}
	if hs.Handler == nil {
		hs.Handler = s.Handler()
	}
	prevState, prevCtx := hs.ConnState, hs.ConnContext
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		s.connState(c, st)
		if prevState != nil {
			prevState(c, st)
		}
	}
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevCtx != nil {
			ctx = prevCtx(ctx, c)
		}
		return s.ConnContext(ctx, c)
	}
	return hs.Serve(newAdmitListener(ln, tc, s.adm))
}

// errTooManyFiles is accept's error when the process is out of file
// descriptors: a pause, not the end of the listener.
var errTooManyFiles = syscall.EMFILE

// admitListener accepts connections, refuses those over the limits, and
// hands out *tls.Conn whose handshake is done (net/http then skips its
// own). Its accept goroutine and handshake goroutines end at Close.
type admitListener struct {
	inner net.Listener
	tls   *tls.Config
	a     *admission
	ready chan net.Conn
	done  chan struct{}
	fail  chan struct{} // closed when the inner listener failed (err)
	freed chan struct{} // a handshake slot or queue place was freed
	err   error
	once  sync.Once
	wg    sync.WaitGroup

	mu    sync.Mutex
	shake map[net.Conn]struct{} // connections in or waiting for a handshake
}

func newAdmitListener(ln net.Listener, tc *tls.Config, a *admission) *admitListener {
	l := &admitListener{inner: ln, tls: tc, a: a, ready: make(chan net.Conn), done: make(chan struct{}),
		fail: make(chan struct{}), freed: make(chan struct{}, 1), shake: map[net.Conn]struct{}{}}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *admitListener) Addr() net.Addr { return l.inner.Addr() }

// Accept returns the next connection whose handshake is done.
func (l *admitListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.fail:
		return nil, l.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close closes the listener and every connection not yet handed out, and
// waits for its goroutines.
func (l *admitListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
		l.mu.Lock()
		for c := range l.shake {
			c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return err
}

func (l *admitListener) acceptLoop() {
	defer l.wg.Done()
	var pause time.Duration
	for {
		// While the handshake queue is full, accept nothing: the
		// connections wait in the kernel's backlog (and beyond it, their
		// SYNs are retried by the clients), which costs this process
		// nothing and spreads a synchronized wave over the clients' dial
		// and handshake timeouts, instead of each being closed at once
		// and coming back together.
		for l.a.hsPending.Load() >= int64(l.a.lim.MaxHandshakes+l.a.lim.HandshakeQueue) {
			select {
			case <-l.freed:
			case <-l.done:
				return
			}
		}
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of file descriptors or a transient error: pause
				// as net/http does, up to a second.
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				t := time.NewTimer(pause)
				select {
				case <-l.done:
					t.Stop()
					return
				case <-t.C:
				}
				continue
			}
			l.err = fmt.Errorf("ingest: accept: %w", err)
			close(l.fail)
			return
		}
		pause = 0
		if !l.admit() {
			c.Close()
			continue
		}
		l.mu.Lock()
		l.shake[c] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go l.handshake(c)
	}
}

// admit counts a new connection, or refuses it when the connections or
// the handshake queue are full.
func (l *admitListener) admit() bool {
	a := l.a
	n := a.conns.Add(1)
	if n > int64(a.lim.MaxConns) {
		a.conns.Add(-1)
		a.st.connsRefused.Add(1)
		return false
	}
	if a.hsPending.Add(1) > int64(a.lim.MaxHandshakes+a.lim.HandshakeQueue) {
		a.hsPending.Add(-1)
		a.conns.Add(-1)
		a.st.connsRefused.Add(1)
		return false
	}
	a.peakConns.note(n)
	return true
}

// unpend frees a place in the handshake queue and wakes the accept loop.
func (l *admitListener) unpend() {
	l.a.hsPending.Add(-1)
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// handshake waits for a handshake slot, does the TLS handshake and hands
// the connection to Accept.
func (l *admitListener) handshake(c net.Conn) {
	defer l.wg.Done()
	a := l.a
	ok := false
	defer func() {
		l.mu.Lock()
		delete(l.shake, c)
		l.mu.Unlock()
		if !ok {
			c.Close()
			a.conns.Add(-1)
		}
	}()
	t := time.NewTimer(a.lim.HandshakeWait)
	select {
	case a.hsSlots <- struct{}{}:
		t.Stop()
	case <-t.C:
		l.unpend()
		a.st.hsExpired.Add(1)
		return
	case <-l.done:
		t.Stop()
		l.unpend()
		return
	}
	a.peakH.note(a.hsActive.Add(1))
	tc := tls.Server(c, l.tls)
	err := c.SetDeadline(time.Now().Add(a.lim.HandshakeTimeout))
	if err == nil {
		err = tc.Handshake()
	}
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	a.hsActive.Add(-1)
	<-a.hsSlots
	l.unpend()
	if err != nil {
		a.st.hsFailed.Add(1)
		return
	}
	select {
	case l.ready <- tc:
		ok = true
	case <-l.done:
	}
}
