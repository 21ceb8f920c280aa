package devca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
)

// File names in the CA directory.
const (
	KeyFile  = "ca.key"
	CertFile = "ca.crt"
)

// Validity periods.
const (
	CAValidity     = 10 * 365 * 24 * time.Hour
	DeviceValidity = 2 * 365 * 24 * time.Hour
	ServerValidity = 365 * 24 * time.Hour
	// backdate is how far before "now" certificates start, for clocks that
	// are a little behind.
	backdate = time.Hour
)

// MaxCSR bounds a CSR (PEM or DER) given to SignCSR.
const MaxCSR = 16 << 10

// maxFile bounds the CA files read by Open.
const maxFile = 64 << 10

// Errors; test them with errors.Is.
var (
	// ErrBadCSR: the CSR does not parse, its signature does not verify, its
	// key is not P-256, or its CN is not its key's device ID.
	ErrBadCSR = errors.New("devca: bad certificate request")
	// ErrCorrupt: the CA files exist but do not hold a usable CA.
	ErrCorrupt = errors.New("devca: corrupt CA files")
)

// CA is a development certificate authority. Safe for concurrent use.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	now     func() time.Time
}

// New makes a CA in memory (for tests) named name, valid from now.
func New(name string, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devca: new: %w", err)
	}
	t := now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"camagent dev cloud"}},
		NotBefore:             t.Add(-backdate),
		NotAfter:              t.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("devca: new: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca: new: %w", err)
	}
	return &CA{cert: cert, certPEM: pemCert(der), key: key, now: now}, nil
}

