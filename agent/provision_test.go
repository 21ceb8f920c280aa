package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/board/keystore"
	"github.com/camagent/camagent/uplink/identity"
)

func runProvision(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut strings.Builder
	err := provisionCmd(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestProvisionCreatesKeyAndCSR(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "state", "device.key")
	out, _, err := runProvision(t, "-key", keyPath)
	if err != nil {
		t.Fatal(err)
	}
	priv := readPrivateKey(t, keyPath)
	id, _ := identity.DeviceID(&priv.PublicKey)
	for _, want := range []string{
		"key: " + keyPath + " (created)\n",
		"device id: " + id + "\n",
		"public key:\n-----BEGIN PUBLIC KEY-----\n",
		"csr: " + filepath.Join(dir, "state", "device.csr") + " (CN=" + id + ")\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	pub, err := identity.ParsePublicKeyPEM([]byte(out[strings.Index(out, "-----BEGIN"):]))
	if err != nil || !pub.Equal(&priv.PublicKey) {
		t.Fatalf("printed public key: %v", err)
	}
	assertNoPrivateKey(t, keyPath, out)

	csrPEM, err := os.ReadFile(identity.CSRPath(keyPath))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != id {
		t.Fatalf("CSR: %v, CN %q", err, csr.Subject.CommonName)
	}

	// Again: the same key, now "existing"; -csr moves the CSR.
	csr2 := filepath.Join(dir, "req.pem")
	out, _, err = runProvision(t, "-key", keyPath, "-csr", csr2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "(existing)") || !strings.Contains(out, "device id: "+id) {
		t.Fatalf("second run:\n%s", out)
	}
	if _, err := os.Stat(csr2); err != nil {
		t.Fatal(err)
	}
	assertNoPrivateKey(t, keyPath, out)
}

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

func TestProvisionInstallsCert(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "device.key")
	k, _, err := identity.OpenDeviceKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherID, _ := identity.DeviceID(&other.PublicKey)
	ca := newTestCA(t)
	certPath := identity.CertPath(keyPath)

	for _, tc := range []struct {
		name    string
		pub     any
		cn      string
		eku     []x509.ExtKeyUsage
		garbage bool
		wantErr string
	}{
		{name: "for another key", pub: &other.PublicKey, cn: otherID, wantErr: "it certifies device " + otherID + ", but this device is " + k.DeviceID()},
		{name: "CN names another device", pub: k.Public(), cn: otherID, wantErr: "CN is"},
		{name: "server-only usage", pub: k.Public(), cn: k.DeviceID(), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, wantErr: "client authentication"},
		{name: "not a certificate", garbage: true, wantErr: "no CERTIFICATE PEM block"},
		{name: "good", pub: k.Public(), cn: k.DeviceID(), eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := filepath.Join(dir, "issued.pem")
			if tc.garbage {
				os.WriteFile(src, []byte("hello"), 0o644)
			} else {
				ca.issue(t, src, tc.pub, tc.cn, tc.eku...)
			}
			out, _, err := runProvision(t, "-key", keyPath, "-cert", src)
			assertNoPrivateKey(t, keyPath, out)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "not installed") {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if _, err := os.Stat(certPath); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("refused certificate was installed: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "certificate: installed "+certPath) || !strings.Contains(out, "matches the device key") {
				t.Fatalf("output:\n%s", out)
			}
			got, _ := os.ReadFile(certPath)
			want, _ := os.ReadFile(src)
			if string(got) != string(want) {
				t.Fatal("installed file differs from the given one")
			}
		})
	}
}

func TestProvisionCorruptKey(t *testing.T) {
	keyPath := filepath.Join(t.TempDir(), "device.key")
	if err := os.WriteFile(keyPath, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runProvision(t, "-key", keyPath)
	if !errors.Is(err, keystore.ErrCorrupt) || out != "" {
		t.Fatalf("err = %v, out %q", err, out)
	}
	if b, _ := os.ReadFile(keyPath); string(b) != "garbage" {
		t.Fatal("corrupt key overwritten")
	}
	if _, _, err := runProvision(t, "-key", keyPath, "extra"); err == nil {
		t.Fatal("extra argument accepted")
	}
}
