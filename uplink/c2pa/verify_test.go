package c2pa

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest/devca"
)

var captured = time.Date(2026, 12, 4, 8, 30, 15, 250e6, time.UTC)

func TestSignVerify(t *testing.T) {
	r := newRig(t)
	img := testJPEG(t, 320, 240)
	orig := bytes.Clone(img)
	out, err := r.signer.SignJPEG(img, captured)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img, orig) {
		t.Fatal("SignJPEG changed its input")
	}
	t.Logf("%d-byte JPEG + %d bytes of manifest", len(img), len(out)-len(img))
	cr, err := Verify(out, r.ca.Pool())
	if err != nil {
		t.Fatal(err)
	}
	if !cr.Trusted || cr.DeviceID != r.signer.DeviceID() || !cr.Captured.Equal(captured) ||
		cr.SourceType != SourceCapture || cr.Generator != Generator || !cr.Signer.Equal(r.cert) {
		t.Fatalf("credential %+v", cr)
	}
	// Without roots: everything but trust is checked.
	if cr, err := Verify(out, nil); err != nil || cr.Trusted {
		t.Fatalf("no roots: %v, %+v", err, cr)
	}
	// Another CA's roots: untrusted.
	other, err := devca.New("other CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(out, other.Pool()); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("other CA: %v", err)
	}
	// The picture decodes as before, and a second signing is refused.
	if _, err := r.signer.SignJPEG(out, captured); err == nil {
		t.Fatal("signed an already signed JPEG")
	}
}

// TestSignJFIF: the segments go after a JFIF APP0.
func TestSignJFIF(t *testing.T) {
	r := newRig(t)
	img := testJPEG(t, 64, 48)
	app0 := []byte{0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	jfif := append(append(append([]byte{}, img[:2]...), app0...), img[2:]...)
	out, err := r.signer.SignJPEG(jfif, captured)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:2+len(app0)], jfif[:2+len(app0)]) || out[2+len(app0)+1] != markerAPP11 {
		t.Fatal("the manifest is not right after APP0")
	}
	if _, err := Verify(out, r.ca.Pool()); err != nil {
		t.Fatal(err)
	}
}

// tamper cases, shared with the official reader's test and the fuzz seeds.
type tamperCase struct {
	name string
	make func(t testing.TB, r *rig, signed []byte) []byte
	want error
}

// scanStart is the offset of the first scan byte (after SOS's header).
func scanStart(t testing.TB, img []byte) int {
	t.Helper()
	segs, err := segments(img)
	if err != nil {
		t.Fatal(err)
	}
	i := segs[len(segs)-1].end
	if img[i] != 0xFF || img[i+1] != 0xDA {
		t.Fatal("no SOS after the headers")
	}
	return i + 2 + int(img[i+2])<<8 | int(img[i+3])
}

var tamperCases = []tamperCase{
	{"pixel byte flipped", func(t testing.TB, r *rig, s []byte) []byte {
		b := bytes.Clone(s)
		i := scanStart(t, b) + 40
		b[i] ^= 0x01
		if b[i] == 0xFF || b[i-1] == 0xFF { // keep the entropy-coded data legal
			b[i] ^= 0x03
		}
		return b
	}, ErrHashMismatch},
	{"manifest moved to another camera's picture", func(t testing.TB, r *rig, s []byte) []byte {
		_, start, end, err := extractStore(s)
		if err != nil {
			t.Fatal(err)
		}
		other := testJPEG(t, 320, 200)
		return append(append(append([]byte{}, other[:2]...), s[start:end]...), other[2:]...)
	}, ErrHashMismatch},
	{"re-encoded (manifest dropped)", func(t testing.TB, r *rig, s []byte) []byte {
		return testJPEG(t, 320, 240)
	}, ErrNoManifest},
	{"assertion changed", func(t testing.TB, r *rig, s []byte) []byte {
		b := bytes.Clone(s)
		i := bytes.Index(b, []byte(r.signer.DeviceID()))
		b[i+5] ^= 0x01
		return b
	}, ErrHashMismatch},
	{"signature changed", func(t testing.TB, r *rig, s []byte) []byte {
		b := bytes.Clone(s)
		_, _, end, err := extractStore(b)
		if err != nil {
			t.Fatal(err)
		}
		b[end-10] ^= 0x01 // the COSE signature is the store's last bytes
		return b
	}, ErrBadSignature},
}

func TestVerifyRefusesTampering(t *testing.T) {
	r := newRig(t)
	signed, err := r.signer.SignJPEG(testJPEG(t, 320, 240), captured)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tamperCases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Verify(tc.make(t, r, signed), r.ca.Pool()); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestWrongDevice: a key signing with another device's certificate is refused
// (the signature fails), and a certificate for one device cannot vouch for
// another's capture assertion.
func TestWrongDevice(t *testing.T) {
	r := newRig(t)
	key2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := New(Config{Key: key2, Chain: []*x509.Certificate{r.cert}}); err == nil {
		t.Fatal("New accepted a certificate for another key")
	}
	s := *r.signer
	s.deviceID = "cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	out, err := s.SignJPEG(testJPEG(t, 64, 48), captured)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(out, r.ca.Pool()); !errors.Is(err, ErrWrongDevice) {
		t.Fatalf("got %v", err)
	}
}

// TestSplitSegments: a store larger than one APP11 segment is split and
// reassembled (a thumbnail's store is ~2 KB; this covers the framing).
func TestSplitSegments(t *testing.T) {
	for _, n := range []int{100, maxSegPayload - 1, maxSegPayload, maxSegPayload + 1, 3*maxSegPayload + 17} {
		store := make([]byte, n)
		for i := range store {
			store[i] = byte(i * 31)
		}
		copy(store, []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), 'j', 'u', 'm', 'b'})
		img := testJPEG(t, 16, 16)
		seg := appendAPP11(nil, store)
		if len(seg) != app11Size(n) {
			t.Fatalf("%d: %d segment bytes, app11Size says %d", n, len(seg), app11Size(n))
		}
		out := append(append(append([]byte{}, img[:2]...), seg...), img[2:]...)
		got, start, end, err := extractStore(out)
		if err != nil || !bytes.Equal(got, store) || start != 2 || end != 2+len(seg) {
			t.Fatalf("%d: %v, equal %v, [%d, %d)", n, err, bytes.Equal(got, store), start, end)
		}
	}
}

func BenchmarkSignJPEG(b *testing.B) {
	r := newRig(b)
	img := testJPEG(b, 320, 240)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.signer.SignJPEG(img, captured); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLoadChain(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	p := ChainPath(dir + "/device.key")
	leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.cert.Raw})
	if err := os.WriteFile(p, append(leaf, r.ca.CertPEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	chain, err := LoadChain(p)
	if err != nil || len(chain) != 2 || !chain[0].Equal(r.cert) {
		t.Fatalf("%v %d", err, len(chain))
	}
	if _, err := New(Config{Key: r.key, Chain: chain}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("junk"), 0o644)
	if _, err := LoadChain(p); err == nil {
		t.Fatal("junk chain loaded")
	}
}
