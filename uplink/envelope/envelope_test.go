package envelope

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"io"
	"math/big"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/go-cose"
)

const testCT = "application/x-test"

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// parts is a COSE_Sign1 taken apart, to build altered versions in tests.
type parts struct {
	Protected   []byte
	Unprotected map[any]any
	Payload     []byte
	Signature   []byte
}

func split(t testing.TB, b []byte) parts {
	t.Helper()
	var tag cbor.Tag
	if err := cbor.Unmarshal(b, &tag); err != nil {
		t.Fatal(err)
	}
	a := tag.Content.([]any)
	return parts{a[0].([]byte), a[1].(map[any]any), a[2].([]byte), a[3].([]byte)}
}

func (p parts) join(t testing.TB) []byte {
	t.Helper()
	b, err := cbor.Marshal(cbor.Tag{Number: 18, Content: []any{p.Protected, p.Unprotected, p.Payload, p.Signature}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// resign builds a validly signed COSE_Sign1 with any protected header map,
// bypassing Seal's canonical form.
func resign(t testing.TB, key *ecdsa.PrivateKey, prot cose.ProtectedHeader, unprot cose.UnprotectedHeader, payload []byte) []byte {
	t.Helper()
	s, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		t.Fatal(err)
	}
	for {
		msg := &cose.Sign1Message{Headers: cose.Headers{Protected: prot, Unprotected: unprot}, Payload: payload}
		if err := msg.Sign(rand.Reader, nil, s); err != nil {
			t.Fatal(err)
		}
		if !isLowS(msg.Signature[32:]) {
			continue // keep the test about the header, not about s
		}
		b, err := msg.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// resignRaw signs with a protected header given as a map encoded by
// deterministic CBOR, whatever go-cose would think of it.
func resignRaw(t testing.TB, key *ecdsa.PrivateKey, prot map[int]any, payload []byte) []byte {
	t.Helper()
	em, _ := cbor.CoreDetEncOptions().EncMode()
	inner, err := em.Marshal(prot)
	if err != nil {
		t.Fatal(err)
	}
	return resignRawBytes(t, key, inner, payload)
}

func resignRawBytes(t testing.TB, key *ecdsa.PrivateKey, inner, payload []byte) []byte {
	t.Helper()
	raw, _ := cbor.Marshal(inner)
	s, _ := cose.NewSigner(cose.AlgorithmES256, key)
	for {
		msg := &cose.Sign1Message{Headers: cose.Headers{
			RawProtected: raw,
			Protected:    cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256},
		}, Payload: payload}
		if err := msg.Sign(rand.Reader, nil, s); err != nil {
			t.Fatal(err)
		}
		if !isLowS(msg.Signature[32:]) {
			continue
		}
		b, err := msg.MarshalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

func TestSealParseVerify(t *testing.T) {
	key := newKey(t)
	for _, tc := range []struct {
		name    string
		kid     []byte
		payload []byte
	}{
		{"kid", []byte("cam-abc"), []byte("hello")},
		{"no kid", nil, []byte{0xa0}},
		{"empty payload", []byte("k"), nil},
		{"empty kid", []byte{}, []byte("x")},
		{"big payload", []byte("k"), make([]byte, 40000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Seal(key, testCT, tc.kid, tc.payload)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Verify(b, testCT, &key.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.KID) != string(tc.kid) || (tc.kid == nil) != (m.KID == nil) {
				t.Errorf("kid = %q, want %q", m.KID, tc.kid)
			}
			if string(m.Payload) != string(tc.payload) {
				t.Errorf("payload differs")
			}
			// Seal's output is exactly the canonical protected header.
			inner := split(t, b).Protected
			if got := append(appendHead(nil, 2, uint64(len(inner))), inner...); string(got) != string(protectedBytes(testCT, tc.kid)) {
				t.Errorf("protected header %x, want %x", got, protectedBytes(testCT, tc.kid))
			}
		})
	}
}

// highSSigner returns every signature with s > n/2, the form Seal must fix.
type highSSigner struct{ k *ecdsa.PrivateKey }

func (h highSSigner) Public() crypto.PublicKey { return &h.k.PublicKey }

func (h highSSigner) Sign(r io.Reader, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	rr, s, err := ecdsa.Sign(r, h.k, digest)
	if err != nil {
		return nil, err
	}
	n := elliptic.P256().Params().N
	if s.Cmp(new(big.Int).Rsh(n, 1)) <= 0 {
		s = new(big.Int).Sub(n, s)
	}
	return asn1.Marshal(struct{ R, S *big.Int }{rr, s})
}

func TestSealNormalisesHighS(t *testing.T) {
	key := newKey(t)
	for range 8 {
		b, err := Seal(highSSigner{key}, testCT, []byte("k"), []byte("p"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(b, testCT, &key.PublicKey); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRefusals(t *testing.T) {
	key := newKey(t)
	other := newKey(t)
	good, err := Seal(key, testCT, []byte("cam-x"), []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	goodProt := cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelContentType: testCT, cose.HeaderLabelKeyID: []byte("cam-x")}

	highS := func() []byte {
		p := split(t, good)
		s := new(big.Int).SetBytes(p.Signature[32:])
		s.Sub(elliptic.P256().Params().N, s)
		p.Signature = append([]byte(nil), p.Signature...)
		s.FillBytes(p.Signature[32:])
		b := p.join(t)
		// Make sure the test is about canonical form: go-cose accepts it.
		var msg cose.Sign1Message
		v, _ := cose.NewVerifier(cose.AlgorithmES256, &key.PublicKey)
		if err := msg.UnmarshalCBOR(b); err != nil || msg.Verify(nil, v) != nil {
			t.Fatal("high-s variant should be a valid COSE signature")
		}
		return b
	}()
	flipped := func() []byte {
		p := split(t, good)
		p.Payload = []byte("paylOad")
		return p.join(t)
	}()
	nonMinimal := func() []byte {
		// payload bstr of length 7 written with a one-byte length (0x58 0x07).
		p := split(t, good)
		b := p.join(t)
		i := indexOf(b, append([]byte{0x47}, p.Payload...))
		if i < 0 {
			t.Fatal("payload not found")
		}
		return append(append(append([]byte{}, b[:i]...), 0x58, 0x07), b[i+1:]...)
	}()

	for _, tc := range []struct {
		name    string
		b       []byte
		pub     crypto.PublicKey
		want    error
		parseOK bool // Parse accepts it; only Verify refuses
	}{
		{"empty", nil, &key.PublicKey, ErrMalformed, false},
		{"garbage", []byte{0xd2, 0x84, 0x01}, &key.PublicKey, ErrMalformed, false},
		{"untagged", good[1:], &key.PublicKey, ErrMalformed, false},
		{"trailing byte", append(append([]byte{}, good...), 0), &key.PublicKey, ErrMalformed, false},
		{"too large", make([]byte, MaxSize+1), &key.PublicKey, ErrTooLarge, false},
		{"high s", highS, &key.PublicKey, ErrNonCanonical, false},
		{"non-minimal length", nonMinimal, &key.PublicKey, ErrNonCanonical, false},
		{"detached payload", func() []byte {
			p := split(t, good)
			p.Payload = nil // encodes as null
			return p.join(t)
		}(), &key.PublicKey, ErrMalformed, false},
		{"short signature", func() []byte {
			p := split(t, good)
			p.Signature = p.Signature[:63]
			return p.join(t)
		}(), &key.PublicKey, ErrMalformed, false},
		{"unprotected header", func() []byte {
			p := split(t, good)
			p.Unprotected = map[any]any{int64(99): "x"}
			return p.join(t)
		}(), &key.PublicKey, ErrNonCanonical, false},
		{"kid in unprotected", resign(t, key, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelContentType: testCT},
			cose.UnprotectedHeader{cose.HeaderLabelKeyID: []byte("cam-x")}, []byte("p")), &key.PublicKey, ErrNonCanonical, false},
		{"extra protected label", resign(t, key, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelContentType: testCT, int64(99): 1},
			nil, []byte("p")), &key.PublicKey, ErrNonCanonical, false},
		{"wrong content type", resign(t, key, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelContentType: "text/other"},
			nil, []byte("p")), &key.PublicKey, ErrWrongType, false},
		{"integer content type", resign(t, key, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256, cose.HeaderLabelContentType: 60},
			nil, []byte("p")), &key.PublicKey, ErrWrongType, false},
		{"no content type", resign(t, key, cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256},
			nil, []byte("p")), &key.PublicKey, ErrWrongType, false},
		{"text kid", resignRaw(t, key, map[int]any{1: -7, 3: testCT, 4: "cam-x"}, []byte("p")), &key.PublicKey, ErrMalformed, false},
		{"unsorted protected map", func() []byte {
			// {3: ct, 1: -7, 4: kid}: same labels, not in deterministic order.
			inner := []byte{0xa3, 0x03}
			inner = appendHead(inner, 3, uint64(len(testCT)))
			inner = append(inner, testCT...)
			inner = append(inner, 0x01, 0x26, 0x04, 0x45)
			inner = append(inner, "cam-x"...)
			return resignRawBytes(t, key, inner, []byte("p"))
		}(), &key.PublicKey, ErrNonCanonical, false},
		{"valid raw resign", resignRaw(t, key, map[int]any{1: -7, 3: testCT, 4: []byte("cam-x")}, []byte("p")), &key.PublicKey, nil, true},
		{"valid resign", resign(t, key, goodProt, nil, []byte("p")), &key.PublicKey, nil, true},
		{"flipped payload", flipped, &key.PublicKey, ErrBadSignature, true},
		{"other key", good, &other.PublicKey, ErrBadSignature, true},
		{"ed25519 key", good, ed25519.PublicKey(make([]byte, 32)), ErrUnsupportedKey, true},
		{"P-384 key", good, func() crypto.PublicKey {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			return &k.PublicKey
		}(), ErrUnsupportedKey, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, perr := Parse(tc.b, testCT)
			if tc.parseOK != (perr == nil) {
				t.Fatalf("Parse: %v", perr)
			}
			_, err := Verify(tc.b, testCT, tc.pub)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSealRefuses(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = edPub
	if _, err := Seal(edPriv, testCT, nil, nil); !errors.Is(err, ErrUnsupportedKey) {
		t.Errorf("ed25519: %v", err)
	}
	key := newKey(t)
	if _, err := Seal(key, "", nil, nil); err == nil {
		t.Error("empty content type accepted")
	}
	if _, err := Seal(key, testCT, make([]byte, maxKID+1), nil); err == nil {
		t.Error("long kid accepted")
	}
	if _, err := Seal(key, testCT, nil, make([]byte, MaxSize)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge payload: %v", err)
	}
}

func TestAppendHead(t *testing.T) {
	em, _ := cbor.CoreDetEncOptions().EncMode()
	for _, n := range []int{0, 23, 24, 255, 256, 65535, 65536} {
		want, _ := em.Marshal(make([]byte, n))
		got := append(appendHead(nil, 2, uint64(n)), make([]byte, n)...)
		if string(got) != string(want) {
			t.Errorf("n=%d: head %x, want %x", n, got[:min(len(got), 9)], want[:min(len(want), 9)])
		}
	}
}

func indexOf(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}

func FuzzParse(f *testing.F) {
	key := newKey(f)
	good, _ := Seal(key, testCT, []byte("cam-x"), []byte("payload"))
	f.Add(good)
	f.Add(good[1:])
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, testCT)
		if err != nil {
			return
		}
		// Whatever parses is canonical: sealing the same fields again gives
		// the same bytes except the signature.
		if _, err := m.msg.MarshalCBOR(); err != nil {
			t.Fatalf("parsed message does not re-encode: %v", err)
		}
		_ = m.Verify(&key.PublicKey)
	})
}
