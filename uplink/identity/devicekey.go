package identity

import (
	"crypto"
	"fmt"
	"io"
	"log/slog"

	"github.com/camagent/camagent/board/keystore"
)

// DeviceKey is the device's signing key together with its device ID. The
// board's keystore holds the private key and hands out only a crypto.Signer;
// DeviceKey adds what the key means here: the ID every manifest, certificate
// and owner binding names. It implements crypto.Signer and never prints the
// private key (it does not hold one: only the keystore's signer).
type DeviceKey struct {
	signer crypto.Signer
	id     string
	path   string
}

// NewDeviceKey wraps a device signer (a keystore file key, or a board's own
// secure element) and computes its device ID; the key must be ECDSA P-256.
func NewDeviceKey(s crypto.Signer) (*DeviceKey, error) {
	id, err := DeviceID(s.Public())
	if err != nil {
		return nil, fmt.Errorf("identity: device key: %w", err)
	}
	return &DeviceKey{signer: s, id: id}, nil
}

// OpenDeviceKey opens the device key file at path (keystore.Open: created
// when absent, never replaced) and wraps it. created reports whether this
// call made the key.
func OpenDeviceKey(path string) (k *DeviceKey, created bool, err error) {
	fk, created, err := keystore.Open(path)
	if err != nil {
		return nil, false, err
	}
	k, err = NewDeviceKey(fk)
	if err != nil {
		return nil, false, fmt.Errorf("identity: device key %s: %w", path, err)
	}
	k.path = path
	return k, created, nil
}

// DeviceID returns the device ID of the key (see DeviceID).
func (k *DeviceKey) DeviceID() string { return k.id }

// Path returns the key file's path, or "" when the key is not a file.
func (k *DeviceKey) Path() string { return k.path }

// Public returns the device's public key (*ecdsa.PublicKey, P-256).
func (k *DeviceKey) Public() crypto.PublicKey { return k.signer.Public() }

// Sign signs digest with the device key (crypto.Signer).
func (k *DeviceKey) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.signer.Sign(rand, digest, opts)
}

// String returns "identity.DeviceKey(<device id>)"; never the key.
func (k DeviceKey) String() string { return "identity.DeviceKey(" + k.id + ")" }

// GoString is String: %#v must not dump the signer either.
func (k DeviceKey) GoString() string { return k.String() }

// Format prints String for every verb.
func (k DeviceKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// MarshalJSON encodes the key as its String.
func (k DeviceKey) MarshalJSON() ([]byte, error) { return fmt.Appendf(nil, "%q", k.String()), nil }

// LogValue makes slog print String.
func (k DeviceKey) LogValue() slog.Value { return slog.StringValue(k.String()) }
