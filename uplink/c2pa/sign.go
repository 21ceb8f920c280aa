package c2pa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
)

// Labels and values of the manifest this package writes.
const (
	LabelDataHash = "c2pa.hash.data"
	LabelActions  = "c2pa.actions.v2"
	LabelCapture  = "com.camagent.capture"
	labelClaim    = "c2pa.claim.v2"
	labelSig      = "c2pa.signature"
	labelAssert   = "c2pa.assertions"
	labelStore    = "c2pa"

	// SourceCapture is the IPTC digital source type of a picture a camera
	// took of the real world.
	SourceCapture = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
	// Generator names camagent as the claim generator and software agent.
	Generator = "camagent"
)

// Config configures a Signer.
type Config struct {
	// Key is the device key. Required: ECDSA P-256 (package identity).
	Key crypto.Signer
	// Chain is the device's C2PA claim-signing certificate followed by the
	// certificates that issued it (the dev CA). Required; the first
	// certificate must be for Key.
	Chain []*x509.Certificate
	// Version is the claim generator's version, e.g. the agent's build.
	// Optional.
	Version string
}

// Signer signs JPEG pictures with the device key. Safe for concurrent use.
type Signer struct {
	key      crypto.Signer
	chain    [][]byte
	deviceID string
	version  string
	prot     []byte // the COSE protected header (bstr contents)
	pad      int    // bytes of padding in the data hash (tests: a store over one segment)
}

// New checks cfg and returns a Signer.
func New(cfg Config) (*Signer, error) {
	if cfg.Key == nil || len(cfg.Chain) == 0 {
		return nil, errors.New("c2pa: new: need the device key and its C2PA certificate chain")
	}
	pub, ok := cfg.Key.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("c2pa: new: the key is not ECDSA P-256")
	}
	leaf := cfg.Chain[0]
	if !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("c2pa: new: the first certificate is not for the device key")
	}
	id, err := identity.CertDeviceID(leaf)
	if err != nil {
		return nil, fmt.Errorf("c2pa: new: %w", err)
	}
	s := &Signer{key: cfg.Key, deviceID: id, version: cfg.Version}
	for _, c := range cfg.Chain {
		s.chain = append(s.chain, c.Raw)
	}
	s.prot, err = envelope.EncodeCanonical(map[int]any{1: -7, 33: s.chain})
	if err != nil {
		return nil, fmt.Errorf("c2pa: new: %w", err)
	}
	return s, nil
}

// DeviceID is the device the signer's certificate names.
func (s *Signer) DeviceID() string { return s.deviceID }

// Wire forms (CBOR maps with text keys, as the C2PA specification names them).
type hashedURI struct {
	URL  string `cbor:"url"`
	Hash []byte `cbor:"hash"`
}

type generatorInfo struct {
	Name    string `cbor:"name"`
	Version string `cbor:"version,omitempty"`
}

type claimV2 struct {
	InstanceID string        `cbor:"instanceID"`
	Generator  generatorInfo `cbor:"claim_generator_info"`
	Signature  string        `cbor:"signature"`
	Created    []hashedURI   `cbor:"created_assertions"`
	Alg        string        `cbor:"alg"`
}

type exclusion struct {
	Start  uint64 `cbor:"start"`
	Length uint64 `cbor:"length"`
}

type dataHash struct {
	Exclusions []exclusion `cbor:"exclusions"`
	Name       string      `cbor:"name"`
	Alg        string      `cbor:"alg"`
	Hash       []byte      `cbor:"hash"`
	Pad        []byte      `cbor:"pad"`
}

type action struct {
	Action            string         `cbor:"action"`
	DigitalSourceType string         `cbor:"digitalSourceType,omitempty"`
	SoftwareAgent     *generatorInfo `cbor:"softwareAgent,omitempty"`
}

type actions struct {
	Actions []action `cbor:"actions"`
}

type capture struct {
	Device   string `cbor:"device"`
	Captured string `cbor:"captured"`
}

