package daemon

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/uplink/c2pa"
	"github.com/camagent/camagent/uplink/ingest/devca"
)

// TestContentCredentials: with the C2PA chain installed beside the device
// key, the daemon's signer signs snapshots that verify as this device; with
// none, pictures go unsigned.
func TestContentCredentials(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Identity.Key = filepath.Join(dir, "device.key")
	d := New(cfg, config.Source{}, Deps{Console: io.Discard, NoBoard: true, ProcRoot: dir, MountTable: filepath.Join(dir, "mounts")})
	if d.credentials() != nil {
		t.Fatal("a signer without a C2PA chain")
	}
	id, err := d.identity()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := devca.New("daemon test CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueC2PA(id.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), ca.CertPEM()...)
	if err := os.WriteFile(c2pa.ChainPath(cfg.Identity.Key), chain, 0o644); err != nil {
		t.Fatal(err)
	}
	signer := d.credentials()
	if signer == nil {
		t.Fatal("no signer with the chain installed")
	}

	fx := newShellFixture(t)
	fx.srv.cfg.Credentials = func() jpegSigner { return signer }
	fx.hub.frame = rawFrame(t, capture.Format{Pixel: capture.FormatYUYV, Width: 64, Height: 48, Stride: 128}, nil)
	fx.start(t)
	var r control.SnapshotResponse
	if err := fx.client.Post(t.Context(), control.PathSnapshot, nil, &r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(r.Path)
	if err != nil || len(data) != r.Bytes {
		t.Fatalf("read %s: %v (%d bytes, answer says %d)", r.Path, err, len(data), r.Bytes)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	cr, err := c2pa.Verify(data, roots)
	if err != nil || cr.DeviceID != id.id || !cr.Captured.Equal(r.Time) {
		t.Fatalf("snapshot credentials: %v %+v (frame time %v)", err, cr, r.Time)
	}
}
