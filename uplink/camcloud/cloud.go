package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/ingest/protocol"
)

// defaultHosts are the names the ingest's certificate carries: the host's
// loopback, and the address the QEMU guest reaches the host at.
const defaultHosts = "localhost,127.0.0.1,10.0.2.100,host"

// renewBefore is how long before expiry the server certificate is reissued.
const renewBefore = 30 * 24 * time.Hour

// cloud is the dev cloud's state in its data directory.
type cloud struct {
	dir     string
	ca      *devca.CA
	reg     *registry
	pairing *ecdsa.PrivateKey
	log     *slog.Logger
	now     func() time.Time

	// live relays live-view signaling to devices (over MQTT); nil: the
	// page's live view answers 503.
	live liveRelay
	// bindings delivers owner bindings to devices (over MQTT, retained);
	// nil: they are only stored in bindings/ (no broker).
	bindings bindingSender
	// turnURL is the TURN server serve runs ("": none), for the page.
	turnURL string

	mu          sync.Mutex
	enrollToken string // hash of the one-time enrollment token; "" when spent
}

// openCloud opens the data directory, creating the CA and the pairing key
// on first use. created lists what was made.
func openCloud(dir string, log *slog.Logger, now func() time.Time) (*cloud, []string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	ca, caNew, err := devca.Open(dir, now)
	if err != nil {
		return nil, nil, err
	}
	var created []string
	if caNew {
		created = append(created, filepath.Join(dir, devca.CertFile))
	}
	pk, pkNew, err := openKey(filepath.Join(dir, pairingKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("pairing key: %w", err)
	}
	pubPEM, err := identity.PublicKeyPEM(pk.Public())
	if err != nil {
		return nil, nil, err
	}
	pubPath := filepath.Join(dir, pairingPubFile)
	if old, err := os.ReadFile(pubPath); err != nil || string(old) != string(pubPEM) {
		if err := atomicfile.WriteFile(pubPath, pubPEM, 0o644); err != nil {
			return nil, nil, err
		}
	}
	if pkNew {
		created = append(created, pubPath)
	}
	return &cloud{dir: dir, ca: ca, reg: openRegistry(dir), pairing: pk, log: log, now: now}, created, nil
}

// openKey loads an ECDSA P-256 PKCS#8 key, or creates it (0600) when absent.
func openKey(path string) (*ecdsa.PrivateKey, bool, error) {
	b, err := atomicfile.ReadFileMax(path, 16<<10)
	if errors.Is(err, fs.ErrNotExist) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, err
		}
		if err := atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, false, err
		}
		return key, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("%s: no PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, false, fmt.Errorf("%s: not an ECDSA P-256 key", path)
	}
	return key, false, nil
}

// serverCert returns the ingest's TLS certificate for hosts, issuing a new
// one when there is none, it names other hosts, or it nears expiry.
func (c *cloud) serverCert(hosts []string) (tls.Certificate, error) {
	kp, cp := filepath.Join(c.dir, serverKeyFile), filepath.Join(c.dir, serverCertFile)
	if cert, err := tls.LoadX509KeyPair(cp, kp); err == nil && cert.Leaf != nil &&
		c.now().Add(renewBefore).Before(cert.Leaf.NotAfter) && sameHosts(cert.Leaf, hosts) {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: c.ca.Pool()}); err == nil {
			return cert, nil
		}
	}
	key, _, err := openKey(kp)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := c.ca.IssueServer(key.Public(), hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := atomicfile.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	c.log.Info("issued the ingest's TLS certificate", "hosts", strings.Join(hosts, ","), "file", cp)
	return tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

func sameHosts(cert *x509.Certificate, hosts []string) bool {
	var have []string
	have = append(have, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		have = append(have, ip.String())
	}
	want := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		want = append(want, h)
	}
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(have, want)
}

