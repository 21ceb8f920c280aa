// Package manifest is the signed statement a camera makes about every object
// it sends: which device made it, for which owner, when, and the SHA-256 and
// size of each byte stream. It is how the attribution invariant (ARCHITECTURE.md)
// travels with the data: any hop, up to the viewer, re-verifies it instead of
// trusting a URL, a cache or a database.
//
// # Envelope
//
// A manifest is an envelope (package envelope): a canonical COSE_Sign1,
// ES256, with protected header {1 alg: -7 (ES256), 3 content type:
// ContentType, 4 kid: the device ID as UTF-8 bytes} and an empty unprotected
// header. The signing key's public key is also inside the signed payload, so
// a manifest verifies on its own (VerifySelf): the kid, the payload's device
// ID and the device ID recomputed from the embedded key must all be equal
// (package identity: device ID = "cam-" + base32(SHA-256(SPKI)[:20])). A
// verifier that pinned the device's key at pairing uses Verify instead, which
// also requires the pinned key to be that key.
//
// # Payload: deterministic CBOR (RFC 8949 core deterministic encoding)
//
// A map with integer keys, every key always present:
//
//	key  field    CBOR type     meaning
//	1    version  uint          1
//	2    device   tstr          device ID (= kid = ID of key 12)
//	3    owner    tstr          owner account ID, "" while unpaired (0..128 bytes)
//	4    seq      uint          per-device sequence number, >= 1, never repeats
//	5    boot     tstr          kernel boot ID of the run (1..64 printable ASCII)
//	6    start    int           capture start, Unix ms, device clock
//	7    end      int           capture end, Unix ms (>= start)
//	8    clock    bool          device clock was synchronised (no RTC => false
//	                            until NTP); times are only meaningful if true
//	9    objects  [+ object]    1..16 objects, roles unique
//	10   motion   motion        motion summary
//	11   prev     bstr .size 32 Hash of the previous manifest's COSE bytes;
//	                            32 zero bytes for the device's first
//	12   pub      bstr          signer's SubjectPublicKeyInfo DER (P-256)
//
//	object = {1 role: tstr [a-z0-9-]{1,16} ("clip", "thumbnail"),
//	          2 type: tstr media type ("video/mp4", "image/jpeg"), 1..64 bytes,
//	          3 size: uint bytes, 4 sha256: bstr .size 32}
//	motion = {1 peak: uint score in ppm of the analysed area (0..1000000),
//	          2 boxes: uint motion boxes in the peak frame,
//	          3 start: int event start Unix ms, 4 end: int event end Unix ms}
//
// Decoding is strict: at most MaxSize bytes of COSE, at most MaxObjects
// objects, nesting at most 4 deep; unknown keys, duplicate keys, indefinite
// lengths, tags, missing keys and any encoding that is not the canonical one
// (the payload must re-encode to the same bytes) are refused with ErrMalformed.
// Each failure has its own sentinel: ErrTooLarge, ErrMalformed,
// ErrBadSignature, ErrKeyMismatch.
//
// # Sidecar
//
// The manifest of a clip is stored next to it with the clip's extension
// replaced by ".manifest" (SidecarPath; package storage's layout), e.g.
// "120304-e7.mp4", "120304-e7.jpg" and "120304-e7.manifest". It covers the
// clip (role "clip", "video/mp4") and its thumbnail (role "thumbnail",
// "image/jpeg"). `camagent verify CLIP.mp4` finds it, and the thumbnail, that
// way.
//
// # Sequence numbers and the chain, across power loss
//
// Sequencer and Chain keep their state in small files on the persistent
// partition next to the device key (not on the SD card: the sequence space
// belongs to the key, and a swapped card must not restart it). Each write is
// atomic (temp file, fsync, rename, directory fsync) and carries a CRC-32.
//
// Sequencer persists a bound B ("every number handed out is below B") before
// it hands out a number at or above the previous bound, ReserveBlock numbers
// at a time. After a crash it restarts at B: numbers between the last one used
// and B are skipped, none is reused. A receiver therefore sees sequence gaps
// after reboots; the chain tells a skipped number (Prev links straight to the
// previous manifest) from a lost manifest (Prev names a manifest it never
// received).
//
// Chain holds the Hash of the newest published manifest; it only accepts
// manifests that verify with the device's key. The seal protocol, run one
// manifest at a time:
//
//  1. n := seq.Next()
//  2. m.Seq, m.Prev = n, chain.Last(); cose := Sign(m, key)
//  3. write the sidecar atomically (the manifest is now published)
//  4. chain.Advance(cose)
//
// and at start-up, before sealing anything: chain.Advance(newest manifest on
// the card), where newest is the highest sequence number. A power cut before
// step 3 leaves no manifest (the chain and the next Prev are unchanged; n is
// skipped). A power cut between 3 and 4 leaves a sidecar the chain does not
// know; the start-up Advance adopts it, so the next Prev still names it.
// Advance only moves forward and is a no-op for manifests it already has.
//
// Recovery from ErrCorruptState (a card or flash returning garbage): for the
// chain, remove the file and Advance with the newest manifest on the card (an
// empty chain adopts it). For the sequencer, remove the file and OpenSequencer
// with floor = max(chain.Seq(), newest sequence on the card) + 1: every
// published manifest is at or below that, and numbers above it were never
// published, so reusing them is harmless.
package manifest
