package c2pa

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"

	"github.com/camagent/camagent/uplink/identity"
)

// Errors of Verify; test them with errors.Is. A store this package cannot
// read at all is ErrMalformed (or ErrNoManifest, ErrNotJPEG).
var (
	// ErrHashMismatch: a hash in the manifest does not match what it covers:
	// the picture was changed after signing (c2pa.hash.data), or an
	// assertion was changed (its hashed URI in the claim).
	ErrHashMismatch = errors.New("c2pa: hash mismatch")
	// ErrBadSignature: the claim's COSE signature does not verify with the
	// key of its certificate.
	ErrBadSignature = errors.New("c2pa: claim signature does not verify")
	// ErrUntrusted: the signer's certificate does not chain to the roots
	// given, or is not a C2PA claim-signing certificate.
	ErrUntrusted = errors.New("c2pa: signer not trusted")
	// ErrWrongDevice: the capture assertion names another device than the
	// certificate that signed it.
	ErrWrongDevice = errors.New("c2pa: capture assertion names another device than the signer")
)

// Limits on what Verify reads from outside bytes.
const (
	maxChain  = 4
	maxCreate = 32
)

// Credential is what a verified manifest says.
type Credential struct {
	// Label is the manifest's label ("urn:c2pa:...").
	Label string
	// DeviceID is the device the signing certificate was issued to, taken
	// from the verified certificate's key (never from the assertion alone).
	DeviceID string
	// Captured is the capture time the device stated.
	Captured time.Time
	// SourceType is the c2pa.created action's digital source type.
	SourceType string
	// Generator names the claim generator ("camagent").
	Generator string
	// Signer is the leaf certificate; Chain the certificates after it.
	Signer *x509.Certificate
	Chain  []*x509.Certificate
	// Trusted: the signer chained to the roots given to Verify.
	Trusted bool
}

var decMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		MaxNestedLevels:  16,
		MaxArrayElements: 1024,
		MaxMapPairs:      256,
	}.DecMode()
	if err != nil {
		panic(err) // constant options
	}
	return dm
}()

// Verify reads the C2PA manifest store of a JPEG and checks it: the data
// hash over the picture, every assertion's hash in the claim, the claim's
// COSE_Sign1 ES256 signature with the leaf certificate of its x5chain, that
// the capture assertion names the certificate's device, and, when roots is
// not nil, that the certificate is a C2PA signer (emailProtection) chaining
// to roots at the current time (the manifest carries no time stamp). With
// roots nil the credential comes back with Trusted false.
func Verify(img []byte, roots *x509.CertPool) (*Credential, error) {
	store, start, end, err := extractStore(img)
	if err != nil {
		return nil, err
	}
	var dh dataHash
	return verifyStore(store, LabelDataHash, &dh, func() error {
		// The data hash: one exclusion, exactly the manifest's APP11 segments.
		if dh.Alg != "sha256" || len(dh.Exclusions) != 1 || dh.Exclusions[0].Start != uint64(start) ||
			dh.Exclusions[0].Length != uint64(end-start) {
			return fmt.Errorf("%w: %s: want sha256 excluding exactly the APP11 segments at [%d, %d)", ErrMalformed, LabelDataHash, start, end)
		}
		hh := sha256.New()
		hh.Write(img[:start])
		hh.Write(img[end:])
		if !bytes.Equal(hh.Sum(nil), dh.Hash) {
			return fmt.Errorf("%w: %s: the picture changed after signing", ErrHashMismatch, LabelDataHash)
		}
		return nil
	}, roots)
}

