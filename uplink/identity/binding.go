package identity

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/envelope"
	"github.com/fxamacker/cbor/v2"
)

// BindingContentType is the protected content type of a signed owner binding.
const BindingContentType = "application/vnd.camagent.owner-binding.v1+cbor"

// BindingFile is the file name of the stored binding, next to the device key.
const BindingFile = "owner.binding"

// maxAccount bounds the owner account ID.
const maxAccount = 128

// Errors about owner bindings; test them with errors.Is.
var (
	// ErrNotPaired: no owner binding is stored (absent, not broken).
	ErrNotPaired = errors.New("identity: not paired")
	// ErrBadBinding: the binding is not a well-formed signed binding.
	ErrBadBinding = errors.New("identity: malformed owner binding")
	// ErrBindingSignature: the binding is not signed by the cloud's pairing key.
	ErrBindingSignature = errors.New("identity: owner binding not signed by the cloud pairing key")
	// ErrWrongDevice: the binding is for another device.
	ErrWrongDevice = errors.New("identity: owner binding is for another device")
)

// OwnerBinding says which account owns a device and which key speaks for
// that account.
type OwnerBinding struct {
	DeviceID     string
	OwnerAccount string
	OwnerKey     []byte // SubjectPublicKeyInfo DER, ECDSA P-256
	Issued       time.Time
}

// bindingWire is the CBOR form (see the package doc's table). No omitempty:
// every key is always encoded, so the canonical round trip in decode also
// proves that every key was present.
type bindingWire struct {
	Version  uint64 `cbor:"1,keyasint"`
	Device   string `cbor:"2,keyasint"`
	Account  string `cbor:"3,keyasint"`
	OwnerKey []byte `cbor:"4,keyasint"`
	Issued   int64  `cbor:"5,keyasint"`
}

func (b OwnerBinding) check() error {
	if err := ValidDeviceID(b.DeviceID); err != nil {
		return err
	}
	if b.OwnerAccount == "" || len(b.OwnerAccount) > maxAccount {
		return fmt.Errorf("owner account must be 1..%d bytes", maxAccount)
	}
	if _, err := ParsePublicKey(b.OwnerKey); err != nil {
		return fmt.Errorf("owner key: %w", err)
	}
	return nil
}

// SignOwnerBinding signs b with the cloud's pairing key (the cloud side of
// pairing; the device only verifies).
func SignOwnerBinding(b OwnerBinding, cloud crypto.Signer) ([]byte, error) {
	if err := b.check(); err != nil {
		return nil, fmt.Errorf("identity: sign owner binding: %w", err)
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, fmt.Errorf("identity: sign owner binding: %w", err)
	}
	payload, err := enc.Marshal(bindingWire{
		Version:  1,
		Device:   b.DeviceID,
		Account:  b.OwnerAccount,
		OwnerKey: b.OwnerKey,
		Issued:   b.Issued.UnixMilli(),
	})
	if err != nil {
		return nil, fmt.Errorf("identity: sign owner binding: %w", err)
	}
	out, err := envelope.Seal(cloud, BindingContentType, nil, payload)
	if err != nil {
		return nil, fmt.Errorf("identity: sign owner binding: %w", err)
	}
	return out, nil
}

// VerifyOwnerBinding checks that signed is an owner binding signed by
// cloudKey for deviceID and returns it.
func VerifyOwnerBinding(signed []byte, cloudKey crypto.PublicKey, deviceID string) (OwnerBinding, error) {
	msg, err := envelope.Parse(signed, BindingContentType)
	if err != nil {
		return OwnerBinding{}, fmt.Errorf("identity: owner binding: %w: %w", ErrBadBinding, err)
	}
	if err := msg.Verify(cloudKey); err != nil {
		if errors.Is(err, envelope.ErrUnsupportedKey) {
			return OwnerBinding{}, fmt.Errorf("identity: owner binding: cloud key: %w", err)
		}
		return OwnerBinding{}, fmt.Errorf("identity: owner binding: %w: %w", ErrBindingSignature, err)
	}
	b, err := decodeBinding(msg.Payload)
	if err != nil {
		return OwnerBinding{}, fmt.Errorf("identity: owner binding: %w: %v", ErrBadBinding, err)
	}
	if b.DeviceID != deviceID {
		return OwnerBinding{}, fmt.Errorf("identity: owner binding: %w: it names %s, this is %.64q", ErrWrongDevice, b.DeviceID, deviceID)
	}
	return b, nil
}

func decodeBinding(payload []byte) (OwnerBinding, error) {
	dec, err := strictDecMode()
	if err != nil {
		return OwnerBinding{}, err
	}
	var w bindingWire
	if err := dec.Unmarshal(payload, &w); err != nil {
		return OwnerBinding{}, err
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return OwnerBinding{}, err
	}
	again, err := enc.Marshal(w)
	if err != nil || !bytes.Equal(again, payload) {
		return OwnerBinding{}, errors.New("payload is not canonical CBOR with every key present")
	}
	if w.Version != 1 {
		return OwnerBinding{}, fmt.Errorf("version %d (want 1)", w.Version)
	}
	b := OwnerBinding{
		DeviceID:     w.Device,
		OwnerAccount: w.Account,
		OwnerKey:     w.OwnerKey,
		Issued:       time.UnixMilli(w.Issued).UTC(),
	}
	if err := b.check(); err != nil {
		return OwnerBinding{}, err
	}
	return b, nil
}

// strictDecMode refuses duplicate keys, indefinite lengths, tags, unknown
// fields and anything nested deeper or wider than a binding needs.
func strictDecMode() (cbor.DecMode, error) {
	return cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
}

// BindingPath is where the binding is stored for a device key at keyPath.
func BindingPath(keyPath string) string {
	return filepath.Join(filepath.Dir(keyPath), BindingFile)
}

// SaveOwnerBinding verifies signed (as VerifyOwnerBinding) and only then
// stores it at path (mode 0600, atomic replace). It keeps the signed bytes so
// that LoadOwnerBinding re-verifies them.
func SaveOwnerBinding(path string, signed []byte, cloudKey crypto.PublicKey, deviceID string) (OwnerBinding, error) {
	b, err := VerifyOwnerBinding(signed, cloudKey, deviceID)
	if err != nil {
		return OwnerBinding{}, err
	}
	if err := atomicfile.WriteFile(path, signed, 0o600); err != nil {
		return OwnerBinding{}, fmt.Errorf("identity: save owner binding: %w", err)
	}
	return b, nil
}

// LoadOwnerBinding reads and re-verifies the binding stored at path. It
// returns ErrNotPaired when there is none.
func LoadOwnerBinding(path string, cloudKey crypto.PublicKey, deviceID string) (OwnerBinding, error) {
	signed, err := atomicfile.ReadFileMax(path, envelope.MaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return OwnerBinding{}, fmt.Errorf("identity: load owner binding %s: %w", path, ErrNotPaired)
	}
	if err != nil {
		return OwnerBinding{}, fmt.Errorf("identity: load owner binding: %w", err)
	}
	b, err := VerifyOwnerBinding(signed, cloudKey, deviceID)
	if err != nil {
		return OwnerBinding{}, fmt.Errorf("identity: load owner binding %s: %w", path, err)
	}
	return b, nil
}
