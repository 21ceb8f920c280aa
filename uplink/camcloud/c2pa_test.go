package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"image"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/c2pa"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/protocol"
)

// parseChain parses PEM certificates.
func parseChain(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// signsWith checks that a C2PA chain issued at enrollment signs a JPEG that
// verifies against the dev CA as this device.
func signsWith(t *testing.T, key *identity.DeviceKey, chain []*x509.Certificate, roots *x509.CertPool) {
	t.Helper()
	if len(chain) != 2 {
		t.Fatalf("c2pa chain of %d certificates, want device + CA", len(chain))
	}
	s, err := c2pa.New(c2pa.Config{Key: key, Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	if err := jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 32, 32)), nil); err != nil {
		t.Fatal(err)
	}
	signed, err := s.SignJPEG(img.Bytes(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cr, err := c2pa.Verify(signed, roots)
	if err != nil || !cr.Trusted || cr.DeviceID != key.DeviceID() {
		t.Fatalf("verify: %v %+v", err, cr)
	}
}

// TestEnrollC2PA: enrollment issues the C2PA claim-signing certificate beside
// the TLS one, over HTTP (Accept: application/json) and offline (-c2pa-out).
func TestEnrollC2PA(t *testing.T) {
	data := t.TempDir()
	c, hs := startCloud(t, data)
	tok, err := c.newEnrollToken()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := identity.OpenDeviceKey(filepath.Join(t.TempDir(), "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := identity.CSR(key, key.DeviceID())
	pool := c.ca.Pool()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodPost, hs.URL+protocol.PathEnroll, bytes.NewReader(csr))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", protocol.ContentJSON)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans enrollAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("enroll: %d %v", resp.StatusCode, err)
	}
	if ans.Device != key.DeviceID() || len(parseChain(t, []byte(ans.Certificate))) != 1 {
		t.Fatalf("answer %+v", ans)
	}
	signsWith(t, key, parseChain(t, []byte(ans.C2PACertificate)), pool)

	// Offline, as scripts enroll.
	dir := t.TempDir()
	key2, _, err := identity.OpenDeviceKey(filepath.Join(dir, "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr2, _ := identity.CSR(key2, key2.DeviceID())
	csrPath := filepath.Join(dir, "device.csr")
	os.WriteFile(csrPath, csr2, 0o644)
	out := filepath.Join(dir, "c2pa.crt")
	mustRun(t, "enroll", "-data", data, "-csr", csrPath, "-out", filepath.Join(dir, "device.crt"), "-c2pa-out", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	signsWith(t, key2, parseChain(t, b), pool)
}
