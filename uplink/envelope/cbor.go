package envelope

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Limits bound what DecodeStrict accepts besides the payload's size.
type Limits struct {
	// MaxNested is the deepest nesting of arrays and maps (at least 4, the decoder's floor).
	MaxNested int
	// MaxArray and MaxPairs bound every array and every map.
	MaxArray, MaxPairs int
}

// ErrNotCanonicalPayload: a payload decoded, but re-encoding it with core
// deterministic CBOR gives other bytes (non-minimal lengths, unsorted keys,
// a field written out with its zero value where the format leaves it out).
var ErrNotCanonicalPayload = errors.New("envelope: payload is not canonical CBOR")

// EncodeCanonical encodes v with RFC 8949 core deterministic encoding: the
// one byte form every signed payload of camagent uses.
func EncodeCanonical(v any) ([]byte, error) {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, fmt.Errorf("envelope: encode: %w", err)
	}
	b, err := em.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("envelope: encode: %w", err)
	}
	return b, nil
}

// DecodeStrict decodes a signed payload into v (a pointer to a struct with
// integer keys) and refuses duplicate keys, indefinite lengths, tags,
// unknown fields, anything nested or sized beyond lim, and any encoding that
// is not the one EncodeCanonical would write for the decoded value. It is
// the decoder that manifests, owner bindings and MQTT payloads share.
func DecodeStrict(payload []byte, v any, lim Limits) error {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   max(lim.MaxNested, 4),
		MaxArrayElements:  max(lim.MaxArray, 16),
		MaxMapPairs:       max(lim.MaxPairs, 16),
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		return fmt.Errorf("envelope: decode: %w", err)
	}
	if err := dm.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("envelope: decode: %w", err)
	}
	again, err := EncodeCanonical(v)
	if err != nil || !bytes.Equal(again, payload) {
		return ErrNotCanonicalPayload
	}
	return nil
}
