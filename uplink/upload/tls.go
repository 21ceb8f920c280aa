package upload

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
)

// maxCertFile bounds the device certificate file.
const maxCertFile = 64 << 10

// TLSConfig returns a camera's client TLS configuration: it trusts only the
// CA certificates in caPEM, and presents the device certificate chain read
// from certPath (PEM, leaf first), whose key must be key's public key. key is
// the keystore's crypto.Signer: the private key never leaves it. The file is
// read again when it changes, so a certificate installed later by `camagent
// provision` is used without a restart. serverName overrides the name the
// ingest's certificate is checked against ("" : the URL's host).
func TLSConfig(key crypto.Signer, certPath string, caPEM []byte, serverName string) (*tls.Config, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: no CA certificate in the PEM given", ErrConfig)
	}
	if _, err := identity.DeviceID(key.Public()); err != nil {
		return nil, fmt.Errorf("upload: tls: %w", err)
	}
	l := &certLoader{path: certPath, key: key}
	return &tls.Config{
		RootCAs:              roots,
		ServerName:           serverName,
		MinVersion:           tls.VersionTLS12,
		GetClientCertificate: l.get,
	}, nil
}

// certLoader reads the device certificate file when it changes.
type certLoader struct {
	path string
	key  crypto.Signer

	mu      sync.Mutex
	modTime time.Time
	size    int64
	cert    *tls.Certificate
}

func (l *certLoader) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	info, err := os.Stat(l.path)
	if err != nil {
		return nil, fmt.Errorf("upload: device certificate: %w (run camagent provision)", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cert != nil && info.ModTime().Equal(l.modTime) && info.Size() == l.size {
		return l.cert, nil
	}
	c, err := LoadCertificate(l.path, l.key)
	if err != nil {
		return nil, err
	}
	l.cert, l.modTime, l.size = c, info.ModTime(), info.Size()
	return c, nil
}

// LoadCertificate reads a device certificate chain (PEM, leaf first) and
// pairs it with key: the leaf must be for key's public key and name its
// device ID.
func LoadCertificate(path string, key crypto.Signer) (*tls.Certificate, error) {
	data, err := atomicfile.ReadFileMax(path, maxCertFile)
	if err != nil {
		return nil, fmt.Errorf("upload: device certificate: %w", err)
	}
	c := &tls.Certificate{PrivateKey: key}
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			c.Certificate = append(c.Certificate, b.Bytes)
		}
	}
	if len(c.Certificate) == 0 {
		return nil, fmt.Errorf("upload: device certificate %s: no CERTIFICATE block", path)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("upload: device certificate %s: %w", path, err)
	}
	id, err := identity.CertDeviceID(leaf)
	if err != nil {
		return nil, fmt.Errorf("upload: device certificate %s: %w", path, err)
	}
	if kid, err := identity.DeviceID(key.Public()); err != nil || kid != id {
		return nil, fmt.Errorf("upload: device certificate %s is for %s, not for this device's key", path, id)
	}
	c.Leaf = leaf
	return c, nil
}
