package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/c2pa"
	"github.com/camagent/camagent/uplink/ingest/devca"
)

// TestProvisionInstallsC2PACert: -c2pa-cert installs the C2PA chain the CA
// issued for this device's key beside the key, where the daemon loads it;
// a TLS certificate or another device's chain is refused and nothing is
// installed.
func TestProvisionInstallsC2PACert(t *testing.T) {
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "state", "device.key")
	if _, _, err := runProvision(t, "-key", keyPath); err != nil {
		t.Fatal(err)
	}
	pub := readPrivateKey(t, keyPath).Public()
	ca, err := devca.New("provision test CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	chainFile := func(name string, c *x509.Certificate) string {
		b := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), ca.CertPEM()...)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tlsCert, err := ca.IssueDevice(pub, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherCert, err := ca.IssueC2PA(other.Public())
	if err != nil {
		t.Fatal(err)
	}
	dst := c2pa.ChainPath(keyPath)
	for name, f := range map[string]string{"TLS certificate": chainFile("tls.pem", tlsCert), "another device": chainFile("other.pem", otherCert)} {
		if _, _, err := runProvision(t, "-key", keyPath, "-c2pa-cert", f); err == nil {
			t.Errorf("%s: installed", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
		if _, err := os.Stat(dst); err == nil {
			t.Fatalf("%s: %s written", name, dst)
		}
	}
	cert, err := ca.IssueC2PA(pub)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runProvision(t, "-key", keyPath, "-c2pa-cert", chainFile("c2pa.pem", cert))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "c2pa certificate: installed "+dst) {
		t.Errorf("output: %s", out)
	}
	chain, err := c2pa.LoadChain(dst)
	if err != nil || len(chain) != 2 || !chain[0].Equal(cert) {
		t.Fatalf("installed chain: %v, %d certificates", err, len(chain))
	}
}
