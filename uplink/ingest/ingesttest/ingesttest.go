package ingesttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/manifest"
)

// Options tune Start. Zero fields take defaults.
type Options struct {
	// WrapOwners, if set, wraps the registry as the ingest's owner lookup
	// (e.g. with a FaultyOwners).
	WrapOwners func(ingest.Owners) ingest.Owners
	// Now is the ingest's clock.
	Now            func() time.Time
	Observe        func(ingest.Event)
	MaxObjectSize  uint64
	LookupAttempts int
	Logger         *slog.Logger
	// Root is the data directory; default a new temporary one.
	Root string
	// Wrap, if set, wraps the ingest's handler (to inject failures).
	Wrap func(http.Handler) http.Handler
	// Sync keeps the ingest's fsyncs (off by default: tests and benchmarks
	// use throwaway directories).
	Sync bool
	// Limits is the ingest's admission control (request limits only: the
	// httptest server does its own handshakes).
	Limits ingest.Limits
	// CertPerRequest verifies the client certificate on every request, as
	// the ingest did before it kept the result per connection (the
	// benchmarks' comparison).
	CertPerRequest bool
}

// Env is a running ingest.
type Env struct {
	CA       *devca.CA
	Ingest   *ingest.Server
	HTTP     *httptest.Server
	URL      string
	Registry *Registry
	Owners   ingest.Owners // what the ingest uses
	Root     string
}

