package ingest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/protocol"
)

// Owners is the device-to-owner lookup. In a real cloud it is a database
// behind a cache, which is exactly what failed in the incident ARCHITECTURE.md
// describes; the ingest therefore cross-checks every answer (see the package
// doc). Implementations must be safe for concurrent use.
type Owners interface {
	// Owner returns the pairing of deviceID, or an error wrapping
	// ErrNotPaired when the device is paired to no account.
	Owner(ctx context.Context, deviceID string) (Pairing, error)
}

// Pairing is one answer of the owner lookup. Device names the device the
// answer is about: an answer whose Device is not the one asked for is a
// mixed-up lookup.
type Pairing struct {
	Device  string
	Account string
}

// Accounts maps a viewer's bearer token to its account. Implementations must
// be safe for concurrent use and compare tokens without leaking them.
type Accounts interface {
	// Account returns the account of token, and false for an unknown token.
	Account(token string) (string, bool)
}

// Errors; test them with errors.Is.
var (
	// ErrNotPaired is what Owners returns (wrapped) for an unpaired device.
	ErrNotPaired = errors.New("ingest: device not paired")
	// ErrConfig: a bad Config.
	ErrConfig = errors.New("ingest: bad config")
)

// Defaults.
const (
	DefaultMaxObjectSize   = 1 << 30   // bytes of one object
	DefaultQuarantineBytes = 256 << 20 // bytes kept in quarantine
	DefaultLookupAttempts  = 3         // owner lookups per request before giving up
	maxToken               = 256       // bytes of a bearer token
	maxListLimit           = protocol.MaxListItems
	defaultListLimit       = 100
)

// Config configures a Server. Zero fields take their defaults.
type Config struct {
	// Root is the data directory (store/, staging/, quarantine/ under it).
	Root string
	// ClientCAs verifies device certificates.
	ClientCAs *x509.CertPool
	// Owners is the device-to-owner lookup (required).
	Owners Owners
	// Accounts maps viewer tokens to accounts; nil disables the read API.
	Accounts Accounts
	Logger   *slog.Logger     // default: discard
	Now      func() time.Time // default time.Now; certificate validity is checked at this clock
	// MaxObjectSize is the largest object a manifest may declare.
	MaxObjectSize uint64
	// QuarantineBytes bounds what the quarantine keeps; refusals beyond it
	// are still answered and counted, their bytes are not kept.
	QuarantineBytes int64
	// LookupAttempts is how many times the owner lookup is asked before a
	// request is answered lookup-inconsistent.
	LookupAttempts int
	// Observe, if set, is told of every request once it is answered (for
	// metrics and tests). It must not block.
	Observe func(Event)
	// StagingMaxAge is how long a partial object may go unwritten before
	// Run removes it from staging (default DefaultStagingMaxAge); SweepEvery
	// is how often Run looks (default DefaultSweepEvery).
	StagingMaxAge, SweepEvery time.Duration
	// Limits is the admission control (see Limits); zero fields take
	// defaults derived from GOMAXPROCS.
	Limits Limits
	// NoSync skips every fsync: only for tests and benchmarks on a
	// throwaway directory. A power cut then loses accepted data.
	NoSync bool
}

// Event is one answered request.
type Event struct {
	Op       string // "manifest", "object", "status", "list", "item", "other"
	Identity string // TLS identity or viewer account, when known
	Code     string // "" when the request succeeded, else the error code
	Seq      uint64 // manifest sequence number (manifest, item)
	SHA256   string // object (object, status)
	Bytes    int64  // body bytes received (object) or sent (item)
	Complete bool   // the object or item is now complete
}

// Server is the ingest. Its Handler serves the API; it is safe for
// concurrent use.
type Server struct {
	disk
	root, storeDir, stagingDir string
	cas                        *x509.CertPool
	owners                     Owners
	accounts                   Accounts
	log                        *slog.Logger
	now                        func() time.Time
	maxObject                  uint64
	attempts                   int
	observe                    func(Event)
	stagingMaxAge, sweepEvery  time.Duration
	quar                       *quarantine
	mux                        *http.ServeMux
	adm                        *admission

	mu      sync.Mutex
	devices map[string]*device

	st      counters
	refMu   sync.Mutex
	refused map[string]uint64
}

type counters struct {
	accepted, replays, gaps, filled, objects, bytesIn, bytesStored atomic.Uint64
	linked, swept                                                  atomic.Uint64
	listed, served, bytesOut, mixups, lookupErrors                 atomic.Uint64
}

