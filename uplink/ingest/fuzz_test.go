package ingest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
)

// fuzzEnv is an ingest called in-process, with one paired device whose TLS
// state the requests carry, and one manifest of it already accepted.
type fuzzEnv struct {
	srv   *ingest.Server
	d     *ingesttest.Device
	state *tls.ConnectionState
	token string
	cose  []byte
	m     manifest.Manifest
	clip  []byte
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	ca, err := devca.New("fuzz CA", nil)
	if err != nil {
		f.Fatal(err)
	}
	reg := ingesttest.NewRegistry()
	srv, err := ingest.New(ingest.Config{Root: ingesttest.TempDir(f), ClientCAs: ca.Pool(), Owners: reg, Accounts: reg,
		NoSync: true, QuarantineBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	d := ingesttest.NewDevice(f, ca, "fuzz")
	reg.Pair(d.ID, "fuzz")
	e := &fuzzEnv{srv: srv, d: d, state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{d.Cert.Leaf}},
		token: reg.Viewer("fuzz"), clip: blob(1, 1, 0, 3000)}
	e.cose, e.m = d.Next(f, ingesttest.Clip(e.clip), ingesttest.Thumb([]byte("thumb")))
	if rec := e.serve("POST", protocol.PathManifests, e.cose); rec.Code != 200 {
		f.Fatalf("seed manifest: %d %s", rec.Code, rec.Body)
	}
	return e
}

func (e *fuzzEnv) serve(method, target string, body []byte) *httptest.ResponseRecorder {
	req, err := http.NewRequest(method, "https://ingest"+target, bytes.NewReader(body))
	if err != nil {
		return nil
	}
	req.TLS = e.state
	req.RemoteAddr = "192.0.2.1:1234"
	req.Header.Set("Authorization", "Bearer "+e.token)
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// checkAnswer fails unless rec is a 200 or a JSON error with a known code.
func checkAnswer(t *testing.T, method string, rec *httptest.ResponseRecorder) {
	if rec == nil || rec.Code == http.StatusOK || method == http.MethodHead {
		return
	}
	var a protocol.ErrorAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("%d answer is not JSON: %q", rec.Code, rec.Body)
	}
	if !slices.Contains(protocol.Codes(), a.Code) {
		t.Fatalf("%d answer has an unknown code %q", rec.Code, a.Code)
	}
	if rec.Code >= 500 && a.Code != protocol.CodeLookupFailed {
		t.Fatalf("server error on outside input: %d %+v", rec.Code, a)
	}
}

// FuzzManifestRequest feeds POST /v1/manifests arbitrary bodies; seeded with
// the valid manifest and the tampered forms of the tamper table.
func FuzzManifestRequest(f *testing.F) {
	e := newFuzzEnv(f)
	f.Add(e.cose)
	f.Add([]byte("\xd2\x84not cose at all"))
	f.Add([]byte{})
	if msg, err := envelope.Parse(e.cose, manifest.ContentType); err == nil {
		f.Add(msg.Payload)
		if b, err := envelope.Seal(e.d.Key, manifest.ContentType, []byte(e.d.ID), append(bytes.Clone(msg.Payload), 0)); err == nil {
			f.Add(b)
		}
	}
	flipped := bytes.Clone(e.cose)
	flipped[len(flipped)/2] ^= 1
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := e.serve(http.MethodPost, protocol.PathManifests, body)
		checkAnswer(t, http.MethodPost, rec)
		if rec.Code == http.StatusOK {
			if _, err := manifest.Verify(body, e.d.Key.Public()); err != nil {
				t.Fatalf("accepted a manifest that does not verify with the device key: %v", err)
			}
		}
	})
}

// FuzzRequest feeds the whole API arbitrary methods, targets and bodies.
func FuzzRequest(f *testing.F) {
	e := newFuzzEnv(f)
	clipSHA := protocol.FormatSHA256(e.m.Objects[0].SHA256)
	seeds := []struct {
		method, target string
		body           []byte
	}{
		{"PUT", "/v1/objects/" + clipSHA + "?offset=0", e.clip[:100]},
		{"PUT", "/v1/objects/" + clipSHA + "?offset=100", e.clip[100:]},
		{"PUT", "/v1/objects/" + clipSHA + "?offset=00", nil},
		{"PUT", "/v1/objects/" + clipSHA + "?offset=0&offset=1", nil},
		{"PUT", "/v1/objects/" + strings.ToUpper(clipSHA) + "?offset=0", nil},
		{"PUT", "/v1/objects/../../etc?offset=0", nil},
		{"GET", "/v1/objects/" + clipSHA + "/status", nil},
		{"HEAD", "/v1/objects/" + clipSHA + "/status", nil},
		{"GET", "/v1/devices/" + e.d.ID + "/items?after=0&limit=10", nil},
		{"GET", "/v1/devices/" + e.d.ID + "/items?limit=99999", nil},
		{"GET", "/v1/items/" + e.d.ID + "/1/thumbnail", nil},
		{"GET", "/v1/items/" + e.d.ID + "/1/manifest", nil},
		{"GET", "/v1/items/" + e.d.ID + "/18446744073709551616/clip", nil},
		{"GET", "/v1/items/cam-..%2f..%2f/1/clip", nil},
		{"DELETE", "/v1/manifests", nil},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.body)
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		if !strings.HasPrefix(target, "/") || len(target) > 2048 {
			return
		}
		switch method {
		case "GET", "HEAD", "PUT", "POST", "DELETE":
		default:
			return
		}
		checkAnswer(t, method, e.serve(method, target, body))
	})
}
