package ingest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
)

// TestRestartKeepsState: an ingest restarted on the same directory knows
// the partial objects, the stored items and each device's chain.
func TestRestartKeepsState(t *testing.T) {
	root := ingesttest.TempDir(t)
	ca, err := devca.New("restart CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := ingesttest.NewRegistry()
	open := func() *ingest.Server {
		s, err := ingest.New(ingest.Config{Root: root, ClientCAs: ca.Pool(), Owners: reg, Accounts: reg})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	d := ingesttest.NewDevice(t, ca, "vic")
	reg.Pair(d.ID, "vic")
	state := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{d.Cert.Leaf}}
	serve := func(s *ingest.Server, method, target string, body []byte) (int, []byte) {
		req := httptest.NewRequest(method, "https://ingest"+target, bytes.NewReader(body))
		req.TLS = state
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.Bytes()
	}
	clip := blob(2, 1, 0, 5000)
	c1, m1 := d.Next(t, ingesttest.Clip(clip))
	target := protocol.ObjectPath(m1.Objects[0].SHA256)

	s1 := open()
	if code, b := serve(s1, "POST", protocol.PathManifests, c1); code != 200 {
		t.Fatalf("manifest: %d %s", code, b)
	}
	if code, _ := serve(s1, "PUT", target+"?offset=0", clip[:2000]); code != http.StatusBadRequest {
		t.Fatalf("half the clip: %d, want truncated", code)
	}

	s2 := open() // the ingest restarts
	if code, b := serve(s2, "PUT", target+"?offset=2000", clip[2000:]); code != 200 {
		t.Fatalf("rest of the clip after the restart: %d %s", code, b)
	}
	code, b := serve(s2, "POST", protocol.PathManifests, c1)
	var a protocol.ManifestAnswer
	if err := json.Unmarshal(b, &a); code != 200 || err != nil || !a.Replay || !a.Complete {
		t.Fatalf("replay after the restart: %d %s", code, b)
	}
	s3 := open()
	c2, _ := d.Next(t, ingesttest.Thumb([]byte("next")))
	code, b = serve(s3, "POST", protocol.PathManifests, c2)
	if err := json.Unmarshal(b, &a); code != 200 || err != nil || a.Gap {
		t.Fatalf("next manifest after another restart: %d %s (a gap means the chain was forgotten)", code, b)
	}
}
