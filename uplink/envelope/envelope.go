package envelope

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"

	"github.com/veraison/go-cose"
)

// MaxSize is the largest envelope Parse accepts, in bytes.
const MaxSize = 64 << 10

// maxContentType and maxKID bound the protected header's text fields.
const (
	maxContentType = 128
	maxKID         = 128
)

// Errors returned (wrapped) by Seal, Parse and Verify; test them with errors.Is.
var (
	// ErrTooLarge: the envelope is over MaxSize bytes.
	ErrTooLarge = errors.New("envelope: too large")
	// ErrMalformed: not a COSE_Sign1 with an ES256 signature and an attached payload.
	ErrMalformed = errors.New("envelope: malformed COSE_Sign1")
	// ErrNonCanonical: a valid COSE_Sign1 but not in the one canonical form
	// (extra headers, non-minimal CBOR, high-s signature, trailing bytes).
	ErrNonCanonical = errors.New("envelope: not in canonical form")
	// ErrWrongType: the protected content type is not the one expected.
	ErrWrongType = errors.New("envelope: wrong content type")
	// ErrBadSignature: the signature does not verify with the given key.
	ErrBadSignature = errors.New("envelope: signature does not verify")
	// ErrUnsupportedKey: the key is not an ECDSA P-256 key.
	ErrUnsupportedKey = errors.New("envelope: key is not ECDSA P-256")
)

// Message is a parsed envelope whose structure and canonical form were
// checked but whose signature was NOT verified: use Verify before trusting
// anything in it.
type Message struct {
	// KID is the protected key ID (nil when the signer set none).
	KID []byte
	// Payload is the signed payload.
	Payload []byte

	msg cose.Sign1Message
}

// Seal signs payload with signer (which must hold an ECDSA P-256 key) and
// returns the canonical COSE_Sign1 bytes. kid may be nil.
func Seal(signer crypto.Signer, contentType string, kid, payload []byte) ([]byte, error) {
	if err := checkHeaderFields(contentType, kid); err != nil {
		return nil, fmt.Errorf("envelope: seal: %w", err)
	}
	if payload == nil {
		payload = []byte{}
	}
	if err := checkKey(signer.Public()); err != nil {
		return nil, fmt.Errorf("envelope: seal: %w", err)
	}
	cs, err := cose.NewSigner(cose.AlgorithmES256, signer)
	if err != nil {
		return nil, fmt.Errorf("envelope: seal: %w", err)
	}
	msg := cose.NewSign1Message()
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelContentType] = contentType
	if kid != nil {
		msg.Headers.Protected[cose.HeaderLabelKeyID] = kid
	}
	msg.Payload = payload
	if err := msg.Sign(rand.Reader, nil, cs); err != nil {
		return nil, fmt.Errorf("envelope: seal: sign: %w", err)
	}
	if len(msg.Signature) != 64 {
		return nil, fmt.Errorf("envelope: seal: signer returned a %d-byte signature", len(msg.Signature))
	}
	lowS(msg.Signature[32:])
	out, err := msg.MarshalCBOR()
	if err != nil {
		return nil, fmt.Errorf("envelope: seal: encode: %w", err)
	}
	if len(out) > MaxSize {
		return nil, fmt.Errorf("envelope: seal: %d bytes: %w", len(out), ErrTooLarge)
	}
	return out, nil
}