func splitHosts(s string) []string {
	var out []string
	for _, h := range strings.Split(s, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// newEnrollToken makes the one-time enrollment token, also written to
// enroll.token (0600) for scripts.
func (c *cloud) newEnrollToken() (string, error) {
	tok := newToken()
	if err := atomicfile.WriteFile(filepath.Join(c.dir, enrollFile), []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.enrollToken = hashToken(tok)
	c.mu.Unlock()
	return tok, nil
}

// ingestServer makes the ingest on the data directory.
func (c *cloud) ingestServer(maxObject uint64, lim ingest.Limits) (*ingest.Server, error) {
	return ingest.New(ingest.Config{Root: filepath.Join(c.dir, ingestDir), ClientCAs: c.ca.Pool(), Owners: c.reg,
		Accounts: c.reg, Logger: c.log.With("part", "ingest"), Now: c.now, MaxObjectSize: maxObject,
		Observe: c.observe, Limits: lim})
}

// observe logs what a developer watching `make run` wants to see.
func (c *cloud) observe(ev ingest.Event) {
	switch {
	case ev.Code != "":
	case ev.Op == "manifest":
		c.log.Info("manifest verified", "device", ev.Identity, "seq", ev.Seq, "complete", ev.Complete)
	case ev.Op == "object" && ev.Complete:
		c.log.Info("object verified and stored", "device", ev.Identity, "sha256", ev.SHA256, "bytes_this_request", ev.Bytes)
	}
}

// handler serves the ingest API and the enrollment endpoint.
func (c *cloud) handler(ing *ingest.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathEnroll, c.enroll)
	mux.HandleFunc("GET "+fmt.Sprintf(PathEventsFmt, "{device}"), c.events)
	mux.Handle("/", ing.Handler())
	c.addWeb(mux)
	return mux
}

// enroll serves POST /v1/enroll: a CSR (PEM) with the one-time token.
func (c *cloud) enroll(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		c.log.Warn("enrollment refused", "code", code, "remote", r.RemoteAddr, "err", msg)
		w.Header().Set("Content-Type", protocol.ContentJSON)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(protocol.ErrorAnswer{Error: msg, Code: code})
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	c.mu.Lock()
	valid := ok && c.enrollToken != "" && subtle.ConstantTimeCompare([]byte(hashToken(tok)), []byte(c.enrollToken)) == 1
	c.mu.Unlock()
	if !valid {
		fail(http.StatusUnauthorized, protocol.CodeUnauthorized, "a valid one-time enrollment token is required")
		return
	}
	csr, err := io.ReadAll(io.LimitReader(r.Body, devca.MaxCSR+1))
	if err != nil {
		fail(http.StatusBadRequest, protocol.CodeTruncated, err.Error())
		return
	}
	certPEM, id, err := c.signCSR(csr)
	if err != nil {
		fail(http.StatusBadRequest, protocol.CodeMalformed, err.Error())
		return
	}
	// A client that accepts JSON also gets the C2PA claim-signing
	// certificate (enrollAnswer); others get the TLS certificate as before.
	var c2paPEM []byte
	wantJSON := strings.Contains(r.Header.Get("Accept"), protocol.ContentJSON)
	if wantJSON {
		if c2paPEM, err = c.c2paCert(certPEM); err != nil {
			fail(http.StatusInternalServerError, protocol.CodeMalformed, err.Error())
			return
		}
	}
	c.mu.Lock()
	spent := c.enrollToken == ""
	c.enrollToken = ""
	c.mu.Unlock()
	if spent { // another request used the token meanwhile
		fail(http.StatusUnauthorized, protocol.CodeUnauthorized, "the enrollment token was just used")
		return
	}
	_ = os.Remove(filepath.Join(c.dir, enrollFile))
	c.log.Info("device enrolled", "device", id, "remote", r.RemoteAddr, "c2pa", wantJSON)
	if wantJSON {
		w.Header().Set("Content-Type", protocol.ContentJSON)
		_ = json.NewEncoder(w).Encode(enrollAnswer{Device: id, Certificate: string(certPEM), C2PACertificate: string(c2paPEM)})
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(certPEM)
}

// enrollAnswer is the JSON answer of /v1/enroll (asked for with "Accept:
// application/json"): the device's TLS client certificate and its C2PA
// claim-signing certificate chain (the device's certificate, then the dev
// CA's: what the device puts in a manifest's x5chain), both PEM.
type enrollAnswer struct {
	Device          string `json:"device"`
	Certificate     string `json:"certificate"`
	C2PACertificate string `json:"c2pa_certificate"`
}

// c2paCert issues the C2PA claim-signing certificate for the key of an
// issued TLS certificate (PEM) and returns the chain (device, CA) as PEM.
func (c *cloud) c2paCert(tlsPEM []byte) ([]byte, error) {
	blk, _ := pem.Decode(tlsPEM)
	if blk == nil {
		return nil, errors.New("camcloud: c2pa certificate: no TLS certificate")
	}
	tlsCert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("camcloud: c2pa certificate: %w", err)
	}
	cert, err := c.ca.IssueC2PA(tlsCert.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("camcloud: c2pa certificate: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	return append(out, c.ca.CertPEM()...), nil
}

// signCSR issues a device certificate and pins the device's key.
func (c *cloud) signCSR(csr []byte) ([]byte, string, error) {
	certPEM, id, err := c.ca.SignCSR(csr)
	if err != nil {
		return nil, "", err
	}
	blk, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, "", err
	}
	if err := c.reg.enrolled(id, cert.PublicKey, c.now()); err != nil {
		return nil, "", err
	}
	return certPEM, id, nil
}
