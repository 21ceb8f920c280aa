package ingest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
)

// rig is an ingest served in-process to one device (the TLS state set on
// each request), with its own clock.
type rig struct {
	t    *testing.T
	root string
	ca   *devca.CA
	reg  *ingesttest.Registry
	s    *ingest.Server
	d    *ingesttest.Device
	mu   sync.Mutex
	now  time.Time
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, root: ingesttest.TempDir(t), now: time.Now()}
	ca, err := devca.New("rig CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.ca, r.reg = ca, ingesttest.NewRegistry()
	r.d = ingesttest.NewDevice(t, ca, "ann")
	r.reg.Pair(r.d.ID, "ann")
	r.restart()
	return r
}

// restart opens a new ingest on the same folder.
func (r *rig) restart() {
	r.t.Helper()
	var err error
	r.s, err = ingest.New(ingest.Config{Root: r.root, ClientCAs: r.ca.Pool(), Owners: r.reg, Accounts: r.reg, NoSync: true,
		Now: func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now }})
	if err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) advance(d time.Duration) { r.mu.Lock(); r.now = r.now.Add(d); r.mu.Unlock() }

func (r *rig) serve(method, target string, body []byte) (int, []byte) {
	req := httptest.NewRequest(method, "https://ingest"+target, bytes.NewReader(body))
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{r.d.Cert.Leaf}}
	rec := httptest.NewRecorder()
	r.s.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func (r *rig) post(cose []byte) protocol.ManifestAnswer {
	r.t.Helper()
	code, b := r.serve("POST", protocol.PathManifests, cose)
	var a protocol.ManifestAnswer
	if err := json.Unmarshal(b, &a); code != 200 || err != nil {
		r.t.Fatalf("manifest: %d %s", code, b)
	}
	return a
}

// TestStoredObjectNotSentAgain: a later manifest that names an object the
// device already uploaded (a clip signed again after a crash, a thumbnail
// shared by two items) gets it linked: the answer does not ask for it, the
// item is complete and serves it — also after a restart of the ingest.
func TestStoredObjectNotSentAgain(t *testing.T) {
	r := newRig(t)
	clip := blob(3, 1, 0, 6000)
	c1, m1 := r.d.Next(t, ingesttest.Clip(clip))
	if a := r.post(c1); len(a.Missing) != 1 {
		t.Fatalf("first manifest: missing %+v", a.Missing)
	}
	if code, b := r.serve("PUT", protocol.ObjectPath(m1.Objects[0].SHA256)+"?offset=0", clip); code != 200 {
		t.Fatalf("clip: %d %s", code, b)
	}
	thumb := []byte("a thumbnail")
	c2, _ := r.d.Next(t, ingesttest.Clip(clip), ingesttest.Thumb(thumb))
	a := r.post(c2)
	if len(a.Missing) != 1 || a.Missing[0].Role != "thumbnail" {
		t.Fatalf("second manifest naming the stored clip: missing %+v, want only the thumbnail", a.Missing)
	}
	if st := r.s.Stats(); st.ObjectsLinked != 1 {
		t.Errorf("ObjectsLinked = %d, want 1", st.ObjectsLinked)
	}
	got, err := os.ReadFile(filepath.Join(r.root, "store", "devices", r.d.ID, "00000000000000000002", "obj-clip"))
	if err != nil || !bytes.Equal(got, clip) {
		t.Fatalf("item 2's clip: %d bytes, %v", len(got), err)
	}

	if code, b := r.serve("PUT", protocol.PathObjectPrefix+a.Missing[0].SHA256+"?offset=0", thumb); code != 200 {
		t.Fatalf("thumbnail: %d %s", code, b)
	}

	// After a restart, the stored objects are known again.
	r.restart()
	c3, _ := r.d.Next(t, ingesttest.Clip(clip), ingesttest.Thumb(thumb))
	if a := r.post(c3); len(a.Missing) != 0 || !a.Complete {
		t.Errorf("third manifest after a restart: missing %+v, complete %v; want nothing missing", a.Missing, a.Complete)
	}
}

// TestSweepStaging: a partial object left unwritten for the maximum age is
// removed from staging (and the ingest asks for it from offset 0 again); a
// recent one stays.
func TestSweepStaging(t *testing.T) {
	r := newRig(t)
	clip := blob(4, 1, 0, 8000)
	c1, m1 := r.d.Next(t, ingesttest.Clip(clip))
	r.post(c1)
	target := protocol.ObjectPath(m1.Objects[0].SHA256)
	if code, _ := r.serve("PUT", target+"?offset=0", clip[:3000]); code != http.StatusBadRequest {
		t.Fatalf("half the clip: %d, want truncated", code)
	}
	staged := filepath.Join(r.root, "staging", r.d.ID, protocol.FormatSHA256(m1.Objects[0].SHA256)+".part")
	if _, err := os.Stat(staged); err != nil {
		t.Fatalf("nothing staged: %v", err)
	}
	// The file's own time is the host's: age it by moving the clock from it.
	info, _ := os.Stat(staged)
	r.mu.Lock()
	r.now = info.ModTime().Add(time.Hour)
	r.mu.Unlock()
	if n, err := r.s.SweepStaging(24 * time.Hour); n != 0 || err != nil {
		t.Fatalf("sweep of a recent partial object: removed %d, %v", n, err)
	}
	r.advance(24 * time.Hour)
	if n, err := r.s.SweepStaging(24 * time.Hour); n != 1 || err != nil {
		t.Fatalf("sweep of an abandoned partial object: removed %d, %v; want 1", n, err)
	}
	if _, err := os.Stat(staged); err == nil {
		t.Error("the abandoned partial object is still staged")
	}
	if st := r.s.Stats(); st.StagingSwept != 1 {
		t.Errorf("StagingSwept = %d", st.StagingSwept)
	}
	if a := r.post(c1); len(a.Missing) != 1 || a.Missing[0].Offset != 0 {
		t.Errorf("replayed manifest after the sweep: missing %+v, want the clip from offset 0", a.Missing)
	}
	if code, b := r.serve("PUT", target+"?offset=0", clip); code != 200 {
		t.Errorf("the whole clip after the sweep: %d %s", code, b)
	}
}

// TestSweepStagingOrphan: a staged object that no stored manifest declares
// any more (its item was completed by a link) is removed at once.
func TestSweepStagingOrphan(t *testing.T) {
	r := newRig(t)
	dir := filepath.Join(r.root, "staging", r.d.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(dir, protocol.FormatSHA256([32]byte{1, 2, 3})+".part")
	if err := os.WriteFile(orphan, []byte("left over"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := r.s.SweepStaging(24 * time.Hour); n != 1 || err != nil {
		t.Fatalf("sweep: removed %d, %v; want the orphan", n, err)
	}
	if _, err := os.Stat(orphan); err == nil {
		t.Error("the orphan is still staged")
	}
}
