package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"image"
	"image/jpeg"
	"net/http"
	"os"
	"path/filepath"
	"slices"
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

// c2paSigner is a device's Content Credentials signer: its key and the C2PA
// certificate the cloud's CA issues it at enrollment.
func c2paSigner(t *testing.T, c *cloud, key *identity.DeviceKey) *c2pa.Signer {
	t.Helper()
	cert, err := c.ca.IssueC2PA(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c2pa.New(c2pa.Config{Key: key, Chain: []*x509.Certificate{cert, c.ca.Certificate()}, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signedMedia makes a clip of n frames and its thumbnail (mjpegClip) and
// signs them as the camera does at seal.
func signedMedia(t *testing.T, s *c2pa.Signer, n int, at time.Time) (sclip, sthumb []byte) {
	t.Helper()
	clip, thumb := mjpegClip(t, n)
	var out bytes.Buffer
	if _, err := s.SignMP4(&out, bytes.NewReader(clip), int64(len(clip)), at); err != nil {
		t.Fatal(err)
	}
	sthumb, err := s.SignJPEG(thumb, at)
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), sthumb
}

// app11Span returns where a JPEG's APP11 (C2PA) segments are.
func app11Span(t *testing.T, b []byte) (start, end int) {
	t.Helper()
	for i := 2; i+4 <= len(b) && b[i] == 0xFF && b[i+1] != 0xDA; {
		next := i + 2 + int(binary.BigEndian.Uint16(b[i+2:]))
		if b[i+1] == 0xEB {
			if start == 0 {
				start = i
			}
			end = next
		}
		i = next
	}
	if start == 0 {
		t.Fatal("no APP11 segments")
	}
	return start, end
}

// topBox returns the n-th (from 0) top-level MP4 box of type typ.
func topBox(t *testing.T, b []byte, typ string, n int) (start, end int) {
	t.Helper()
	for i := 0; i+8 <= len(b); {
		size := int(binary.BigEndian.Uint32(b[i:]))
		if string(b[i+4:i+8]) == typ {
			if n == 0 {
				return i, i + size
			}
			n--
		}
		i += size
	}
	t.Fatalf("no %s box", typ)
	return 0, 0
}

// movedManifest puts the Content Credentials of from (another device's
// signed picture or clip) onto to (a signed one), in place of its own.
func movedManifest(t *testing.T, to, from []byte) []byte {
	t.Helper()
	var ts, te, fs, fe int
	if bytes.HasPrefix(to, []byte{0xFF, 0xD8}) {
		ts, te = app11Span(t, to)
		fs, fe = app11Span(t, from)
	} else {
		ts, te = topBox(t, to, "uuid", 0) // the manifest box, right after ftyp
		fs, fe = topBox(t, from, "uuid", 0)
	}
	return slices.Concat(to[:ts], from[fs:fe], to[te:])
}

// flipPixel changes one byte of a JPEG's scan data.
func flipPixel(t *testing.T, b []byte) []byte {
	t.Helper()
	b = slices.Clone(b)
	sos := bytes.Index(b, []byte{0xFF, 0xDA})
	for i := sos + (len(b)-sos)/2; i < len(b)-2; i++ {
		if b[i-1] != 0xFF && b[i] < 0xFE {
			b[i] ^= 1
			return b
		}
	}
	t.Fatal("no scan byte to flip")
	return nil
}

// tamperFragment changes a byte in the middle of the n-th fragment's mdat.
func tamperFragment(t *testing.T, b []byte, n int) []byte {
	t.Helper()
	b = slices.Clone(b)
	s, e := topBox(t, b, "mdat", n)
	b[(s+e)/2] ^= 0x55
	return b
}

// rewrite replaces the first occurrence of old (which must be there) with
// new, of the same length: a change inside the manifest store.
func rewrite(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(old))
	if i < 0 || len(old) != len(new) {
		t.Fatalf("no %q to rewrite", old)
	}
	b = slices.Clone(b)
	copy(b[i:], new)
	return b
}