// verifyStore checks a manifest store whose hash assertion (hashLabel) is
// decoded into hv and checked against the asset by checkHash.
func verifyStore(store []byte, hashLabel string, hv any, checkHash func() error, roots *x509.CertPool) (*Credential, error) {
	root, rest, err := parseSuperbox(store, 0)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 || root.uuid != uuidStore || root.label != labelStore {
		return nil, fmt.Errorf("%w: not a C2PA manifest store", ErrMalformed)
	}
	var man *jbox
	for _, c := range root.children { // the active manifest is the last one
		if c.uuid == uuidManifest {
			man = c
		}
	}
	if man == nil {
		return nil, fmt.Errorf("%w: no manifest in the store", ErrMalformed)
	}
	cr := &Credential{Label: man.label}
	as, cl, sg := man.child(labelAssert), man.child(labelClaim), man.child(labelSig)
	if as == nil || cl == nil || sg == nil || as.uuid != uuidAssertions || cl.uuid != uuidClaim || sg.uuid != uuidSignature {
		return nil, fmt.Errorf("%w: manifest %s lacks its assertions, %s or signature", ErrMalformed, printable(man.label), labelClaim)
	}
	claimBytes, err := cl.cbor()
	if err != nil {
		return nil, err
	}
	var claim claimV2
	if err := decMode.Unmarshal(claimBytes, &claim); err != nil {
		return nil, fmt.Errorf("%w: claim: %v", ErrMalformed, err)
	}
	cr.Generator = claim.Generator.Name
	if claim.Signature != "self#jumbf=/"+labelStore+"/"+man.label+"/"+labelSig && claim.Signature != "self#jumbf="+labelSig {
		return nil, fmt.Errorf("%w: claim names signature %s, not its own", ErrMalformed, printable(claim.Signature))
	}
	if claim.Alg != "" && claim.Alg != "sha256" {
		return nil, fmt.Errorf("%w: claim hash algorithm %s", ErrMalformed, printable(claim.Alg))
	}
	if len(claim.Created) > maxCreate {
		return nil, fmt.Errorf("%w: %d assertions", ErrMalformed, len(claim.Created))
	}
	boxes := map[string]*jbox{}
	for _, h := range claim.Created {
		label, ok := strings.CutPrefix(h.URL, "self#jumbf="+labelAssert+"/")
		if !ok {
			label, ok = strings.CutPrefix(h.URL, "self#jumbf=/"+labelStore+"/"+man.label+"/"+labelAssert+"/")
		}
		b := as.child(label)
		if !ok || b == nil {
			return nil, fmt.Errorf("%w: claim names assertion %s that is not in the manifest", ErrMalformed, printable(h.URL))
		}
		if sum := sha256.Sum256(b.payload); !bytes.Equal(sum[:], h.Hash) {
			return nil, fmt.Errorf("%w: assertion %s", ErrHashMismatch, printable(label))
		}
		boxes[label] = b
	}
	var (
		act  actions
		capt capture
	)
	for _, a := range []struct {
		label string
		v     any
	}{{hashLabel, hv}, {LabelActions, &act}, {LabelCapture, &capt}} {
		b := boxes[a.label]
		if b == nil {
			return nil, fmt.Errorf("%w: the claim does not name a %s assertion", ErrMalformed, a.label)
		}
		data, err := b.cbor()
		if err != nil {
			return nil, err
		}
		if err := decMode.Unmarshal(data, a.v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, a.label, err)
		}
	}
	if err := checkHash(); err != nil {
		return nil, err
	}
	if len(act.Actions) == 0 || act.Actions[0].Action != "c2pa.created" {
		return nil, fmt.Errorf("%w: %s: the first action is not c2pa.created", ErrMalformed, LabelActions)
	}
	cr.SourceType = act.Actions[0].DigitalSourceType
	if cr.Captured, err = time.Parse(time.RFC3339Nano, capt.Captured); err != nil {
		return nil, fmt.Errorf("%w: %s: time: %v", ErrMalformed, LabelCapture, err)
	}
	// The signature.
	sigBytes, err := sg.cbor()
	if err != nil {
		return nil, err
	}
	if err := verifyCOSE(cr, sigBytes, claimBytes); err != nil {
		return nil, err
	}
	if cr.DeviceID, err = identity.CertDeviceID(cr.Signer); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	if capt.Device != cr.DeviceID {
		return nil, fmt.Errorf("%w: %s says %s, the certificate %s", ErrWrongDevice, LabelCapture, printable(capt.Device), cr.DeviceID)
	}
	if roots != nil {
		if err := checkTrust(cr, roots); err != nil {
			return nil, err
		}
		cr.Trusted = true
	}
	return cr, nil
}

// verifyCOSE checks the COSE_Sign1 (ES256, x5chain in the protected header)
// over the claim and fills cr.Signer and cr.Chain.
func verifyCOSE(cr *Credential, sigBytes, claim []byte) error {
	var msg cose.Sign1Message
	if err := msg.UnmarshalCBOR(sigBytes); err != nil {
		return fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	if alg, err := msg.Headers.Protected.Algorithm(); err != nil || alg != cose.AlgorithmES256 {
		return fmt.Errorf("%w: signature: algorithm is not ES256", ErrMalformed)
	}
	var ders [][]byte
	switch v := msg.Headers.Protected[cose.HeaderLabelX5Chain].(type) {
	case []byte:
		ders = [][]byte{v}
	case []any:
		for _, c := range v {
			b, ok := c.([]byte)
			if !ok {
				return fmt.Errorf("%w: signature: x5chain holds a %T", ErrMalformed, c)
			}
			ders = append(ders, b)
		}
	default:
		return fmt.Errorf("%w: signature: no x5chain in the protected header", ErrMalformed)
	}
	if len(ders) == 0 || len(ders) > maxChain {
		return fmt.Errorf("%w: signature: %d certificates in x5chain", ErrMalformed, len(ders))
	}
	for i, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			return fmt.Errorf("%w: signature: certificate %d: %v", ErrMalformed, i, err)
		}
		if i == 0 {
			cr.Signer = c
		} else {
			cr.Chain = append(cr.Chain, c)
		}
	}
	pub, ok := cr.Signer.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return fmt.Errorf("%w: signer key is not ECDSA P-256", ErrUntrusted)
	}
	v, err := cose.NewVerifier(cose.AlgorithmES256, pub)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	msg.Payload = claim
	if err := msg.Verify(nil, v); err != nil {
		return ErrBadSignature
	}
	return nil
}

// checkTrust checks the signer's C2PA profile and chain to roots.
func checkTrust(cr *Credential, roots *x509.CertPool) error {
	s := cr.Signer
	if s.KeyUsage&x509.KeyUsageDigitalSignature == 0 || slices.Contains(s.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return fmt.Errorf("%w: certificate is not a C2PA claim signer (key usage)", ErrUntrusted)
	}
	inter := x509.NewCertPool()
	for _, c := range cr.Chain {
		inter.AddCert(c)
	}
	if _, err := s.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return nil
}
