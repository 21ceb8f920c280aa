package identity

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
)

// Bounds of the small PEM files the agent reads beside the device key.
const (
	MaxPublicKeyFile = 16 << 10
	MaxCertFile      = 64 << 10
)

// ReadPublicKeyFile reads a PEM public key file (the vendor's service key,
// the cloud's pairing key). what names the key in errors, which say plainly
// when none is configured or none is there.
func ReadPublicKeyFile(path, what string) (crypto.PublicKey, error) {
	if path == "" {
		return nil, fmt.Errorf("no %s configured", what)
	}
	b, err := atomicfile.ReadFileMax(path, int64(MaxPublicKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s at %s", what, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	k, err := ParsePublicKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return k, nil
}

// Fingerprint names a public key for people: "sha256:" and the first 8
// bytes of the SHA-256 of its SubjectPublicKeyInfo, in hex.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := PublicKeyDER(pub)
	if err != nil {
		return "(not a P-256 key)"
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// CertSummary describes a device certificate file for people.
type CertSummary struct {
	Path                string
	Subject, Issuer     string
	NotBefore, NotAfter time.Time
	// MatchesKey reports that the certificate is for the given key.
	MatchesKey bool
	// Err says why the file could not be read or parsed.
	Err error
}

// DescribeCert reads the PEM certificate at path and says whom it names and
// whether it certifies pub; ok is false when there is no file.
func DescribeCert(path string, pub crypto.PublicKey) (s CertSummary, ok bool) {
	data, err := atomicfile.ReadFileMax(path, int64(MaxCertFile))
	if errors.Is(err, fs.ErrNotExist) {
		return CertSummary{}, false
	}
	s.Path = path
	if err != nil {
		s.Err = err
		return s, true
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		s.Err = errors.New("no CERTIFICATE PEM block")
		return s, true
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		s.Err = err
		return s, true
	}
	s.Subject, s.Issuer = cert.Subject.String(), cert.Issuer.String()
	s.NotBefore, s.NotAfter = cert.NotBefore, cert.NotAfter
	if der, err := PublicKeyDER(pub); err == nil {
		s.MatchesKey = bytes.Equal(der, cert.RawSubjectPublicKeyInfo)
	}
	return s, true
}
