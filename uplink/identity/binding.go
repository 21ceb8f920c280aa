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

// MaxOwnerKeys bounds the keys one binding names (OwnerKey and MoreOwnerKeys).
const MaxOwnerKeys = 8

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
	// ErrStaleBinding: the binding is not newer than the one the device
	// holds (a replay or a rollback).
	ErrStaleBinding = errors.New("identity: owner binding is not newer than the one held")
)

// OwnerBinding says which account owns a device and which keys speak for
// that account.
type OwnerBinding struct {
	DeviceID     string
	OwnerAccount string
	OwnerKey     []byte // SubjectPublicKeyInfo DER, ECDSA P-256
	// MoreOwnerKeys are further keys of the same owner (a browser's WebCrypto
	// key beside the CLI's file key), SPKI DER, ECDSA P-256, all distinct;
	// at most MaxOwnerKeys-1. A binding with none is version 1 on the wire.
	MoreOwnerKeys [][]byte
	Issued        time.Time
}

// OwnerKeys returns every key the binding names, OwnerKey first.
func (b OwnerBinding) OwnerKeys() [][]byte {
	return append([][]byte{b.OwnerKey}, b.MoreOwnerKeys...)
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

// bindingWireV2 is version 2: key 4 is the array of owner keys.
type bindingWireV2 struct {
	Version   uint64   `cbor:"1,keyasint"`
	Device    string   `cbor:"2,keyasint"`
	Account   string   `cbor:"3,keyasint"`
	OwnerKeys [][]byte `cbor:"4,keyasint"`
	Issued    int64    `cbor:"5,keyasint"`
}

func (b OwnerBinding) check() error {
	if err := ValidDeviceID(b.DeviceID); err != nil {
		return err
	}
	if b.OwnerAccount == "" || len(b.OwnerAccount) > maxAccount {
		return fmt.Errorf("owner account must be 1..%d bytes", maxAccount)
	}
	keys := b.OwnerKeys()
	if len(keys) > MaxOwnerKeys {
		return fmt.Errorf("%d owner keys (at most %d)", len(keys), MaxOwnerKeys)
	}
	for i, k := range keys {
		if _, err := ParsePublicKey(k); err != nil {
			return fmt.Errorf("owner key %d: %w", i+1, err)
		}
		for _, o := range keys[:i] {
			if bytes.Equal(o, k) {
				return fmt.Errorf("owner key %d named twice", i+1)
			}
		}
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
	var w any = bindingWire{
		Version:  1,
		Device:   b.DeviceID,
		Account:  b.OwnerAccount,
		OwnerKey: b.OwnerKey,
		Issued:   b.Issued.UnixMilli(),
	}
	if len(b.MoreOwnerKeys) > 0 {
		w = bindingWireV2{Version: 2, Device: b.DeviceID, Account: b.OwnerAccount,
			OwnerKeys: b.OwnerKeys(), Issued: b.Issued.UnixMilli()}
	}
	payload, err := enc.Marshal(w)
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
	var head struct {
		Version uint64 `cbor:"1,keyasint"`
	}
	var b OwnerBinding
	var wire any
	var v1 bindingWire
	var v2 bindingWireV2
	// The version decides key 4's type: peek at it leniently, then decode
	// strictly as that version.
	if err := cbor.Unmarshal(payload, &head); err != nil {
		return OwnerBinding{}, err
	}
	switch head.Version {
	case 1:
		if err := dec.Unmarshal(payload, &v1); err != nil {
			return OwnerBinding{}, err
		}
		wire = v1
		b = OwnerBinding{DeviceID: v1.Device, OwnerAccount: v1.Account, OwnerKey: v1.OwnerKey,
			Issued: time.UnixMilli(v1.Issued).UTC()}
	case 2:
		if err := dec.Unmarshal(payload, &v2); err != nil {
			return OwnerBinding{}, err
		}
		if len(v2.OwnerKeys) < 2 {
			return OwnerBinding{}, fmt.Errorf("version 2 with %d owner keys (want 2..%d; one key is version 1)", len(v2.OwnerKeys), MaxOwnerKeys)
		}
		wire = v2
		b = OwnerBinding{DeviceID: v2.Device, OwnerAccount: v2.Account, OwnerKey: v2.OwnerKeys[0],
			MoreOwnerKeys: v2.OwnerKeys[1:], Issued: time.UnixMilli(v2.Issued).UTC()}
	default:
		return OwnerBinding{}, fmt.Errorf("version %d (want 1 or 2)", head.Version)
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return OwnerBinding{}, err
	}
	again, err := enc.Marshal(wire)
	if err != nil || !bytes.Equal(again, payload) {
		return OwnerBinding{}, errors.New("payload is not canonical CBOR with every key present")
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

// InstallOwnerBinding installs signed, a binding the cloud sent, at path in
// place of the binding held there. It must verify as VerifyOwnerBinding
// (the pinned pairing key, this device) and be newer than the held one:
// "newer" is a strictly later Issued time (Unix ms, signed by the cloud,
// which issues each binding of a device later than the last), so a replay
// of the held binding or of any older one (a rollback to a key since
// dropped) is refused with ErrStaleBinding. The very bytes already held are
// no error: installed is false. With no binding held (unpaired), or one
// that no longer verifies, any verified binding is installed; held says
// which (the zero binding when none was usable). The write is atomic
// (temporary file, fsync, rename, fsync of the folder): a refused binding
// or a power cut leaves the held one as it was.
func InstallOwnerBinding(path string, signed []byte, cloudKey crypto.PublicKey, deviceID string) (b, held OwnerBinding, installed bool, err error) {
	b, err = VerifyOwnerBinding(signed, cloudKey, deviceID)
	if err != nil {
		return OwnerBinding{}, OwnerBinding{}, false, err
	}
	old, rerr := atomicfile.ReadFileMax(path, envelope.MaxSize)
	if rerr == nil && bytes.Equal(old, signed) {
		return b, b, false, nil
	}
	if rerr == nil {
		if h, verr := VerifyOwnerBinding(old, cloudKey, deviceID); verr == nil {
			held = h
			if !b.Issued.After(h.Issued) {
				return b, held, false, fmt.Errorf("identity: owner binding: %w: issued %s, the held one %s",
					ErrStaleBinding, b.Issued.Format(time.RFC3339Nano), h.Issued.Format(time.RFC3339Nano))
			}
		}
	} else if !errors.Is(rerr, fs.ErrNotExist) {
		return b, held, false, fmt.Errorf("identity: install owner binding: the held one: %w", rerr)
	}
	if err := atomicfile.WriteFile(path, signed, 0o600); err != nil {
		return b, held, false, fmt.Errorf("identity: install owner binding: %w", err)
	}
	return b, held, true, nil
}
