package manifest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/fxamacker/cbor/v2"
)

// ContentType is the protected COSE content type of a manifest.
const ContentType = "application/vnd.camagent.manifest.v1+cbor"

// Version is the manifest format version this package writes and reads.
const Version = 1

// SidecarSuffix replaces a clip's extension to name its manifest, as in the
// SD card layout of package storage (storage.ExtManifest):
// "2025/01/02/120304-e7.mp4" has "2025/01/02/120304-e7.manifest" (and its
// thumbnail is "2025/01/02/120304-e7.jpg").
const SidecarSuffix = ".manifest"

// Limits enforced by Sign and by every decoder.
const (
	MaxSize        = envelope.MaxSize // bytes of COSE
	MaxObjects     = 16
	MaxOwnerLen    = 128
	MaxBootIDLen   = 64
	MaxRoleLen     = 16
	MaxMediaType   = 64
	maxPublicKey   = 256
	maxPPM         = 1_000_000
	maxNestedLevel = 4 // manifest map > objects array > object map
)

// Roles of the objects a manifest covers.
const (
	RoleClip      = "clip"
	RoleThumbnail = "thumbnail"
	RoleSnapshot  = "snapshot" // a still the owner asked for, alone in its manifest
)

// Errors returned (wrapped) by Sign, Verify, VerifySelf and Parse; test them
// with errors.Is. Each failure has its own sentinel.
var (
	// ErrTooLarge: the COSE bytes are over MaxSize.
	ErrTooLarge = errors.New("manifest: too large")
	// ErrMalformed: not a canonical COSE_Sign1 manifest of this format
	// (bad CBOR, unknown or missing or duplicate field, indefinite length,
	// limits exceeded, non-canonical encoding, wrong content type).
	ErrMalformed = errors.New("manifest: malformed")
	// ErrBadSignature: the signature does not verify with the key.
	ErrBadSignature = errors.New("manifest: bad signature")
	// ErrKeyMismatch: kid, device ID, embedded public key and the
	// verifying key do not all agree.
	ErrKeyMismatch = errors.New("manifest: key does not match device ID")
)

// Manifest is what a device signs about the objects it sends. See the package
// doc for the wire format.
type Manifest struct {
	Version      uint64 // Version; Sign fills in 0
	DeviceID     string // Sign fills in "" with the signer's ID
	Owner        string // owner account ID; "" while the device is unpaired
	Seq          uint64 // per-device, never repeats (Sequencer); >= 1
	BootID       string // the kernel's boot ID of the run that made it
	StartMS      int64  // capture start, Unix milliseconds (device clock)
	EndMS        int64  // capture end, Unix milliseconds (device clock)
	ClockTrusted bool   // whether the device clock was synchronised
	Objects      []Object
	Motion       Motion
	Prev         [32]byte // Hash of the previous manifest; zero for the first
	PublicKey    []byte   // signer's SPKI DER; Sign fills in nil
}

// Object is one byte stream a manifest covers.
type Object struct {
	Role      string // RoleClip, RoleThumbnail, ...: [a-z0-9-]{1,16}, unique
	MediaType string // "video/mp4", "image/jpeg"
	Size      uint64
	SHA256    [32]byte
}

// Motion summarises the motion event that made the clip.
type Motion struct {
	PeakPPM uint32 // peak motion score, parts per million of the analysed area
	Boxes   uint32 // motion boxes in the peak frame
	StartMS int64  // event start, Unix milliseconds
	EndMS   int64  // event end, Unix milliseconds
}

// ScorePPM converts a motion score in [0,1] to parts per million, clamped.
func ScorePPM(score float64) uint32 {
	switch {
	case !(score > 0): // also NaN
		return 0
	case score >= 1:
		return maxPPM
	}
	return uint32(math.Round(score * maxPPM))
}

// Start returns the capture start as a time.
func (m *Manifest) Start() time.Time { return time.UnixMilli(m.StartMS).UTC() }

// End returns the capture end as a time.
func (m *Manifest) End() time.Time { return time.UnixMilli(m.EndMS).UTC() }

