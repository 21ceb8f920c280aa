package daemon

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

// assertNoPrivateKey fails if out holds the private key at keyPath in any
// usual text form.
func assertNoPrivateKey(t *testing.T, keyPath, out string) {
	t.Helper()
	file, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := readPrivateKey(t, keyPath).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	forms := []string{
		hex.EncodeToString(d), strings.ToUpper(hex.EncodeToString(d)),
		new(big.Int).SetBytes(d).String(), base64.StdEncoding.EncodeToString(d),
		"PRIVATE KEY",
	}
	for _, line := range strings.Split(strings.TrimSpace(string(file)), "\n") {
		if !strings.HasPrefix(line, "-----") {
			forms = append(forms, line)
		}
	}
	for _, f := range forms {
		if strings.Contains(out, f) {
			t.Fatalf("output holds the private key (%q):\n%s", f, out)
		}
	}
}

func readPrivateKey(t *testing.T, path string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

// testCA signs certificates for tests.
type testCA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

func newTestCA(t *testing.T) testCA {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return testCA{k, c}
}

// issue writes a PEM certificate for pub with the CN and usages given.
func (ca testCA) issue(t *testing.T, path string, pub any, cn string, eku ...x509.ExtKeyUsage) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<33, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