// SignJPEG returns img with a C2PA manifest store that says the device took
// it at captured. img is not modified. It signs once (one ECDSA signature).
func (s *Signer) SignJPEG(img []byte, captured time.Time) ([]byte, error) {
	at, err := insertAt(img)
	if err != nil {
		return nil, fmt.Errorf("c2pa: sign: %w", err)
	}
	sum := sha256.Sum256(img) // = the hash of the result without its APP11 span
	label := "urn:c2pa:" + newUUID()
	m := manifestParts{
		label:     label,
		hashLabel: LabelDataHash,
		actions: actions{Actions: []action{{Action: "c2pa.created", DigitalSourceType: SourceCapture,
			SoftwareAgent: &generatorInfo{Name: Generator, Version: s.version}}}},
		capture: capture{Device: s.deviceID, Captured: captured.UTC().Format(time.RFC3339Nano)},
		claim: claimV2{InstanceID: "xmp:iid:" + newUUID(), Generator: generatorInfo{Name: Generator, Version: s.version},
			Signature: "self#jumbf=/" + labelStore + "/" + label + "/" + labelSig, Alg: "sha256"},
	}
	// The exclusion's length is the size of the segments, which depends on
	// the length written into them: find the fixed point (CBOR integers
	// change size only at 24, 256, 65536, so it settles in a step or two),
	// with a zero signature of the right size; then sign once.
	var length int
	var store []byte
	for range 8 {
		m.hash = dataHash{Name: "jumbf manifest", Alg: "sha256", Hash: sum[:], Pad: make([]byte, s.pad),
			Exclusions: []exclusion{{Start: uint64(at), Length: uint64(length)}}}
		store, err = m.build(s, nil)
		if err != nil {
			return nil, fmt.Errorf("c2pa: sign: %w", err)
		}
		if n := app11Size(len(store)); n != length {
			length = n
			continue
		}
		store, err = m.build(s, s.sign)
		if err != nil {
			return nil, fmt.Errorf("c2pa: sign: %w", err)
		}
		if app11Size(len(store)) != length {
			return nil, errors.New("c2pa: sign: the signed store changed size")
		}
		out := make([]byte, 0, len(img)+length)
		out = append(out, img[:at]...)
		out = appendAPP11(out, store)
		return append(out, img[at:]...), nil
	}
	return nil, errors.New("c2pa: sign: the manifest size does not settle")
}

type manifestParts struct {
	label     string
	hashLabel string // LabelDataHash or LabelBMFFHash
	hash      any    // dataHash or bmffHash
	actions   actions
	capture   capture
	claim     claimV2
	unprot    []byte // the COSE unprotected header; nil: empty (padUnprotected)
}

// build encodes the manifest store; sign nil puts a zero signature in.
func (m *manifestParts) build(s *Signer, sign func(claim []byte) ([]byte, error)) ([]byte, error) {
	var boxes [][]byte
	m.claim.Created = m.claim.Created[:0]
	for _, a := range []struct {
		label string
		v     any
	}{{m.hashLabel, m.hash}, {LabelActions, m.actions}, {LabelCapture, m.capture}} {
		b, err := envelope.EncodeCanonical(a.v)
		if err != nil {
			return nil, err
		}
		box := cborBox(uuidCBOR, a.label, b)
		h := sha256.Sum256(box[8:])
		m.claim.Created = append(m.claim.Created, hashedURI{URL: "self#jumbf=" + labelAssert + "/" + a.label, Hash: h[:]})
		boxes = append(boxes, box)
	}
	claim, err := envelope.EncodeCanonical(m.claim)
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 64)
	if sign != nil {
		if sig, err = sign(claim); err != nil {
			return nil, err
		}
	}
	cose := coseSign1(s.prot, m.unprot, sig)
	manifest := superbox(uuidManifest, m.label,
		superbox(uuidAssertions, labelAssert, boxes...),
		cborBox(uuidClaim, labelClaim, claim),
		cborBox(uuidSignature, labelSig, cose))
	return superbox(uuidStore, labelStore, manifest), nil
}

// sigStructure is the COSE Sig_structure for a COSE_Sign1 with a detached
// payload and no external data.
func sigStructure(prot, payload []byte) ([]byte, error) {
	return envelope.EncodeCanonical([]any{"Signature1", prot, []byte{}, payload})
}

// sign makes the ES256 signature (r || s) over the claim.
func (s *Signer) sign(claim []byte) ([]byte, error) {
	tbs, err := sigStructure(s.prot, claim)
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256(tbs)
	der, err := s.key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 || rs.R == nil || rs.S == nil {
		return nil, errors.New("sign: the key returned a signature that is not ASN.1 ECDSA")
	}
	out := make([]byte, 64)
	rs.R.FillBytes(out[:32])
	rs.S.FillBytes(out[32:])
	return out, nil
}

// coseSign1 encodes COSE_Sign1_Tagged with the unprotected header unprot
// (nil: empty) and a detached (nil) payload.
func coseSign1(prot, unprot, sig []byte) []byte {
	b := []byte{0xD2, 0x84} // tag 18, array(4)
	b = appendBstr(b, prot)
	if unprot == nil {
		unprot = []byte{0xA0} // {}
	}
	b = append(b, unprot...)
	b = append(b, 0xF6) // null
	return appendBstr(b, sig)
}

func appendBstr(b, v []byte) []byte {
	n := len(v)
	switch {
	case n < 24:
		b = append(b, 0x40|byte(n))
	case n < 256:
		b = append(b, 0x58, byte(n))
	case n < 65536:
		b = append(b, 0x59, byte(n>>8), byte(n))
	default:
		b = append(b, 0x5A, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, v...)
}

// newUUID returns a random (version 4) UUID in its text form.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[:4], u[4:6], u[6:8], u[8:10], u[10:])
}
