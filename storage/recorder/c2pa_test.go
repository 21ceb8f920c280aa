package recorder

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/c2pa"
	"github.com/camagent/camagent/uplink/ingest/devca"
)

// TestThumbnailCredentials: with Config.Credentials the thumbnail carries a
// C2PA manifest signed by the device key, with the peak frame's time; a
// signer that fails leaves the thumbnail unsigned, not lost.
func TestThumbnailCredentials(t *testing.T) {
	ca, err := devca.New("recorder test CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := ca.IssueC2PA(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := c2pa.New(c2pa.Config{Key: key, Chain: []*x509.Certificate{cert, ca.Certificate()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		creds interface {
			SignJPEG([]byte, time.Time) ([]byte, error)
		}
	}{{"signed", signer}, {"signer fails", failingSigner{}}} {
		t.Run(tc.name, func(t *testing.T) {
			f := capture.Format{Pixel: capture.FormatYUYV, Width: 320, Height: 240, FPS: 10}
			src := &peaked{source: &source{n: 40, interval: 100 * time.Millisecond, format: f, fill: rawScene(f)}, peak: 25}
			r := newRig(t, nil, storage.StoreConfig{}, Config{PreRoll: time.Second, PostRoll: time.Second, Credentials: tc.creds}, src)
			src.rec = r.rec
			r.rec.Notify(Event{ID: 1, Start: at(2), End: at(3)})
			r.run(t)
			clips := r.clips(t)
			if len(clips) != 1 || clips[0].info.Thumbnail == "" {
				t.Fatalf("clips %+v", clips)
			}
			thumb, err := os.ReadFile(clips[0].info.Thumbnail)
			if err != nil {
				t.Fatal(err)
			}
			cr, err := c2pa.Verify(thumb, ca.Pool())
			if tc.creds == signer {
				if err != nil || cr.DeviceID != signer.DeviceID() || !cr.Captured.Equal(at(2.5)) {
					t.Fatalf("verify: %v %+v", err, cr)
				}
				return
			}
			if !errors.Is(err, c2pa.ErrNoManifest) {
				t.Fatalf("unsigned thumbnail: %v", err)
			}
		})
	}
}

type failingSigner struct{}

func (failingSigner) SignJPEG([]byte, time.Time) ([]byte, error) {
	return nil, errors.New("no key")
}
