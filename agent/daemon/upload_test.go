package daemon

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/upload"
)

func TestUploadsRoute(t *testing.T) {
	want := upload.Status{State: "idle", Queued: 1}
	r := uploadsRoute(func() upload.Status { return want })
	if r.Method != http.MethodGet || r.Path != control.PathUploads || r.Write {
		t.Errorf("route %+v", r)
	}
	rec := httptest.NewRecorder()
	r.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, control.PathUploads, nil))
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