// Stats are the ingest's counters since New.
type Stats struct {
	ManifestsAccepted uint64 `json:"manifests_accepted"`
	Replays           uint64 `json:"replays"`
	Gaps              uint64 `json:"gaps"`
	GapsFilled        uint64 `json:"gaps_filled"` // late manifests the chain vouched for
	ObjectsStored     uint64 `json:"objects_stored"`
	BytesReceived     uint64 `json:"bytes_received"` // object bytes appended to staging
	BytesStored       uint64 `json:"bytes_stored"`   // bytes of accepted objects
	// ObjectsLinked counts objects a manifest named that were already stored
	// for the device: linked into the new item, not received again.
	ObjectsLinked uint64 `json:"objects_linked"`
	// StagingSwept counts abandoned partial objects removed from staging.
	StagingSwept  uint64 `json:"staging_swept"`
	ItemsListed   uint64 `json:"items_listed"`
	ObjectsServed uint64 `json:"objects_served"`
	BytesServed   uint64 `json:"bytes_served"`
	// LookupMixups counts owner-lookup answers about another device than
	// the one asked for: each one detected and not used.
	LookupMixups uint64 `json:"lookup_mixups"`
	// LookupErrors counts owner lookups that failed (other than not paired).
	LookupErrors      uint64            `json:"lookup_errors"`
	Refused           map[string]uint64 `json:"refused"` // by error code
	Quarantined       uint64            `json:"quarantined"`
	QuarantineDropped uint64            `json:"quarantine_dropped"`
	// Admission is what admission control refused, and the peaks.
	Admission AdmissionStats `json:"admission"`
}

// New opens (creating if needed) the ingest's data directory.
func New(cfg Config) (*Server, error) {
	if cfg.Root == "" || cfg.ClientCAs == nil || cfg.Owners == nil {
		return nil, fmt.Errorf("%w: Root, ClientCAs and Owners are required", ErrConfig)
	}
	s := &Server{root: cfg.Root, storeDir: filepath.Join(cfg.Root, "store", "devices"),
		stagingDir: filepath.Join(cfg.Root, "staging"), cas: cfg.ClientCAs, owners: cfg.Owners,
		accounts: cfg.Accounts, log: cfg.Logger, now: cfg.Now, maxObject: cfg.MaxObjectSize,
		attempts: cfg.LookupAttempts, observe: cfg.Observe, devices: map[string]*device{},
		refused: map[string]uint64{}, disk: disk{noSync: cfg.NoSync}, adm: newAdmission(cfg.Limits)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxObject == 0 {
		s.maxObject = DefaultMaxObjectSize
	}
	if s.maxObject > protocol.MaxOffset {
		s.maxObject = protocol.MaxOffset
	}
	s.stagingMaxAge, s.sweepEvery = cfg.StagingMaxAge, cfg.SweepEvery
	if s.stagingMaxAge <= 0 {
		s.stagingMaxAge = DefaultStagingMaxAge
	}
	if s.sweepEvery <= 0 {
		s.sweepEvery = DefaultSweepEvery
	}
	if s.attempts <= 0 {
		s.attempts = DefaultLookupAttempts
	}
	qb := cfg.QuarantineBytes
	if qb == 0 {
		qb = DefaultQuarantineBytes
	}
	for _, d := range []string{s.storeDir, s.stagingDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("ingest: new: %w", err)
		}
	}
	q, err := openQuarantine(s.disk, filepath.Join(cfg.Root, "quarantine"), qb, s.now, s.log)
	if err != nil {
		return nil, err
	}
	s.quar = q
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST "+protocol.PathManifests, s.postManifest)
	s.mux.HandleFunc("PUT "+protocol.PathObjectPrefix+"{sha}", s.putObject)
	s.mux.HandleFunc("GET "+protocol.PathObjectPrefix+"{sha}"+protocol.StatusSuffix, s.objectStatus)
	s.mux.HandleFunc("GET /v1/devices/{device}/items", s.listItems)
	s.mux.HandleFunc("GET /v1/items/{device}/{seq}/{role}", s.getItem)
	s.mux.HandleFunc("/", s.notFound)
	return s, nil
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// serve refuses paths that are not in their clean, unescaped form (which
// the mux would otherwise redirect), then routes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p == "" || p[0] != '/' || path.Clean(p) != p || r.URL.RawPath != "" {
		s.fail(w, r, "", refuse(http.StatusBadRequest, protocol.CodeBadRequest, "path is not in clean form"))
		s.emit(Event{Op: "other", Code: protocol.CodeBadRequest})
		return
	}
	s.admit(w, r, s.mux)
}

// TLSConfig returns a server TLS configuration for the ingest: cert as the
// server certificate, TLS 1.2 or later, and client certificates requested
// but verified by the handler (see the package doc).
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
		MinVersion:   tls.VersionTLS12,
	}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.refMu.Lock()
	refused := maps.Clone(s.refused)
	s.refMu.Unlock()
	qn, qd := s.quar.counts()
	return Stats{ManifestsAccepted: s.st.accepted.Load(), Replays: s.st.replays.Load(), Gaps: s.st.gaps.Load(),
		GapsFilled: s.st.filled.Load(), ObjectsStored: s.st.objects.Load(), BytesReceived: s.st.bytesIn.Load(),
		BytesStored: s.st.bytesStored.Load(), ObjectsLinked: s.st.linked.Load(), StagingSwept: s.st.swept.Load(), ItemsListed: s.st.listed.Load(), ObjectsServed: s.st.served.Load(),
		BytesServed: s.st.bytesOut.Load(), LookupMixups: s.st.mixups.Load(), LookupErrors: s.st.lookupErrors.Load(),
		Refused: refused, Quarantined: qn, QuarantineDropped: qd, Admission: s.adm.stats()}
}