// Object returns the object with the given role.
func (m *Manifest) Object(role string) (Object, bool) {
	for _, o := range m.Objects {
		if o.Role == role {
			return o, true
		}
	}
	return Object{}, false
}

// HashObject reads r to the end and returns its Object entry.
func HashObject(role, mediaType string, r io.Reader) (Object, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Object{}, fmt.Errorf("manifest: hash %s: %w", role, err)
	}
	o := Object{Role: role, MediaType: mediaType, Size: uint64(n)}
	h.Sum(o.SHA256[:0])
	return o, nil
}

// Hash is the chain link of a manifest: SHA-256 over its COSE bytes, the
// value the next manifest carries in Prev. The envelope's canonical form
// makes it unique per signed manifest.
func Hash(cose []byte) [32]byte { return sha256.Sum256(cose) }

// SidecarPath names the manifest file of an object file: its extension
// replaced by SidecarSuffix.
func SidecarPath(objectPath string) string {
	return strings.TrimSuffix(objectPath, filepath.Ext(objectPath)) + SidecarSuffix
}

// Sign encodes m and signs it with signer (an ECDSA P-256 key). It fills in
// Version, DeviceID and PublicKey when they are zero and refuses values that
// disagree with the signer.
func Sign(m Manifest, signer crypto.Signer) ([]byte, error) {
	der, err := identity.PublicKeyDER(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("manifest: sign: %w", err)
	}
	id := identity.DeviceIDFromDER(der)
	if m.Version == 0 {
		m.Version = Version
	}
	if m.DeviceID == "" {
		m.DeviceID = id
	}
	if m.PublicKey == nil {
		m.PublicKey = der
	}
	if m.DeviceID != id || !bytes.Equal(m.PublicKey, der) {
		return nil, fmt.Errorf("manifest: sign: %w: manifest names %.64q, signer is %s", ErrKeyMismatch, m.DeviceID, id)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("manifest: sign: %w: %v", ErrMalformed, err)
	}
	payload, err := encode(&m)
	if err != nil {
		return nil, fmt.Errorf("manifest: sign: %w", err)
	}
	out, err := envelope.Seal(signer, ContentType, []byte(id), payload)
	if err != nil {
		if errors.Is(err, envelope.ErrTooLarge) {
			return nil, fmt.Errorf("manifest: sign: %w: %w", ErrTooLarge, err)
		}
		return nil, fmt.Errorf("manifest: sign: %w", err)
	}
	return out, nil
}

// Verify checks that cose is a manifest signed by pub, that its kid, its
// device ID, its embedded public key and pub all name the same device
// (DeviceID(pub) == kid == manifest device ID), and returns it.
func Verify(cose []byte, pub crypto.PublicKey) (Manifest, error) {
	msg, m, err := parse(cose)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest: verify: %w", err)
	}
	der, err := identity.PublicKeyDER(pub)
	if err != nil {
		return Manifest{}, fmt.Errorf("manifest: verify: %w: %w", ErrKeyMismatch, err)
	}
	if id := identity.DeviceIDFromDER(der); id != m.DeviceID || !bytes.Equal(der, m.PublicKey) {
		return Manifest{}, fmt.Errorf("manifest: verify: %w: signed as %s, the key given is %s", ErrKeyMismatch, m.DeviceID, id)
	}
	if err := msg.Verify(pub); err != nil {
		return Manifest{}, fmt.Errorf("manifest: verify: %w: %w", ErrBadSignature, err)
	}
	return m, nil
}

// VerifySelf verifies cose with the public key embedded in it, after checking
// that the key's hash is the manifest's device ID and kid. It proves that the
// holder of that device's key signed the manifest; whether that device is
// yours is a separate question (compare the device ID with the one you paired,
// or use Verify with the pinned key).
func VerifySelf(cose []byte) (Manifest, *ecdsa.PublicKey, error) {
	msg, m, err := parse(cose)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("manifest: verify: %w", err)
	}
	pub, err := identity.ParsePublicKey(m.PublicKey)
	if err != nil { // parse already checked it; keep the error path anyway
		return Manifest{}, nil, fmt.Errorf("manifest: verify: %w: %w", ErrMalformed, err)
	}
	if err := msg.Verify(pub); err != nil {
		return Manifest{}, nil, fmt.Errorf("manifest: verify: %w: %w", ErrBadSignature, err)
	}
	return m, pub, nil
}

