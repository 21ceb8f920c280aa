package live

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/fxamacker/cbor/v2"
)

// Content types of the two signed signaling messages.
const (
	OfferContentType  = "application/vnd.camagent.live-offer.v1+cbor"
	AnswerContentType = "application/vnd.camagent.live-answer.v1+cbor"
)

// Limits of the signaling decoders.
const (
	// MinNonce and MaxNonce bound the viewer nonce, in bytes.
	MinNonce = 16
	MaxNonce = 64
	// MaxSDP is the largest session description accepted, in bytes.
	MaxSDP = 32 << 10
	// MaxReason bounds a refusal's text.
	MaxReason = 256
	// maxSession bounds the session ID text.
	maxSession = 64
)

// Media kinds an answer announces.
const (
	MediaH264 = "h264" // an H.264 video track
	MediaJPEG = "jpeg" // JPEG pictures over the "live" data channel
)

// Errors of the signaling layer; test them with errors.Is.
var (
	// ErrMalformed: the message is not a well-formed signed offer or answer.
	ErrMalformed = errors.New("live: malformed signaling message")
	// ErrSignature: the signature does not verify with the key that must have made it.
	ErrSignature = errors.New("live: signature does not verify")
	// ErrMisaddressed: the message names another device.
	ErrMisaddressed = errors.New("live: message is for another device")
	// ErrExpired: the offer's expiry has passed (or its lifetime is too long or
	// it was issued in the future).
	ErrExpired = errors.New("live: offer expired or not yet valid")
	// ErrReplayed: an offer with this nonce was seen before.
	ErrReplayed = errors.New("live: offer replayed")
	// ErrNonceMismatch: the answer is for another offer.
	ErrNonceMismatch = errors.New("live: answer is for another offer")
	// ErrRefused: the device signed a refusal.
	ErrRefused = errors.New("live: device refused the offer")
	// ErrNotPaired: the device has no owner, so it accepts no offer.
	ErrNotPaired = errors.New("live: device not paired")
	// ErrBusy: the viewer limit is reached.
	ErrBusy = errors.New("live: too many viewers")
)

// Offer is what the owner signs to ask a device for a live session.
type Offer struct {
	DeviceID string
	Nonce    []byte // the viewer's fresh random nonce, MinNonce..MaxNonce bytes
	Issued   time.Time
	Expires  time.Time
	SDP      string // the viewer's complete SDP offer (ICE candidates included)
}

// Answer is what the device signs in reply to an Offer.
type Answer struct {
	DeviceID    string
	Session     string
	Nonce       []byte // the offer's nonce
	Media       string // MediaH264 or MediaJPEG; "" in a refusal
	SDP         string // the device's complete SDP answer; "" in a refusal
	Fingerprint string // the DTLS fingerprint in SDP ("sha-256 AB:CD:..."); "" in a refusal
	Refused     string // why the offer was refused; "" when accepted
}

type offerWire struct {
	Version uint64 `cbor:"1,keyasint"`
	Device  string `cbor:"2,keyasint"`
	Nonce   []byte `cbor:"3,keyasint"`
	Issued  int64  `cbor:"4,keyasint"`
	Expires int64  `cbor:"5,keyasint"`
	SDP     string `cbor:"6,keyasint"`
}

type answerWire struct {
	Version     uint64 `cbor:"1,keyasint"`
	Device      string `cbor:"2,keyasint"`
	Session     string `cbor:"3,keyasint"`
	Nonce       []byte `cbor:"4,keyasint"`
	Media       string `cbor:"5,keyasint"`
	SDP         string `cbor:"6,keyasint"`
	Fingerprint string `cbor:"7,keyasint"`
	Refused     string `cbor:"8,keyasint"`
}

func (o Offer) check() error {
	if err := identity.ValidDeviceID(o.DeviceID); err != nil {
		return err
	}
	if len(o.Nonce) < MinNonce || len(o.Nonce) > MaxNonce {
		return fmt.Errorf("nonce is %d bytes (want %d..%d)", len(o.Nonce), MinNonce, MaxNonce)
	}
	if !o.Expires.After(o.Issued) {
		return errors.New("expiry is not after issue time")
	}
	if o.SDP == "" || len(o.SDP) > MaxSDP {
		return fmt.Errorf("SDP must be 1..%d bytes", MaxSDP)
	}
	if _, err := SDPFingerprint(o.SDP); err != nil {
		return err
	}
	return nil
}