// refusal is an answered error: status, code and text.
type refusal struct {
	status int
	code   string
	msg    string
	offset *uint64
	retry  time.Duration // Retry-After, 0 for none
}

func (e *refusal) Error() string { return e.code + ": " + e.msg }

func refuse(status int, code, format string, args ...any) *refusal {
	return &refusal{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (e *refusal) at(offset uint64) *refusal { e.offset = &offset; return e }

func (e *refusal) after(d time.Duration) *refusal { e.retry = d; return e }

// fail answers a refusal, counts it and logs it.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, who string, e *refusal) {
	s.refMu.Lock()
	s.refused[e.code]++
	s.refMu.Unlock()
	lvl := slog.LevelWarn
	if e.status >= 500 && e.code != protocol.CodeLookupFailed {
		lvl = slog.LevelError
	}
	switch e.code {
	case protocol.CodeOverloaded:
		lvl = slog.LevelDebug // counted in Stats; one line each would flood the log in a storm
	case protocol.CodeBusy, protocol.CodeOffsetMismatch, protocol.CodeTruncated, protocol.CodeNotFound:
		lvl = slog.LevelInfo
	}
	s.log.Log(r.Context(), lvl, "refused", "code", e.code, "identity", who, "method", r.Method,
		"path", truncate(r.URL.Path, 160), "remote", r.RemoteAddr, "err", e.msg)
	if e.retry > 0 {
		w.Header().Set(protocol.HeaderRetryAfter, strconv.Itoa(int((e.retry+time.Second-1)/time.Second)))
	}
	if e.offset != nil {
		w.Header().Set(protocol.HeaderOffset, strconv.FormatUint(*e.offset, 10))
	}
	writeJSON(w, e.status, protocol.ErrorAnswer{Error: e.msg, Code: e.code, Offset: e.offset})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // the answer types always encode
		b = []byte(`{"error":"encode answer","code":"internal"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", protocol.ContentJSON)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) emit(ev Event) {
	if s.observe != nil {
		s.observe(ev)
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, "", refuse(http.StatusNotFound, protocol.CodeNotFound, "no such API path"))
	s.emit(Event{Op: "other", Code: protocol.CodeNotFound})
}

// tlsIdentity verifies the request's client certificate and returns its
// device ID. The chain is verified once per connection (ConnContext): a
// later request on the same connection, with the same certificate, within
// the chain's validity at the ingest's clock, reuses the result.
func (s *Server) tlsIdentity(r *http.Request) (string, *refusal) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", refuse(http.StatusUnauthorized, protocol.CodeNoClientCert, "a device client certificate is required")
	}
	leaf := r.TLS.PeerCertificates[0]
	now := s.now()
	cc, _ := r.Context().Value(connKey{}).(*connCert)
	if cc != nil {
		if id, ok := cc.get(leaf, now); ok {
			s.adm.st.certReused.Add(1)
			return id, nil
		}
	}
	s.adm.st.certVerified.Add(1)
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: s.cas, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		code := protocol.CodeCertInvalid
		var inv x509.CertificateInvalidError
		var ua x509.UnknownAuthorityError
		switch {
		case errors.As(err, &inv) && inv.Reason == x509.Expired:
			code = protocol.CodeCertExpired
		case errors.As(err, &ua):
			code = protocol.CodeCertUntrusted
		}
		e := refuse(http.StatusUnauthorized, code, "client certificate %.64q: %v", leaf.Subject.CommonName, err)
		s.quar.keep(r, "", e, leaf.Raw)
		return "", e
	}
	id, err := identity.CertDeviceID(leaf)
	if err != nil {
		e := refuse(http.StatusUnauthorized, protocol.CodeCertIdentity, "%v", err)
		s.quar.keep(r, "", e, leaf.Raw)
		return "", e
	}
	if cc != nil && len(chains) > 0 {
		cc.set(leaf, id, chains[0])
	}
	return id, nil
}

// pairing asks the owner lookup about device and checks that the answer is
// about that device, asking again (up to the configured attempts) when it
// is not. Each answer about another device is counted and logged.
func (s *Server) pairing(ctx context.Context, device string) (Pairing, *refusal) {
	for range s.attempts {
		p, err := s.owners.Owner(ctx, device)
		switch {
		case errors.Is(err, ErrNotPaired):
			return Pairing{}, refuse(http.StatusForbidden, protocol.CodeUnpaired, "device %s is not paired to an account", device)
		case err != nil:
			s.st.lookupErrors.Add(1)
			return Pairing{}, refuse(http.StatusServiceUnavailable, protocol.CodeLookupFailed, "owner lookup for %s: %v", device, err).after(time.Second)
		case p.Device != device:
			s.st.mixups.Add(1)
			s.log.Warn("owner lookup answered for another device; not used", "asked", device, "answered", truncate(p.Device, 64))
			continue
		}
		return p, nil
	}
	return Pairing{}, refuse(http.StatusServiceUnavailable, protocol.CodeLookupFailed,
		"owner lookup for %s answered for other devices %d times", device, s.attempts).after(time.Second)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