// Start runs an ingest on a loopback TLS server with the ingest's TLS
// configuration; it stops when the test ends.
func Start(t testing.TB, opt Options) *Env {
	t.Helper()
	ca, err := devca.New("ingesttest CA", opt.Now)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	var owners ingest.Owners = reg
	if opt.WrapOwners != nil {
		owners = opt.WrapOwners(reg)
	}
	root := opt.Root
	if root == "" {
		root = TempDir(t)
	}
	srv, err := ingest.New(ingest.Config{Root: root, ClientCAs: ca.Pool(), Owners: owners, Accounts: reg,
		Logger: opt.Logger, Now: opt.Now, Observe: opt.Observe, MaxObjectSize: opt.MaxObjectSize,
		LookupAttempts: opt.LookupAttempts, NoSync: !opt.Sync, Limits: opt.Limits})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.ServerCertificate([]string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = srv.Handler()
	if opt.Wrap != nil {
		h = opt.Wrap(h)
	}
	hs := httptest.NewUnstartedServer(h)
	hs.TLS = ingest.TLSConfig(cert)
	if !opt.CertPerRequest {
		hs.Config.ConnContext = srv.ConnContext
	}
	hs.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected in tests
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return &Env{CA: ca, Ingest: srv, HTTP: hs, URL: hs.URL, Registry: reg, Owners: owners, Root: root}
}

// TempDir returns a new directory removed when the test ends: in /dev/shm
// when that is a writable RAM disk (the ingest creates several files per
// item, and on some virtual disks file creation costs milliseconds), else
// t.TempDir().
func TempDir(t testing.TB) string {
	t.Helper()
	if dir, err := os.MkdirTemp("/dev/shm", "ingesttest-"); err == nil {
		t.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return t.TempDir()
}

// Roots is the pool a device trusts the ingest with.
func (e *Env) Roots() *x509.CertPool { return e.CA.Pool() }

// NewDevice makes a camera with a certificate from the env's CA, paired to
// owner (unpaired when owner is "").
func (e *Env) NewDevice(t testing.TB, owner string) *Device {
	t.Helper()
	d := NewDevice(t, e.CA, owner)
	if owner != "" {
		e.Registry.Pair(d.ID, owner)
	}
	return d
}

// Device is a simulated camera.
type Device struct {
	Key   *ecdsa.PrivateKey
	ID    string
	Cert  tls.Certificate
	Owner string

	mu   sync.Mutex
	seq  uint64
	prev [32]byte
}

// NewDevice makes a camera with a key and a certificate issued by ca.
func NewDevice(t testing.TB, ca *devca.CA, owner string) *Device {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.DeviceID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	d := &Device{Key: key, ID: id, Owner: owner}
	if ca != nil {
		from := ca.Certificate().NotBefore
		cert, err := ca.IssueDevice(key.Public(), from, from.Add(365*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		d.Cert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	}
	return d
}

// TLS returns the device's client TLS configuration trusting roots.
func (d *Device) TLS(roots *x509.CertPool) *tls.Config {
	cert := d.Cert
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
}

// Blob is an object to put in a manifest.
type Blob struct {
	Role, MediaType string
	Data            []byte
}

// Clip and Thumb make the usual two objects.
func Clip(data []byte) Blob { return Blob{Role: manifest.RoleClip, MediaType: "video/mp4", Data: data} }
func Thumb(data []byte) Blob {
	return Blob{Role: manifest.RoleThumbnail, MediaType: "image/jpeg", Data: data}
}

// Next signs the device's next manifest (sequence number and chain link
// advanced) over blobs.
func (d *Device) Next(t testing.TB, blobs ...Blob) ([]byte, manifest.Manifest) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	m := d.Manifest(d.seq, d.prev, blobs...)
	cose := d.Sign(t, m)
	d.prev = manifest.Hash(cose)
	return cose, m
}

// NextObjects signs the device's next manifest over objects whose entries
// (size, SHA-256) are already known.
func (d *Device) NextObjects(t testing.TB, objects ...manifest.Object) ([]byte, manifest.Manifest) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	m := d.Manifest(d.seq, d.prev)
	m.Objects = objects
	cose := d.Sign(t, m)
	d.prev = manifest.Hash(cose)
	return cose, m
}

// Manifest builds (does not sign) a manifest of the device.
func (d *Device) Manifest(seq uint64, prev [32]byte, blobs ...Blob) manifest.Manifest {
	start := int64(1_750_000_000_000) + int64(seq)*10_000
	m := manifest.Manifest{Owner: d.Owner, Seq: seq, BootID: "boot-ingesttest", StartMS: start, EndMS: start + 9_000,
		ClockTrusted: true, Prev: prev, Motion: manifest.Motion{PeakPPM: 1000, Boxes: 1, StartMS: start, EndMS: start + 5_000}}
	for _, b := range blobs {
		m.Objects = append(m.Objects, manifest.Object{Role: b.Role, MediaType: b.MediaType, Size: uint64(len(b.Data)),
			SHA256: sha256.Sum256(b.Data)})
	}
	return m
}

// Sign signs m with the device key.
func (d *Device) Sign(t testing.TB, m manifest.Manifest) []byte {
	t.Helper()
	cose, err := manifest.Sign(m, d.Key)
	if err != nil {
		t.Fatal(err)
	}
	return cose
}

// Registry is an in-memory owner lookup and viewer-token table. Safe for
// concurrent use.
type Registry struct {
	mu     sync.RWMutex
	pairs  map[string]string // device -> account
	tokens map[string]string // token -> account
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{pairs: map[string]string{}, tokens: map[string]string{}}
}

// Pair pairs a device to an account.
func (r *Registry) Pair(device, account string) {
	r.mu.Lock()
	r.pairs[device] = account
	r.mu.Unlock()
}

// Viewer makes a new token for account.
func (r *Registry) Viewer(account string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	r.mu.Lock()
	r.tokens[tok] = account
	r.mu.Unlock()
	return tok
}

// Owner implements ingest.Owners.
func (r *Registry) Owner(_ context.Context, device string) (ingest.Pairing, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.pairs[device]
	if !ok {
		return ingest.Pairing{}, fmt.Errorf("ingesttest: %s: %w", device, ingest.ErrNotPaired)
	}
	return ingest.Pairing{Device: device, Account: a}, nil
}

// Account implements ingest.Accounts.
func (r *Registry) Account(token string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.tokens[token]
	return a, ok
}

// FaultyOwners is the overloaded cache of the incident. Under load, one
// answer in Shared passes through a single shared response slot, so a
// concurrent request can overwrite it and the caller picks up an answer
// about another device; and every Every-th answer is a recent one about
// another device outright, so mix-ups happen even without contention. It
// counts each wrong answer it hands out. Zero Shared or Every disables that
// fault.
type FaultyOwners struct {
	Inner  ingest.Owners
	Shared uint64
	Every  uint64

	mu     sync.Mutex
	slot   ingest.Pairing
	recent [16]ingest.Pairing
	n      int
	calls  atomic.Uint64
	faults atomic.Uint64
}

// Owner implements ingest.Owners, badly.
func (f *FaultyOwners) Owner(ctx context.Context, device string) (ingest.Pairing, error) {
	p, err := f.Inner.Owner(ctx, device)
	if err != nil {
		return p, err
	}
	k := f.calls.Add(1)
	f.mu.Lock()
	f.recent[f.n%len(f.recent)] = p
	f.n++
	f.mu.Unlock()
	got := p
	if f.Shared > 0 && k%f.Shared == 0 {
		f.mu.Lock()
		f.slot = p
		f.mu.Unlock()
		runtime.Gosched() // the window in which another request overwrites the slot
		f.mu.Lock()
		got = f.slot
		f.mu.Unlock()
	}
	if f.Every > 0 && k%f.Every == 0 && got.Device == device {
		f.mu.Lock()
		for _, r := range f.recent {
			if r.Device != "" && r.Device != device {
				got = r
				break
			}
		}
		f.mu.Unlock()
	}
	if got.Device != device {
		f.faults.Add(1)
	}
	return got, nil
}

// Faults returns how many answers were about another device than asked.
func (f *FaultyOwners) Faults() uint64 { return f.faults.Load() }

// Calls returns how many lookups were made.
func (f *FaultyOwners) Calls() uint64 { return f.calls.Load() }
