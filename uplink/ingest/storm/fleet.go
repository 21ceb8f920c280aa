package storm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/manifest"
)

// Fleet is N cameras with their keys and certificates from one dev CA. Runs
// share a fleet: key generation and certificates are paid once.
type Fleet struct {
	CADir   string
	CA      *devca.CA
	Devices []*Device
}

// Device is one simulated camera's identity.
type Device struct {
	Index   int
	Key     *ecdsa.PrivateKey
	ID      string
	Cert    tls.Certificate
	Account string
}

// NewFleet creates a dev CA in caDir (or opens the one there) and n cameras,
// device i paired to account "acct-<i mod accounts>". It uses every core.
func NewFleet(caDir string, n, accounts int) (*Fleet, error) {
	if n <= 0 || accounts <= 0 {
		return nil, fmt.Errorf("storm: fleet: want n > 0 and accounts > 0, got %d and %d", n, accounts)
	}
	ca, _, err := devca.Open(caDir, nil)
	if err != nil {
		return nil, fmt.Errorf("storm: fleet: %w", err)
	}
	f := &Fleet{CADir: caDir, CA: ca, Devices: make([]*Device, n)}
	from := ca.Certificate().NotBefore
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				d, err := newDevice(ca, i, fmt.Sprintf("acct-%05d", i%accounts), from)
				if err != nil {
					errs[w] = err
					return
				}
				f.Devices[i] = d
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("storm: fleet: %w", err)
		}
	}
	return f, nil
}

func newDevice(ca *devca.CA, i int, account string, from time.Time) (*Device, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id, err := identity.DeviceID(key.Public())
	if err != nil {
		return nil, err
	}
	cert, err := ca.IssueDevice(key.Public(), from, from.Add(365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	return &Device{Index: i, Key: key, ID: id, Account: account,
		Cert: tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}}, nil
}

// TLS is the camera's client TLS configuration, trusting roots.
func (d *Device) TLS(roots *x509.CertPool) *tls.Config {
	cert := d.Cert
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }}
}

// Blob is the content of object role (0 clip, 1 thumbnail) of item seq of
// device d: deterministic, so checks regenerate it instead of keeping it,
// and different for every device, item and role, with the device ID in
// clear at the start (a mix-up is visible in a hex dump).
func (d *Device) Blob(seq uint64, role, size int) []byte {
	b := make([]byte, size)
	n := copy(b, fmt.Sprintf("%s item %d role %d|", d.ID, seq, role))
	x := uint32(d.Index)*2654435761 ^ uint32(seq)*40503 ^ uint32(role)*97
	for i := n; i < size; i++ {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

// chain is a camera's manifest sequence within one run.
type chain struct {
	seq  uint64
	prev [32]byte
}

// sign makes the camera's next manifest over a clip and a thumbnail of the
// given sizes.
func (d *Device) sign(c *chain, clipSize, thumbSize int) ([]byte, manifest.Manifest, error) {
	c.seq++
	start := int64(1_750_000_000_000) + int64(c.seq)*10_000
	m := manifest.Manifest{Owner: d.Account, Seq: c.seq, BootID: "boot-storm", StartMS: start, EndMS: start + 9_000,
		ClockTrusted: true, Prev: c.prev, Motion: manifest.Motion{PeakPPM: 1000, Boxes: 1, StartMS: start, EndMS: start + 5_000}}
	for role, size := range []int{clipSize, thumbSize} {
		b := d.Blob(c.seq, role, size)
		r, mt := manifest.RoleClip, "video/mp4"
		if role == 1 {
			r, mt = manifest.RoleThumbnail, "image/jpeg"
		}
		m.Objects = append(m.Objects, manifest.Object{Role: r, MediaType: mt, Size: uint64(size), SHA256: sha256.Sum256(b)})
	}
	cose, err := manifest.Sign(m, d.Key)
	if err != nil {
		return nil, m, fmt.Errorf("storm: sign: %w", err)
	}
	c.prev = manifest.Hash(cose)
	return cose, m, nil
}
