package devca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/identity"
)

func TestOpenCreatesThenLoads(t *testing.T) {
	dir := t.TempDir()
	ca, created, err := Open(dir, nil)
	if err != nil || !created {
		t.Fatalf("first Open: created=%v %v", created, err)
	}
	if info, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", info.Mode(), err)
	}
	again, created, err := Open(dir, nil)
	if err != nil || created {
		t.Fatalf("second Open: created=%v %v", created, err)
	}
	if !again.Certificate().Equal(ca.Certificate()) {
		t.Error("second Open loaded another CA")
	}
}

func TestOpenRefusesBrokenFiles(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string)
	}{
		{"only the key", func(dir string) { os.Remove(filepath.Join(dir, CertFile)) }},
		{"garbage key", func(dir string) { os.WriteFile(filepath.Join(dir, KeyFile), []byte("junk"), 0o600) }},
		{"certificate of another CA", func(dir string) {
			other, _ := New("other", nil)
			os.WriteFile(filepath.Join(dir, CertFile), other.CertPEM(), 0o644)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, _, err := Open(dir, nil); err != nil {
				t.Fatal(err)
			}
			tc.setup(dir)
			if _, _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Open: %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestSignCSR(t *testing.T) {
	ca, err := New("test", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id, _ := identity.DeviceID(key.Public())
	csr, err := identity.CSR(key, id)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, got, err := ca.SignCSR(csr)
	if err != nil || got != id {
		t.Fatalf("SignCSR: %s %v", got, err)
	}
	b, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("issued certificate does not verify for client auth: %v", err)
	}
	if cid, err := identity.CertDeviceID(cert); err != nil || cid != id {
		t.Errorf("CertDeviceID: %s %v", cid, err)
	}

	// A CSR whose CN is another device's ID, a CSR with a broken
	// signature, and junk are all refused.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherID, _ := identity.DeviceID(other.Public())
	lying, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: otherID}}, key)
	broken := append([]byte(nil), lying...)
	broken[len(broken)-3] ^= 1
	for name, in := range map[string][]byte{"CN of another device": lying, "bad signature": broken, "junk": []byte("junk"),
		"too large": make([]byte, MaxCSR+1)} {
		if _, _, err := ca.SignCSR(in); !errors.Is(err, ErrBadCSR) {
			t.Errorf("%s: %v, want ErrBadCSR", name, err)
		}
	}
}

func TestServerCertificate(t *testing.T) {
	ca, _ := New("test", func() time.Time { return time.Now() })
	c, err := ca.ServerCertificate([]string{"127.0.0.1", "10.0.2.100", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "10.0.2.100", "localhost"} {
		if _, err := c.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
}

// TestIssueC2PA: the C2PA claim-signing certificate has the profile the
// C2PA specification (and c2pa-rs's check) wants of a claim signer.
func TestIssueC2PA(t *testing.T) {
	ca, err := New("test", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := ca.IssueC2PA(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.CertDeviceID(cert)
	if err != nil || cert.Subject.CommonName != id {
		t.Fatalf("device ID: %v %q", err, cert.Subject.CommonName)
	}
	if cert.Version != 3 || cert.IsCA || !cert.BasicConstraintsValid || cert.KeyUsage != x509.KeyUsageDigitalSignature ||
		len(cert.AuthorityKeyId) == 0 {
		t.Fatalf("profile: v%d CA=%v KU=%v AKI=%x", cert.Version, cert.IsCA, cert.KeyUsage, cert.AuthorityKeyId)
	}
	var kuCritical bool
	for _, e := range cert.Extensions {
		if e.Id.Equal([]int{2, 5, 29, 15}) {
			kuCritical = e.Critical
		}
	}
	if !kuCritical {
		t.Error("key usage is not critical")
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageEmailProtection ||
		len(cert.UnknownExtKeyUsage) != 1 || !cert.UnknownExtKeyUsage[0].Equal(oidDocumentSigning) {
		t.Fatalf("EKU %v %v", cert.ExtKeyUsage, cert.UnknownExtKeyUsage)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
		t.Fatal(err)
	}
	// Not usable as a TLS client certificate: the two stay apart.
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Error("the C2PA certificate passes as a TLS client certificate")
	}
}