func (a Answer) check() error {
	if err := identity.ValidDeviceID(a.DeviceID); err != nil {
		return err
	}
	if len(a.Nonce) < MinNonce || len(a.Nonce) > MaxNonce {
		return fmt.Errorf("nonce is %d bytes (want %d..%d)", len(a.Nonce), MinNonce, MaxNonce)
	}
	if len(a.Session) > maxSession || len(a.Refused) > MaxReason || len(a.SDP) > MaxSDP {
		return errors.New("a field is over its limit")
	}
	if a.Refused != "" {
		if a.SDP != "" || a.Fingerprint != "" || a.Media != "" {
			return errors.New("a refusal carries a session description")
		}
		return nil
	}
	if a.Session == "" {
		return errors.New("no session ID")
	}
	if a.Media != MediaH264 && a.Media != MediaJPEG {
		return fmt.Errorf("media %.16q is not %q or %q", a.Media, MediaH264, MediaJPEG)
	}
	fp, err := SDPFingerprint(a.SDP)
	if err != nil {
		return err
	}
	if fp != a.Fingerprint {
		return errors.New("signed fingerprint differs from the SDP's")
	}
	return nil
}

// fingerprintLine matches an SDP a=fingerprint attribute.
var fingerprintLine = regexp.MustCompile(`(?m)^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)\r?$`)

// SDPFingerprint returns the one DTLS fingerprint of sdp as "alg HEX:HEX...",
// the hash lowercased and the hex uppercased. It refuses an SDP with no
// fingerprint or with two different ones.
func SDPFingerprint(sdp string) (string, error) {
	ms := fingerprintLine.FindAllStringSubmatch(sdp, 8)
	if len(ms) == 0 {
		return "", errors.New("SDP has no DTLS fingerprint")
	}
	fp := strings.ToLower(ms[0][1]) + " " + strings.ToUpper(ms[0][2])
	for _, m := range ms[1:] {
		if strings.ToLower(m[1])+" "+strings.ToUpper(m[2]) != fp {
			return "", errors.New("SDP has more than one DTLS fingerprint")
		}
	}
	return fp, nil
}

// marshal encodes v in core deterministic CBOR.
func marshal(v any) ([]byte, error) {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, err
	}
	return em.Marshal(v)
}

// strictDec refuses duplicate keys, indefinite lengths, tags, unknown fields
// and anything nested deeper or wider than a signaling message needs.
func strictDec() (cbor.DecMode, error) {
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

// decodeCanonical decodes payload into v and requires that it is the
// canonical encoding with every key present.
func decodeCanonical(payload []byte, v any) error {
	dm, err := strictDec()
	if err != nil {
		return err
	}
	if err := dm.Unmarshal(payload, v); err != nil {
		return err
	}
	again, err := marshal(v)
	if err != nil || !bytes.Equal(again, payload) {
		return errors.New("payload is not canonical CBOR with every key present")
	}
	return nil
}

// SealOffer signs o with the owner's key.
func SealOffer(o Offer, owner crypto.Signer) ([]byte, error) {
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("live: seal offer: %w", err)
	}
	payload, err := marshal(offerWire{Version: 1, Device: o.DeviceID, Nonce: o.Nonce,
		Issued: o.Issued.UnixMilli(), Expires: o.Expires.UnixMilli(), SDP: o.SDP})
	if err != nil {
		return nil, fmt.Errorf("live: seal offer: %w", err)
	}
	out, err := envelope.Seal(owner, OfferContentType, nil, payload)
	if err != nil {
		return nil, fmt.Errorf("live: seal offer: %w", err)
	}
	return out, nil
}

// ParseOffer checks that signed is a well-formed offer and returns it
// WITHOUT verifying its signature; VerifyOffer is what a device uses.
func ParseOffer(signed []byte) (Offer, *envelope.Message, error) {
	msg, err := envelope.Parse(signed, OfferContentType)
	if err != nil {
		return Offer{}, nil, fmt.Errorf("live: offer: %w: %w", ErrMalformed, err)
	}
	var w offerWire
	if err := decodeCanonical(msg.Payload, &w); err != nil {
		return Offer{}, nil, fmt.Errorf("live: offer: %w: %v", ErrMalformed, err)
	}
	if w.Version != 1 {
		return Offer{}, nil, fmt.Errorf("live: offer: %w: version %d", ErrMalformed, w.Version)
	}
	o := Offer{DeviceID: w.Device, Nonce: w.Nonce, Issued: time.UnixMilli(w.Issued).UTC(),
		Expires: time.UnixMilli(w.Expires).UTC(), SDP: w.SDP}
	if err := o.check(); err != nil {
		return Offer{}, nil, fmt.Errorf("live: offer: %w: %v", ErrMalformed, err)
	}
	return o, msg, nil
}

// VerifyOffer checks that signed is an offer signed by ownerKey, addressed
// to deviceID, valid at now and living at most maxLife. Replay is the
// caller's check (it needs memory): see Server.
func VerifyOffer(signed []byte, ownerKey *ecdsa.PublicKey, deviceID string, now time.Time, maxLife time.Duration) (Offer, error) {
	return VerifyOfferAny(signed, []*ecdsa.PublicKey{ownerKey}, deviceID, now, maxLife)
}

