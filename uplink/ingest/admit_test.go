package ingest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/upload"
)

// blockingOwners holds the owner lookup of one device until release is
// closed, announcing on entered that it holds it.
type blockingOwners struct {
	inner   ingest.Owners
	device  string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (b *blockingOwners) Owner(ctx context.Context, id string) (ingest.Pairing, error) {
	if id == b.device {
		b.once.Do(func() { close(b.entered) })
		<-b.release
	}
	return b.inner.Owner(ctx, id)
}

// TestOverloadedAnswersRetryAfter: when every request slot is taken (and
// there is no queue), the ingest answers at once 503 overloaded with a
// Retry-After, before any verification; the camera's client sees a busy
// cloud, and the request goes through once a slot is free.
func TestOverloadedAnswersRetryAfter(t *testing.T) {
	bo := &blockingOwners{entered: make(chan struct{}), release: make(chan struct{})}
	env := ingesttest.Start(t, ingesttest.Options{Limits: ingest.Limits{MaxRequests: 1, RequestQueue: -1},
		WrapOwners: func(o ingest.Owners) ingest.Owners { bo.inner = o; return bo }})
	a, b := env.NewDevice(t, "ann"), env.NewDevice(t, "bob")
	bo.device = a.ID
	coseA, _ := a.Next(t, ingesttest.Thumb([]byte("a thumbnail")))
	coseB, _ := b.Next(t, ingesttest.Thumb([]byte("b thumbnail")))
	ca, cb := uploadClient(t, env, a), uploadClient(t, env, b)

	errA := make(chan error, 1)
	go func() { _, err := ca.PostManifest(context.Background(), coseA); errA <- err }()
	<-bo.entered // a holds the only slot, in its owner lookup

	_, err := cb.PostManifest(context.Background(), coseB)
	var re *upload.RefusedError
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Code != protocol.CodeOverloaded {
		t.Fatalf("post while full: %v, want 503 overloaded", err)
	}
	if !re.HasRetryAfter || re.RetryAfter < time.Second || re.RetryAfter > ingest.DefaultMaxRetryHint {
		t.Errorf("Retry-After %v (present %v), want within [1s, %v]", re.RetryAfter, re.HasRetryAfter, ingest.DefaultMaxRetryHint)
	}
	if upload.Classify(err) != upload.Transient {
		t.Errorf("overloaded classified %v, want Transient (retry the same item)", upload.Classify(err))
	}
	st := env.Ingest.Stats()
	if st.Admission.Overloaded != 1 || st.Refused[protocol.CodeOverloaded] != 1 || st.Admission.CertVerified != 1 {
		t.Errorf("stats: %+v refused %v; want 1 overloaded, and only a's certificate checked (b refused before)", st.Admission, st.Refused)
	}

	close(bo.release)
	if err := <-errA; err != nil {
		t.Fatalf("a: %v", err)
	}
	if _, err := cb.PostManifest(context.Background(), coseB); err != nil {
		t.Fatalf("b after a slot is free: %v", err)
	}
}

// TestCertVerifiedOncePerConnection: the client certificate's chain is
// verified once per TLS connection; later requests on it reuse the result
// while the chain is valid at the ingest's clock, and not beyond (an
// expired certificate is refused on a connection that was fine before).
// Another connection is verified on its own, and the device of each
// manifest is still its signer.
func TestCertVerifiedOncePerConnection(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	env := ingesttest.Start(t, ingesttest.Options{Now: clock})
	a, b := env.NewDevice(t, "ann"), env.NewDevice(t, "bob")
	ca, cb := uploadClient(t, env, a), uploadClient(t, env, b)
	for range 3 {
		cose, _ := a.Next(t, ingesttest.Thumb([]byte("a")))
		ans, err := ca.PostManifest(context.Background(), cose)
		if err != nil || ans.Device != a.ID {
			t.Fatalf("a: %+v %v", ans, err)
		}
	}
	if st := env.Ingest.Stats().Admission; st.CertVerified != 1 || st.CertReused != 2 {
		t.Errorf("three requests on one connection: %d verified, %d reused; want 1 and 2", st.CertVerified, st.CertReused)
	}
	cose, _ := b.Next(t, ingesttest.Thumb([]byte("b")))
	if ans, err := cb.PostManifest(context.Background(), cose); err != nil || ans.Device != b.ID {
		t.Fatalf("b on its own connection: %+v %v", ans, err)
	}
	if st := env.Ingest.Stats().Admission; st.CertVerified != 2 {
		t.Errorf("a second connection: %d verified, want 2", st.CertVerified)
	}

	leaf, err := x509.ParseCertificate(a.Cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = leaf.NotAfter.Add(time.Minute)
	mu.Unlock()
	cose, _ = a.Next(t, ingesttest.Thumb([]byte("a late")))
	_, err = ca.PostManifest(context.Background(), cose)
	var re *upload.RefusedError
	if !errors.As(err, &re) || re.Code != protocol.CodeCertExpired {
		t.Errorf("after the certificate expired, on the same connection: %v, want cert-expired", err)
	}
}

// TestServeRefusesConnectionsBeforeTheHandshake: through Serve, a
// connection over MaxConns is closed right after accept, before any TLS
// work; the connections already open keep working.
func TestServeRefusesConnectionsBeforeTheHandshake(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{Limits: ingest.Limits{MaxConns: 2}})
	cert, err := env.CA.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{TLSConfig: ingest.TLSConfig(cert), ReadHeaderTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- env.Ingest.Serve(hs, ln) }()
	t.Cleanup(func() {
		hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	url := "https://" + ln.Addr().String()
	client := func(d *ingesttest.Device) *upload.Client {
		tr := &http.Transport{TLSClientConfig: d.TLS(env.Roots()), MaxIdleConnsPerHost: 1}
		t.Cleanup(tr.CloseIdleConnections)
		c, err := upload.NewClient(upload.ClientConfig{URL: url, Transport: tr})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	devs := []*ingesttest.Device{env.NewDevice(t, "ann"), env.NewDevice(t, "bob"), env.NewDevice(t, "cy")}
	var clients []*upload.Client
	for _, d := range devs[:2] { // two connections, kept open (idle)
		c := client(d)
		clients = append(clients, c)
		cose, _ := d.Next(t, ingesttest.Thumb([]byte(d.ID)))
		if _, err := c.PostManifest(context.Background(), cose); err != nil {
			t.Fatalf("%s: %v", d.ID, err)
		}
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), devs[2].TLS(env.Roots()))
	if err == nil {
		conn.Close()
		t.Fatal("a third connection completed its handshake over MaxConns 2")
	}
	st := env.Ingest.Stats().Admission
	if st.ConnsRefused != 1 || st.ConnsPeak != 2 || st.HandshakeFailed != 0 {
		t.Errorf("admission %+v: want 1 connection refused, a peak of 2, no failed handshake", st)
	}
	cose, _ := devs[0].Next(t, ingesttest.Thumb([]byte("again")))
	if _, err := clients[0].PostManifest(context.Background(), cose); err != nil {
		t.Errorf("an open connection after the refusal: %v", err)
	}
	if st := env.Ingest.Stats().Admission; st.CertVerified != 2 || st.CertReused != 1 {
		t.Errorf("certificates: %d verified, %d reused; want 2 and 1 (once per connection)", st.CertVerified, st.CertReused)
	}
}
