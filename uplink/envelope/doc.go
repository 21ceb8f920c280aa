// Package envelope is the one signed form that camagent puts around every
// payload that must be attributable: a COSE_Sign1 (RFC 9052) signed with ES256
// (ECDSA P-256, SHA-256), in a single canonical encoding.
//
// Manifests (package manifest), owner bindings (package identity), device
// events and owner commands (packages event and command, carried over MQTT)
// all use it, each with its own content type, so that a
// signature made for one purpose can never be accepted for another (a signed
// state message is not a manifest even though the same key signed both).
//
// Why a canonical form: the device chains its manifests by the SHA-256 of
// their COSE bytes, and the ingest detects replays by those bytes. ECDSA and
// COSE both allow a third party to re-encode a valid message into other valid
// bytes (the signature's s can be replaced by n-s, headers can be added to the
// unprotected map, CBOR lengths can be written non-minimally). Parse refuses
// every such variant, so a valid envelope has exactly one byte form per
// signature:
//
//	COSE_Sign1_Tagged = #6.18([
//	    protected:   bstr .cbor {1: -7, 3: content type, ? 4: kid}
//	                 (exactly these labels, core deterministic CBOR)
//	    unprotected: {}            (empty map, 0xa0)
//	    payload:     bstr          (never detached)
//	    signature:   bstr .size 64 (r || s, s <= n/2: "low s")
//	])
//
// Limits: an envelope is at most MaxSize bytes; the payload's own decoder
// applies its own limits; the payloads share one strict deterministic-CBOR
// decoder (DecodeStrict) and encoder (EncodeCanonical). Seal always produces
// the canonical form (it turns a high s into the low one, which is an equally valid signature), so any
// crypto.Signer works, including a TPM or secure element.
package envelope
