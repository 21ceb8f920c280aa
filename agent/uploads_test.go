package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/upload"
)

func TestWriteUploads(t *testing.T) {
	now := time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)
	st := upload.Status{State: "backoff", Current: "2026/05/14/115900-e3", Queued: 3, QueuedBytes: 3 << 20,
		Uploaded: 7, BytesSent: 9 << 20, Failures: 2, LastError: "dial tcp: connection refused", LastCode: "error",
		LastErrorAt: now.Add(-time.Minute), NextAttempt: now.Add(12 * time.Second), Watching: 4,
		Items: []upload.ItemStatus{
			{Name: "2026/05/14/115900-e3", Seq: 12, Phase: "body", Sent: 512 << 10, Total: 1 << 20},
			{Name: "2026/05/14/115800-e2", Seq: 11, Phase: "parked", Total: 2 << 20, Reason: "hash-mismatch", RetryAt: now.Add(time.Hour)},
		}}
	var b bytes.Buffer
	if err := writeUploads(&b, st, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"backoff 2026/05/14/115900-e3 (next attempt in 12s)", "3 clips, 3.0 MiB", "7 uploaded",
		"connection refused (2 failures in a row)", "512.0 KiB / 1.0 MiB", "hash-mismatch, retry", "... 1 more"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestUploadsRoute(t *testing.T) {
	want := upload.Status{State: "idle", Queued: 1}
	r := uploadsRoute(func() upload.Status { return want })
	if r.Method != http.MethodGet || r.Path != pathUploads || r.Write {
		t.Errorf("route %+v", r)
	}
	rec := httptest.NewRecorder()
	r.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pathUploads, nil))
	var got upload.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.State != "idle" || got.Queued != 1 {
		t.Errorf("answer %d %s: %v", rec.Code, rec.Body, err)
	}
}

func TestNewUploader(t *testing.T) {
	dir := t.TempDir()
	key, _, err := identity.OpenDeviceKey(filepath.Join(dir, "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := devca.New("test", nil)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	store, err := storage.NewStore(storage.StoreConfig{Card: storage.NewCard(dir)})
	if err != nil {
		t.Fatal(err)
	}
	s := uploadSettings{URL: "https://10.0.2.100:8443", CAFile: caFile, CertFile: filepath.Join(dir, "device.crt"), Bandwidth: 64 << 10}
	if _, err := newUploader(s, key, store, nil); err != nil {
		t.Errorf("newUploader: %v", err)
	}
	for name, bad := range map[string]uploadSettings{
		"missing CA": {URL: s.URL, CAFile: filepath.Join(dir, "none"), CertFile: s.CertFile},
		"bad URL":    {URL: "ftp://x", CAFile: caFile, CertFile: s.CertFile},
		"CA not PEM": {URL: s.URL, CAFile: filepath.Join(dir, "device.key"), CertFile: s.CertFile},
	} {
		if _, err := newUploader(bad, key, store, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
