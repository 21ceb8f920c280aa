package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

const (
	// IDPrefix starts every device ID.
	IDPrefix = "cam-"
	// IDHashBytes is how many bytes of the SHA-256 the ID keeps (see the
	// package doc for why 20).
	IDHashBytes = 20
	// IDLen is the length of a device ID in characters: the prefix and 32
	// base32 characters.
	IDLen = len(IDPrefix) + (IDHashBytes*8+4)/5
)

// Errors returned (wrapped) by this package; test them with errors.Is.
var (
	// ErrUnsupportedKey: the key is not an ECDSA P-256 key.
	ErrUnsupportedKey = errors.New("identity: key is not ECDSA P-256")
	// ErrBadDeviceID: the text is not a well-formed device ID.
	ErrBadDeviceID = errors.New("identity: malformed device ID")
	// ErrKeyMismatch: a device ID, certificate name or key disagree.
	ErrKeyMismatch = errors.New("identity: key does not match device ID")
)

// idEncoding is RFC 4648 base32, lowercase, without padding.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DeviceID returns the self-certifying ID of the device whose public key is
// pub: "cam-" + base32(SHA-256(SPKI DER)[:20]).
func DeviceID(pub crypto.PublicKey) (string, error) {
	der, err := PublicKeyDER(pub)
	if err != nil {
		return "", err
	}
	return DeviceIDFromDER(der), nil
}

// DeviceIDFromDER is DeviceID over an already encoded SubjectPublicKeyInfo.
// It does not check the DER; use ParsePublicKey for bytes from outside.
func DeviceIDFromDER(spki []byte) string {
	sum := sha256.Sum256(spki)
	return IDPrefix + idEncoding.EncodeToString(sum[:IDHashBytes])
}

// ValidDeviceID checks the form of a device ID (not that any device has it).
func ValidDeviceID(id string) error {
	if len(id) != IDLen || !strings.HasPrefix(id, IDPrefix) {
		return fmt.Errorf("%w: %.64q", ErrBadDeviceID, id)
	}
	for _, c := range id[len(IDPrefix):] {
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return fmt.Errorf("%w: %.64q", ErrBadDeviceID, id)
		}
	}
	// The last character carries 160 mod 5 = 0 spare bits, so every string
	// of the right form decodes; check anyway in case IDHashBytes changes.
	if _, err := idEncoding.DecodeString(id[len(IDPrefix):]); err != nil {
		return fmt.Errorf("%w: %.64q", ErrBadDeviceID, id)
	}
	return nil
}

// PublicKeyDER returns the DER SubjectPublicKeyInfo of an ECDSA P-256 key.
func PublicKeyDER(pub crypto.PublicKey) ([]byte, error) {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k == nil || k.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("identity: encode public key: %w", err)
	}
	return der, nil
}

// p256SPKIPrefix is the DER of a P-256 SubjectPublicKeyInfo up to the point:
// SEQUENCE { SEQUENCE { OID ecPublicKey, OID prime256v1 }, BIT STRING (66
// bytes, no unused bits) }, followed by the 65-byte uncompressed point.
const p256SPKIPrefix = "\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01" +
	"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00"

// ParsePublicKey parses a DER SubjectPublicKeyInfo that must hold an ECDSA
// P-256 key (a valid point on the curve) in its one canonical encoding (the
// one PublicKeyDER makes: uncompressed point), so that one key never has two
// device IDs.
func ParsePublicKey(spki []byte) (*ecdsa.PublicKey, error) {
	if len(spki) != len(p256SPKIPrefix)+65 || string(spki[:len(p256SPKIPrefix)]) != p256SPKIPrefix {
		return nil, fmt.Errorf("%w: not the DER SubjectPublicKeyInfo of an uncompressed P-256 key", ErrUnsupportedKey)
	}
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), spki[len(p256SPKIPrefix):])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedKey, err)
	}
	return k, nil
}

// PublicKeyPEM returns the public key as a PEM "PUBLIC KEY" block.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := PublicKeyDER(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM parses the first "PUBLIC KEY" PEM block of b.
func ParsePublicKeyPEM(b []byte) (*ecdsa.PublicKey, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%w: no PUBLIC KEY PEM block", ErrUnsupportedKey)
		}
		if blk.Type == "PUBLIC KEY" {
			return ParsePublicKey(blk.Bytes)
		}
	}
}

// CSR returns a PEM certificate signing request for the device: CN = deviceID,
// signed with ECDSA-SHA256 by signer. deviceID must be signer's own ID.
func CSR(signer crypto.Signer, deviceID string) ([]byte, error) {
	id, err := DeviceID(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("identity: csr: %w", err)
	}
	if id != deviceID {
		return nil, fmt.Errorf("identity: csr: %w: key is %s, asked for %.64q", ErrKeyMismatch, id, deviceID)
	}
	tmpl := &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: id},
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, signer)
	if err != nil {
		return nil, fmt.Errorf("identity: csr: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// CertDeviceID returns the device ID of a certificate's public key and checks
// that the certificate's CN names the same ID. It does not check the chain,
// validity period or usage: that is the TLS stack's job.
func CertDeviceID(cert *x509.Certificate) (string, error) {
	id, err := DeviceID(cert.PublicKey)
	if err != nil {
		return "", fmt.Errorf("identity: certificate: %w", err)
	}
	if cn := cert.Subject.CommonName; cn != id {
		return "", fmt.Errorf("identity: certificate: %w: CN is %.64q but its key is device %s", ErrKeyMismatch, cn, id)
	}
	return id, nil
}

// File names next to the device key (see keystore): the certificate the
// cloud's CA issued for it and the request for that certificate.
const (
	CertFile = "device.crt"
	CSRFile  = "device.csr"
)

// CertPath is where the device certificate for the key at keyPath is kept.
func CertPath(keyPath string) string { return filepath.Join(filepath.Dir(keyPath), CertFile) }

// CSRPath is where the certificate request for the key at keyPath is written.
func CSRPath(keyPath string) string { return filepath.Join(filepath.Dir(keyPath), CSRFile) }