// Parse decodes a manifest WITHOUT verifying its signature.
//
// UNVERIFIED: nothing Parse returns may be trusted, stored, shown or used to
// attribute anything; an attacker can write any value in it. It exists only
// to route bytes to the right verifier (the kid says which pinned key to try)
// and for diagnostics. It does check the structure, the limits, the canonical
// encoding, and that kid, device ID and embedded key agree with each other.
func Parse(cose []byte) (m Manifest, kid string, err error) {
	_, m, err = parse(cose)
	if err != nil {
		return Manifest{}, "", fmt.Errorf("manifest: parse: %w", err)
	}
	return m, m.DeviceID, nil
}

func parse(cose []byte) (*envelope.Message, Manifest, error) {
	msg, err := envelope.Parse(cose, ContentType)
	switch {
	case errors.Is(err, envelope.ErrTooLarge):
		return nil, Manifest{}, fmt.Errorf("%w: %w", ErrTooLarge, err)
	case err != nil:
		return nil, Manifest{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	m, err := decode(msg.Payload)
	if err != nil {
		return nil, Manifest{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if kid := string(msg.KID); kid != m.DeviceID {
		return nil, Manifest{}, fmt.Errorf("%w: kid %.64q but the manifest names %s", ErrKeyMismatch, kid, m.DeviceID)
	}
	if id := identity.DeviceIDFromDER(m.PublicKey); id != m.DeviceID {
		return nil, Manifest{}, fmt.Errorf("%w: embedded key is %s but the manifest names %s", ErrKeyMismatch, id, m.DeviceID)
	}
	return msg, m, nil
}

// check validates the fields' form (not the key relations).
func (m *Manifest) check() error {
	if m.Version != Version {
		return fmt.Errorf("version %d (want %d)", m.Version, Version)
	}
	if err := identity.ValidDeviceID(m.DeviceID); err != nil {
		return err
	}
	if len(m.Owner) > MaxOwnerLen || !utf8.ValidString(m.Owner) {
		return fmt.Errorf("owner must be UTF-8 of at most %d bytes", MaxOwnerLen)
	}
	if m.Seq == 0 {
		return errors.New("sequence number 0 (numbers start at 1)")
	}
	if m.BootID == "" || len(m.BootID) > MaxBootIDLen || !printable(m.BootID) {
		return fmt.Errorf("boot ID must be 1..%d printable ASCII bytes", MaxBootIDLen)
	}
	if m.EndMS < m.StartMS {
		return errors.New("capture ends before it starts")
	}
	if n := len(m.Objects); n == 0 || n > MaxObjects {
		return fmt.Errorf("%d objects (want 1..%d)", n, MaxObjects)
	}
	for i, o := range m.Objects {
		if !validRole(o.Role) {
			return fmt.Errorf("object %d: role must be [a-z0-9-]{1,%d}", i, MaxRoleLen)
		}
		for _, p := range m.Objects[:i] {
			if p.Role == o.Role {
				return fmt.Errorf("object %d: role %q appears twice", i, o.Role)
			}
		}
		if o.MediaType == "" || len(o.MediaType) > MaxMediaType || !printable(o.MediaType) {
			return fmt.Errorf("object %d: media type must be 1..%d printable ASCII bytes", i, MaxMediaType)
		}
	}
	if m.Motion.PeakPPM > maxPPM {
		return fmt.Errorf("motion peak %d ppm is over %d", m.Motion.PeakPPM, maxPPM)
	}
	if m.Motion.EndMS < m.Motion.StartMS {
		return errors.New("motion ends before it starts")
	}
	if len(m.PublicKey) > maxPublicKey {
		return errors.New("public key too long")
	}
	if _, err := identity.ParsePublicKey(m.PublicKey); err != nil {
		return err
	}
	return nil
}

func validRole(s string) bool {
	if s == "" || len(s) > MaxRoleLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// The wire form: integer keys, every key always present (no omitempty), so
// decode's canonical round trip also proves no key was missing.
type wire struct {
	Version uint64       `cbor:"1,keyasint"`
	Device  string       `cbor:"2,keyasint"`
	Owner   string       `cbor:"3,keyasint"`
	Seq     uint64       `cbor:"4,keyasint"`
	Boot    string       `cbor:"5,keyasint"`
	Start   int64        `cbor:"6,keyasint"`
	End     int64        `cbor:"7,keyasint"`
	Clock   bool         `cbor:"8,keyasint"`
	Objects []wireObject `cbor:"9,keyasint"`
	Motion  wireMotion   `cbor:"10,keyasint"`
	Prev    []byte       `cbor:"11,keyasint"`
	Pub     []byte       `cbor:"12,keyasint"`
}

type wireObject struct {
	Role   string `cbor:"1,keyasint"`
	Type   string `cbor:"2,keyasint"`
	Size   uint64 `cbor:"3,keyasint"`
	SHA256 []byte `cbor:"4,keyasint"`
}

type wireMotion struct {
	Peak  uint32 `cbor:"1,keyasint"`
	Boxes uint32 `cbor:"2,keyasint"`
	Start int64  `cbor:"3,keyasint"`
	End   int64  `cbor:"4,keyasint"`
}

func encode(m *Manifest) ([]byte, error) {
	w := wire{
		Version: m.Version, Device: m.DeviceID, Owner: m.Owner, Seq: m.Seq,
		Boot: m.BootID, Start: m.StartMS, End: m.EndMS, Clock: m.ClockTrusted,
		Objects: make([]wireObject, len(m.Objects)),
		Motion:  wireMotion{Peak: m.Motion.PeakPPM, Boxes: m.Motion.Boxes, Start: m.Motion.StartMS, End: m.Motion.EndMS},
		Prev:    m.Prev[:],
		Pub:     m.PublicKey,
	}
	for i := range m.Objects {
		o := &m.Objects[i]
		w.Objects[i] = wireObject{Role: o.Role, Type: o.MediaType, Size: o.Size, SHA256: o.SHA256[:]}
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	b, err := enc.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return b, nil
}

func decode(payload []byte) (Manifest, error) {
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   maxNestedLevel,
		MaxArrayElements:  MaxObjects,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		return Manifest{}, err
	}
	var w wire
	if err := dec.Unmarshal(payload, &w); err != nil {
		return Manifest{}, err
	}
	if len(w.Prev) != 32 {
		return Manifest{}, fmt.Errorf("prev is %d bytes (want 32)", len(w.Prev))
	}
	m := Manifest{
		Version: w.Version, DeviceID: w.Device, Owner: w.Owner, Seq: w.Seq,
		BootID: w.Boot, StartMS: w.Start, EndMS: w.End, ClockTrusted: w.Clock,
		Objects:   make([]Object, len(w.Objects)),
		Motion:    Motion{PeakPPM: w.Motion.Peak, Boxes: w.Motion.Boxes, StartMS: w.Motion.Start, EndMS: w.Motion.End},
		PublicKey: w.Pub,
	}
	copy(m.Prev[:], w.Prev)
	for i, o := range w.Objects {
		if len(o.SHA256) != 32 {
			return Manifest{}, fmt.Errorf("object %d: sha256 is %d bytes (want 32)", i, len(o.SHA256))
		}
		m.Objects[i] = Object{Role: o.Role, MediaType: o.Type, Size: o.Size}
		copy(m.Objects[i].SHA256[:], o.SHA256)
	}
	if err := m.check(); err != nil {
		return Manifest{}, err
	}
	again, err := encode(&m)
	if err != nil || !bytes.Equal(again, payload) {
		return Manifest{}, errors.New("payload is not canonical CBOR with every field present")
	}
	return m, nil
}