// Parse checks that b is a canonical ES256 COSE_Sign1 of the given content
// type and returns its key ID and payload. It does NOT verify the signature.
func Parse(b []byte, contentType string) (*Message, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("envelope: parse: %d bytes (max %d): %w", len(b), MaxSize, ErrTooLarge)
	}
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(b); err != nil {
		return nil, fmt.Errorf("envelope: parse: %w: %v", ErrMalformed, err)
	}
	alg, err := msg.Headers.Protected.Algorithm()
	if err != nil || alg != cose.AlgorithmES256 {
		return nil, fmt.Errorf("envelope: parse: %w: algorithm is not ES256", ErrMalformed)
	}
	if msg.Payload == nil {
		return nil, fmt.Errorf("envelope: parse: %w: detached payload", ErrMalformed)
	}
	if len(msg.Signature) != 64 {
		return nil, fmt.Errorf("envelope: parse: %w: %d-byte signature", ErrMalformed, len(msg.Signature))
	}
	ct, ok := msg.Headers.Protected[cose.HeaderLabelContentType].(string)
	if !ok || ct != contentType {
		return nil, fmt.Errorf("envelope: parse: %w: got %.64q, want %q", ErrWrongType, ct, contentType)
	}
	var kid []byte
	if v, present := msg.Headers.Protected[cose.HeaderLabelKeyID]; present {
		if kid, ok = v.([]byte); !ok {
			return nil, fmt.Errorf("envelope: parse: %w: kid is not a byte string", ErrMalformed)
		}
	}
	if err := checkHeaderFields(ct, kid); err != nil {
		return nil, fmt.Errorf("envelope: parse: %w: %v", ErrMalformed, err)
	}
	if !bytes.Equal(msg.Headers.RawProtected, protectedBytes(ct, kid)) {
		return nil, fmt.Errorf("envelope: parse: %w: protected header", ErrNonCanonical)
	}
	if !bytes.Equal(msg.Headers.RawUnprotected, []byte{0xa0}) {
		return nil, fmt.Errorf("envelope: parse: %w: unprotected header is not empty", ErrNonCanonical)
	}
	if !isLowS(msg.Signature[32:]) {
		return nil, fmt.Errorf("envelope: parse: %w: signature s is not low", ErrNonCanonical)
	}
	again, err := msg.MarshalCBOR()
	if err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("envelope: parse: %w: CBOR encoding", ErrNonCanonical)
	}
	return &Message{KID: kid, Payload: msg.Payload, msg: msg}, nil
}

// Verify checks the message's signature with pub (an ECDSA P-256 key).
func (m *Message) Verify(pub crypto.PublicKey) error {
	if err := checkKey(pub); err != nil {
		return fmt.Errorf("envelope: verify: %w", err)
	}
	v, err := cose.NewVerifier(cose.AlgorithmES256, pub)
	if err != nil {
		return fmt.Errorf("envelope: verify: %w: %v", ErrUnsupportedKey, err)
	}
	if err := m.msg.Verify(nil, v); err != nil {
		return fmt.Errorf("envelope: verify: %w", ErrBadSignature)
	}
	return nil
}

// Verify parses b (see Parse) and checks its signature with pub.
func Verify(b []byte, contentType string, pub crypto.PublicKey) (*Message, error) {
	m, err := Parse(b, contentType)
	if err != nil {
		return nil, err
	}
	if err := m.Verify(pub); err != nil {
		return nil, err
	}
	return m, nil
}

func checkKey(pub crypto.PublicKey) error {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k == nil || k.Curve != elliptic.P256() {
		return fmt.Errorf("%T: %w", pub, ErrUnsupportedKey)
	}
	return nil
}

func checkHeaderFields(contentType string, kid []byte) error {
	if contentType == "" || len(contentType) > maxContentType {
		return fmt.Errorf("content type must be 1..%d bytes", maxContentType)
	}
	if len(kid) > maxKID {
		return fmt.Errorf("kid is %d bytes (max %d)", len(kid), maxKID)
	}
	return nil
}

// protectedBytes is the canonical protected header: the bstr wrapping the
// core-deterministic map {1: -7, 3: contentType, 4: kid} (kid left out when
// nil). Labels 1 < 3 < 4 are already in deterministic order.
func protectedBytes(contentType string, kid []byte) []byte {
	inner := make([]byte, 0, 16+len(contentType)+len(kid))
	if kid != nil {
		inner = append(inner, 0xa3)
	} else {
		inner = append(inner, 0xa2)
	}
	inner = append(inner, 0x01, 0x26) // 1: -7 (ES256)
	inner = append(inner, 0x03)       // 3: tstr
	inner = appendHead(inner, 3, uint64(len(contentType)))
	inner = append(inner, contentType...)
	if kid != nil {
		inner = append(inner, 0x04) // 4: bstr
		inner = appendHead(inner, 2, uint64(len(kid)))
		inner = append(inner, kid...)
	}
	out := appendHead(make([]byte, 0, len(inner)+3), 2, uint64(len(inner)))
	return append(out, inner...)
}

// appendHead appends a minimal-length CBOR head of the given major type.
func appendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// isLowS reports whether the big-endian s is at most n/2 (P-256 order n).
func isLowS(s []byte) bool {
	half := new(big.Int).Rsh(elliptic.P256().Params().N, 1)
	return new(big.Int).SetBytes(s).Cmp(half) <= 0
}

// lowS replaces a big-endian 32-byte s by n-s when s > n/2; both verify.
func lowS(s []byte) {
	if isLowS(s) {
		return
	}
	v := new(big.Int).SetBytes(s)
	v.Sub(elliptic.P256().Params().N, v)
	v.FillBytes(s)
}
