package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"
)

// testdata/device.key is a throwaway key made with openssl for these tests;
// testdata/device.id is its ID computed independently (openssl + Python).
func testKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile("testdata/device.key")
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

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDeviceIDKnownAnswer(t *testing.T) {
	want, err := os.ReadFile("testdata/device.id")
	if err != nil {
		t.Fatal(err)
	}
	id, err := DeviceID(&testKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if id != strings.TrimSpace(string(want)) {
		t.Fatalf("DeviceID = %s, want %s (openssl + Python)", id, want)
	}
	if len(id) != IDLen || IDLen != 36 {
		t.Fatalf("len %d, IDLen %d", len(id), IDLen)
	}
	if err := ValidDeviceID(id); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile("testdata/device.pub.pem")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	if id2, _ := DeviceID(k); id2 != id {
		t.Fatalf("from PEM: %s", id2)
	}
}

func TestDeviceIDRefusesOtherKeys(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, k := range map[string]any{"ed25519": edPub, "P-384": &p384.PublicKey, "nil": nil, "private": newKey(t)} {
		if _, err := DeviceID(k); !errors.Is(err, ErrUnsupportedKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestValidDeviceID(t *testing.T) {
	good, _ := DeviceID(&newKey(t).PublicKey)
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{good, true},
		{"cam-" + strings.Repeat("a", 32), true},
		{"cam-" + strings.Repeat("7", 32), true},
		{"", false},
		{"cam-", false},
		{"cam-" + strings.Repeat("a", 31), false},
		{"cam-" + strings.Repeat("a", 33), false},
		{"CAM-" + strings.Repeat("a", 32), false},
		{"cam-" + strings.Repeat("A", 32), false},
		{"cam-" + strings.Repeat("1", 32), false},
		{"cam-" + strings.Repeat("8", 32), false},
		{"dev-" + strings.Repeat("a", 32), false},
		{"cam-" + strings.Repeat("a", 31) + "/", false},
		{"cam-" + strings.Repeat("a", 30) + "é", false},
	} {
		err := ValidDeviceID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.id, err)
		}
		if err != nil && !errors.Is(err, ErrBadDeviceID) {
			t.Errorf("%q: %v is not ErrBadDeviceID", tc.id, err)
		}
	}
}

func TestParsePublicKey(t *testing.T) {
	k := newKey(t)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	compressed, err := os.ReadFile("testdata/compressed.der")
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	offCurve := append([]byte{}, der...)
	offCurve[len(offCurve)-1] ^= 1
	for _, tc := range []struct {
		name string
		der  []byte
		ok   bool
	}{
		{"p256", der, true},
		{"empty", nil, false},
		{"trailing byte", append(append([]byte{}, der...), 0), false},
		{"compressed point", compressed, false},
		{"ed25519", edDER, false},
		{"p384", p384DER, false},
		{"point off the curve", offCurve, false},
		{"huge", make([]byte, 1000), false},
	} {
		_, err := ParsePublicKey(tc.der)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, ErrUnsupportedKey) {
			t.Errorf("%s: %v is not ErrUnsupportedKey", tc.name, err)
		}
	}
}

func TestCSR(t *testing.T) {
	k := testKey(t)
	id, _ := DeviceID(&k.PublicKey)
	b, err := CSR(k, id)
	if err != nil {
		t.Fatal(err)
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" || len(rest) != 0 {
		t.Fatalf("not one CSR PEM block: %q", b)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != id || csr.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Fatalf("CN %q alg %v", csr.Subject.CommonName, csr.SignatureAlgorithm)
	}
	if got, _ := DeviceID(csr.PublicKey); got != id {
		t.Fatalf("CSR key is %s", got)
	}
	if _, err := CSR(k, "cam-"+strings.Repeat("a", 32)); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("CSR for another ID: %v", err)
	}
}

func selfSigned(t testing.TB, k *ecdsa.PrivateKey, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1<<33, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertDeviceID(t *testing.T) {
	k := newKey(t)
	id, _ := DeviceID(&k.PublicKey)
	other, _ := DeviceID(&newKey(t).PublicKey)
	if got, err := CertDeviceID(selfSigned(t, k, id)); err != nil || got != id {
		t.Fatalf("CertDeviceID = %q, %v", got, err)
	}
	for _, cn := range []string{other, "", strings.ToUpper(id)} {
		if _, err := CertDeviceID(selfSigned(t, k, cn)); !errors.Is(err, ErrKeyMismatch) {
			t.Errorf("CN %q: %v", cn, err)
		}
	}
}

func TestPaths(t *testing.T) {
	if got := BindingPath("/var/lib/camagent/device.key"); got != "/var/lib/camagent/owner.binding" {
		t.Error(got)
	}
	if got := CertPath("/p/device.key"); got != "/p/device.crt" {
		t.Error(got)
	}
	if got := CSRPath("/p/device.key"); got != "/p/device.csr" {
		t.Error(got)
	}
}

func TestParsePublicKeyMatchesX509(t *testing.T) {
	for range 20 {
		k := newKey(t)
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		got, err := ParsePublicKey(der)
		if err != nil || !got.Equal(&k.PublicKey) {
			t.Fatalf("ParsePublicKey: %v", err)
		}
		if again, _ := PublicKeyDER(got); string(again) != string(der) {
			t.Fatal("round trip differs")
		}
	}
}