// Open loads the CA kept in dir, or creates one there when neither file
// exists (created is then true). A directory with only one of the two files,
// or files that do not hold a matching P-256 key and CA certificate, is
// refused with ErrCorrupt and left alone.
func Open(dir string, now func() time.Time) (ca *CA, created bool, err error) {
	if now == nil {
		now = time.Now
	}
	kp, cp := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	_, kerr := os.Stat(kp)
	_, cerr := os.Stat(cp)
	switch {
	case errors.Is(kerr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist):
		ca, err := New("camagent dev CA", now)
		if err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, false, fmt.Errorf("devca: create: %w", err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(ca.key)
		if err != nil {
			return nil, false, fmt.Errorf("devca: create: %w", err)
		}
		if err := writeNew(kp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
			return nil, false, err
		}
		if err := writeNew(cp, ca.certPEM, 0o644); err != nil {
			return nil, false, err
		}
		return ca, true, nil
	case kerr != nil || cerr != nil:
		return nil, false, fmt.Errorf("devca: open %s: %w: need both %s and %s (%v, %v)", dir, ErrCorrupt, KeyFile, CertFile, kerr, cerr)
	}
	kb, err := readMax(kp)
	if err != nil {
		return nil, false, err
	}
	cb, err := readMax(cp)
	if err != nil {
		return nil, false, err
	}
	ca, err = parse(kb, cb, now)
	if err != nil {
		return nil, false, fmt.Errorf("devca: open %s: %w: %v", dir, ErrCorrupt, err)
	}
	return ca, false, nil
}

func parse(keyPEM, certPEM []byte, now func() time.Time) (*CA, error) {
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("no PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("key is not ECDSA P-256")
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, errors.New("certificate is not a CA")
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("certificate is not for the key")
	}
	return &CA{cert: cert, certPEM: pemCert(cb.Bytes), key: key, now: now}, nil
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertPEM returns the CA certificate as PEM: what devices install to trust
// the ingest.
func (ca *CA) CertPEM() []byte { return append([]byte(nil), ca.certPEM...) }

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// SignCSR issues a device client certificate (PEM) for a CSR (PEM or DER, at
// most MaxCSR bytes) made by identity.CSR: the request's signature must
// verify, its key must be P-256, and its CN must be that key's device ID. It
// returns the certificate and the device ID.
func (ca *CA) SignCSR(csr []byte) (certPEM []byte, deviceID string, err error) {
	if len(csr) > MaxCSR {
		return nil, "", fmt.Errorf("%w: over %d bytes", ErrBadCSR, MaxCSR)
	}
	der := csr
	if b, _ := pem.Decode(csr); b != nil {
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			return nil, "", fmt.Errorf("%w: PEM block %.40q", ErrBadCSR, b.Type)
		}
		der = b.Bytes
	}
	req, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := req.CheckSignature(); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	id, err := identity.DeviceID(req.PublicKey)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if req.Subject.CommonName != id {
		return nil, "", fmt.Errorf("%w: CN %.64q is not the key's device ID %s", ErrBadCSR, req.Subject.CommonName, id)
	}
	t := ca.now()
	cert, err := ca.IssueDevice(req.PublicKey, t.Add(-backdate), t.Add(DeviceValidity))
	if err != nil {
		return nil, "", err
	}
	return pemCert(cert.Raw), id, nil
}

// IssueDevice issues a device client certificate for pub (CN = its device
// ID) valid from notBefore to notAfter. Tests use it for expired
// certificates; SignCSR is the normal way.
func (ca *CA) IssueDevice(pub crypto.PublicKey, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	id, err := identity.DeviceID(pub)
	if err != nil {
		return nil, fmt.Errorf("devca: issue device: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: id},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, pub)
}

// C2PA claim-signing certificate profile (C2PA specification, "Certificate
// Profiles"): key usage digitalSignature (critical), an extended key usage
// that is not anyExtendedKeyUsage and names a signing purpose the C2PA trust
// list accepts: id-kp-emailProtection and id-kp-documentSigning (RFC 9336).
// The CN is the device ID, as in the TLS certificate, so a reader of a
// Content Credential sees which camera signed it.
var (
	oidDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}
)

// IssueC2PA issues the device's C2PA claim-signing certificate for pub (CN =
// its device ID, O = "camagent camera"), valid as long as the device's TLS
// certificate. It is a separate certificate from the TLS client one because
// the C2PA profile and TLS want different extended key usages (a validator
// refuses a claim signer whose certificate is only for TLS).
func (ca *CA) IssueC2PA(pub crypto.PublicKey) (*x509.Certificate, error) {
	id, err := identity.DeviceID(pub)
	if err != nil {
		return nil, fmt.Errorf("devca: issue c2pa: %w", err)
	}
	t := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: id, Organization: []string{"camagent camera"}},
		NotBefore:             t.Add(-backdate),
		NotAfter:              t.Add(DeviceValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{oidDocumentSigning},
		BasicConstraintsValid: true,
	}
	return ca.issue(tmpl, pub)
}

// IssueService issues a client certificate for a cloud service identity
// (CN = name, e.g. the dev cloud's MQTT subscriber). The name may not look
// like a device ID, so a service can never pass for a device.
func (ca *CA) IssueService(pub crypto.PublicKey, name string) (*x509.Certificate, error) {
	if name == "" || len(name) > 64 || strings.HasPrefix(name, "cam-") || strings.ContainsAny(name, "+#/") {
		return nil, fmt.Errorf("devca: issue service: name %.64q: want 1..64 bytes, no \"cam-\" prefix, no + # /", name)
	}
	t := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    t.Add(-backdate),
		NotAfter:     t.Add(ServerValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.issue(tmpl, pub)
}

// IssueServer issues a TLS server certificate for pub naming hosts (DNS
// names or IP addresses).
func (ca *CA) IssueServer(pub crypto.PublicKey, hosts []string) (*x509.Certificate, error) {
	t := ca.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "camagent dev ingest"},
		NotBefore:    t.Add(-backdate),
		NotAfter:     t.Add(ServerValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tmpl, pub)
}

// ServerCertificate makes a new key and a server certificate for hosts, as a
// tls.Certificate (with the CA certificate in the chain).
func (ca *CA) ServerCertificate(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("devca: server key: %w", err)
	}
	cert, err := ca.IssueServer(key.Public(), hosts)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// Issue signs tmpl for pub as it is, without any of the checks of SignCSR
// and IssueDevice (tests use it to make broken certificates). A zero
// SerialNumber is replaced by a random one.
func (ca *CA) Issue(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = serial()
	}
	return ca.issue(tmpl, pub)
}

func (ca *CA) issue(tmpl *x509.Certificate, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("devca: issue %s: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devca: issue %s: %w", tmpl.Subject.CommonName, err)
	}
	return cert, nil
}

// serial returns a random 127-bit serial number.
func serial() *big.Int {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b[:])
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// readMax reads a CA file of at most maxFile bytes.
func readMax(path string) ([]byte, error) {
	b, err := atomicfile.ReadFileMax(path, maxFile)
	if errors.Is(err, atomicfile.ErrTooLarge) {
		return nil, fmt.Errorf("devca: %s: %w: over %d bytes", path, ErrCorrupt, maxFile)
	}
	if err != nil {
		return nil, fmt.Errorf("devca: %w", err)
	}
	return b, nil
}

// writeNew writes a file that must not exist yet, crash-safe: temp file,
// fsync, hard link into place (fails if the name appeared), directory fsync.
func writeNew(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("devca: write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("devca: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("devca: sync %s: %w", dir, err)
	}
	return nil
}
