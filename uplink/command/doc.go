// Package command is what the owner (or the vendor, for service operations)
// tells a camera, and the checks that decide whether the camera obeys. A
// command is obeyed because its owner signed it for this camera, recently,
// once — never because of the topic it arrived on or who could publish
// there (DESIGN.md point 6).
//
// # Envelope and payload
//
// An envelope (package envelope) of content type ContentType, no kid, signed
// with an owner's key (one the owner binding of package identity names)
// or the vendor's service key, over deterministic CBOR:
//
//	key  field    CBOR type  meaning
//	1    version  uint       1
//	2    device   tstr       the device ID it is addressed to
//	3    nonce    bstr       16..32 random bytes, never used twice
//	4    issued   int        Unix ms
//	5    expires  int        Unix ms; issued < expires <= issued + MaxLifetime
//	6    op       tstr       one of the Op constants
//	7    patch    tstr       config-patch only: TOML, <= MaxPatch bytes
//	8    confirm  bstr       format-sd-confirm only: the challenge the
//	                         camera answered the format-sd command with
//
// Keys 7 and 8 are present exactly for their op. Decoding is strict (as
// envelope.DecodeStrict): unknown, duplicate or missing keys, indefinite
// lengths, tags and non-canonical encodings are refused with ErrMalformed.
//
// # What the camera checks (Checker.Check), in this order
//
//  1. the envelope and payload are well formed (ErrMalformed, ErrTooLarge);
//  2. the signature verifies with one of the paired owner's keys (any key
//     the current owner binding names), or with the
//     vendor's key for a service op (OpReboot, OpUploadNow) (ErrUnsigned;
//     ErrNotPermitted when the vendor signed an owner-only op);
//  3. it names this device (ErrMisaddressed);
//  4. it is within its validity on the device clock, with MaxSkew of
//     tolerance for an early clock (ErrExpired, ErrNotYetValid);
//  5. its nonce is not in the replay cache (ErrReplay), and is then recorded
//     durably before the command runs, until its expiry passes.
//
// Only commands that pass 1-4 reach the replay cache, so nobody but the
// owner or vendor can fill it; when it is full of unexpired nonces new
// commands are refused (ErrReplayFull) rather than an old nonce forgotten.
// The cache lives in a small file (crash-safe atomic replace, CRC-32) on the
// persistent partition, so a restart does not reopen replays.
package command
