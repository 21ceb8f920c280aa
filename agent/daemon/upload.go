package daemon

import (
	"crypto"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/upload"
)

// maxCAFile bounds the ingest CA file.
const maxCAFile = 256 << 10

// uploadSettings is what the daemon needs to start the uploader; the config
// keys map onto it.
type uploadSettings struct {
	// URL is the ingest's base URL, e.g. "https://10.0.2.100:8443".
	URL string
	// CAFile holds the PEM CA certificate(s) the ingest's certificate
	// chains to (camcloud's ca.crt).
	CAFile string
	// CertFile is the device certificate (PEM; identity.CertPath of the
	// key by default). It is read again when it changes.
	CertFile string
	// ServerName overrides the name checked on the ingest's certificate.
	ServerName string
	// Bandwidth caps the upload in bytes per second; 0 is no cap.
	Bandwidth int64
	// StartDelay is the most the first attempt waits after start
	// (default upload.DefaultStartDelay).
	StartDelay time.Duration
	// OnUploaded is told of each clip the ingest has whole (may be nil).
	OnUploaded func(name string)
}

// newUploader builds the uploader of the clips in store, authenticated by
// the device key (a keystore crypto.Signer) and its certificate. Run it as a
// part (it subscribes to the store itself); serve its Status with
// uploadsRoute.
func newUploader(s uploadSettings, key crypto.Signer, store upload.Store, log *slog.Logger) (*upload.Uploader, error) {
	id, err := identity.DeviceID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("upload: %w", err)
	}
	f, err := os.Open(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("upload: ingest CA: %w", err)
	}
	caPEM, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	f.Close()
	if err != nil || len(caPEM) > maxCAFile {
		return nil, fmt.Errorf("upload: ingest CA %s: unreadable or over %d bytes (%v)", s.CAFile, maxCAFile, err)
	}
	tlsCfg, err := upload.TLSConfig(key, s.CertFile, caPEM, s.ServerName)
	if err != nil {
		return nil, err
	}
	cc := upload.ClientConfig{URL: s.URL, TLS: tlsCfg}
	if s.Bandwidth > 0 {
		cc.Limiter = upload.NewLimiter(s.Bandwidth, nil, nil)
	}
	cl, err := upload.NewClient(cc)
	if err != nil {
		return nil, err
	}
	return upload.New(upload.Config{Store: store, Client: cl, DeviceID: id, Logger: log, StartDelay: s.StartDelay,
		OnUploaded: s.OnUploaded})
}

// uploadsRoute serves GET control.PathUploads with the uploader's status.
func uploadsRoute(status func() upload.Status) control.Route {
	return control.Route{Method: http.MethodGet, Path: control.PathUploads, Handler: http.HandlerFunc(
		func(w http.ResponseWriter, _ *http.Request) { control.WriteJSON(w, http.StatusOK, status()) })}
}