// VerifyOfferAny is VerifyOffer for an owner with several keys (the keys its
// owner binding names): the offer must be signed by one of ownerKeys.
func VerifyOfferAny(signed []byte, ownerKeys []*ecdsa.PublicKey, deviceID string, now time.Time, maxLife time.Duration) (Offer, error) {
	o, msg, err := ParseOffer(signed)
	if err != nil {
		return Offer{}, err
	}
	signedBy := -1
	for i, k := range ownerKeys {
		if k != nil && msg.Verify(k) == nil {
			signedBy = i
			break
		}
	}
	if signedBy < 0 {
		return Offer{}, fmt.Errorf("live: offer: %w: not signed by any of the owner's %d keys", ErrSignature, len(ownerKeys))
	}
	if o.DeviceID != deviceID {
		return Offer{}, fmt.Errorf("live: offer: %w: it names %s", ErrMisaddressed, o.DeviceID)
	}
	switch {
	case !now.Before(o.Expires):
		return Offer{}, fmt.Errorf("live: offer: %w: expired at %s", ErrExpired, o.Expires.Format(time.RFC3339))
	case o.Expires.Sub(o.Issued) > maxLife:
		return Offer{}, fmt.Errorf("live: offer: %w: lifetime %s over %s", ErrExpired, o.Expires.Sub(o.Issued), maxLife)
	case o.Issued.After(now.Add(maxLife)):
		return Offer{}, fmt.Errorf("live: offer: %w: issued in the future (%s)", ErrExpired, o.Issued.Format(time.RFC3339))
	}
	return o, nil
}

// SealAnswer signs a with the device key; kid is the device ID.
func SealAnswer(a Answer, device crypto.Signer) ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("live: seal answer: %w", err)
	}
	payload, err := marshal(answerWire{Version: 1, Device: a.DeviceID, Session: a.Session,
		Nonce: a.Nonce, Media: a.Media, SDP: a.SDP, Fingerprint: a.Fingerprint, Refused: a.Refused})
	if err != nil {
		return nil, fmt.Errorf("live: seal answer: %w", err)
	}
	out, err := envelope.Seal(device, AnswerContentType, []byte(a.DeviceID), payload)
	if err != nil {
		return nil, fmt.Errorf("live: seal answer: %w", err)
	}
	return out, nil
}

// ParseAnswer checks that signed is a well-formed answer and returns it
// WITHOUT verifying its signature; VerifyAnswer is what a viewer uses.
func ParseAnswer(signed []byte) (Answer, *envelope.Message, error) {
	msg, err := envelope.Parse(signed, AnswerContentType)
	if err != nil {
		return Answer{}, nil, fmt.Errorf("live: answer: %w: %w", ErrMalformed, err)
	}
	var w answerWire
	if err := decodeCanonical(msg.Payload, &w); err != nil {
		return Answer{}, nil, fmt.Errorf("live: answer: %w: %v", ErrMalformed, err)
	}
	if w.Version != 1 {
		return Answer{}, nil, fmt.Errorf("live: answer: %w: version %d", ErrMalformed, w.Version)
	}
	a := Answer{DeviceID: w.Device, Session: w.Session, Nonce: w.Nonce, Media: w.Media,
		SDP: w.SDP, Fingerprint: w.Fingerprint, Refused: w.Refused}
	if err := a.check(); err != nil {
		return Answer{}, nil, fmt.Errorf("live: answer: %w: %v", ErrMalformed, err)
	}
	if string(msg.KID) != a.DeviceID {
		return Answer{}, nil, fmt.Errorf("live: answer: %w: kid differs from the device ID", ErrMalformed)
	}
	return a, msg, nil
}

// VerifyAnswer checks that signed is an answer signed by the device key
// pinned at pairing, that this key is the one of deviceID, and that it
// answers the offer with nonce. A signed refusal returns the answer and an
// error wrapping ErrRefused.
func VerifyAnswer(signed []byte, pinned *ecdsa.PublicKey, deviceID string, nonce []byte) (Answer, error) {
	a, msg, err := ParseAnswer(signed)
	if err != nil {
		return Answer{}, err
	}
	pinnedID, err := identity.DeviceID(pinned)
	if err != nil {
		return Answer{}, fmt.Errorf("live: answer: pinned key: %w", err)
	}
	if pinnedID != deviceID {
		return Answer{}, fmt.Errorf("live: answer: the pinned key is %s's, not %s's", pinnedID, deviceID)
	}
	if err := msg.Verify(pinned); err != nil {
		return Answer{}, fmt.Errorf("live: answer: %w: not signed by %s's pinned key", ErrSignature, deviceID)
	}
	if a.DeviceID != deviceID {
		return Answer{}, fmt.Errorf("live: answer: %w: it names %s", ErrMisaddressed, a.DeviceID)
	}
	if !bytes.Equal(a.Nonce, nonce) {
		return Answer{}, fmt.Errorf("live: answer: %w", ErrNonceMismatch)
	}
	if a.Refused != "" {
		return a, fmt.Errorf("live: %w: %s", ErrRefused, a.Refused)
	}
	return a, nil
}
