// Package c2pa puts Content Credentials (C2PA, https://c2pa.org) into the
// camera's JPEG pictures and fragmented MP4 clips and reads them back.
//
// Why: our own COSE manifests (package manifest) prove to our own tools which
// camera made an artifact. C2PA is the industry's form of the same claim,
// and the Content Authenticity Initiative's official reader (c2pa-rs, also
// compiled to WebAssembly as the npm package @contentauth/c2pa-wasm) checks it
// without any camagent code and without trusting our cloud: an insurer, a
// court or a newsroom can see which camera signed a thumbnail or a snapshot
// and whether a single byte of it changed since.
//
// # What a signed JPEG holds
//
// A manifest store (a JUMBF superbox labelled "c2pa") with one manifest
// ("urn:c2pa:<uuid>"), carried in APP11 marker segments (JPEG XT: common
// identifier "JP", box instance 0x0211, packet sequence numbers from 1; a
// store larger than one segment is split at 65,525 bytes and each later
// segment repeats the superbox's 8-byte header). The segments are inserted
// right after SOI (after APP0, when the picture starts with a JFIF APP0).
// The manifest holds:
//
//   - c2pa.assertions/c2pa.hash.data: SHA-256 over the whole file except one
//     exclusion, exactly the bytes of the APP11 segments. Because the
//     exclusion is contiguous, the hash equals SHA-256 of the JPEG before
//     signing, so it is known before the manifest's size is.
//   - c2pa.assertions/c2pa.actions.v2: one c2pa.created action with the IPTC
//     digital source type of a camera capture (digitalCapture) and the
//     software agent "camagent".
//   - c2pa.assertions/com.camagent.capture: the device ID and capture time
//     (RFC 3339, UTC), so a reader shows which camera and when.
//   - c2pa.claim.v2: the claim (CBOR, core deterministic encoding from package
//     envelope) naming the three assertions by hashed URI.
//   - c2pa.signature: COSE_Sign1 (tag 18) ES256 over the claim as detached
//     payload, with the certificate chain (the device's C2PA certificate,
//     then the issuing CA) in the protected header as x5chain (label 33).
//     No time-stamp token: a camera often cannot reach a time-stamp
//     authority, so the signature's time is only the claim's own statement.
//
// What the official reader (@contentauth/c2pa-wasm 0.15.0, C2PA 2.4) says of
// such a manifest: no status about the missing time stamp at all; the
// signature is "claimSignature.insideValidity" judged against the reading
// time, so a picture read while the device's certificate is valid is Valid
// (Trusted with the dev CA as trust anchor), and the same picture read after
// the certificate expired is Invalid ("signingCredential.expired"), however
// long before it was signed. Certificates last two years (devca); a time
// stamp from a TSA when the camera is online, or re-signing archived
// pictures, is what would keep old pictures valid. Verify behaves the same.
//
// # What a signed clip holds
//
// SignMP4 writes a signed copy of a fragmented MP4 (package storage/fmp4's
// clips: ftyp, moov, then moof+mdat fragments), laid out as the C2PA
// specification's "BMFF-based hash" section describes for fragmented files
// kept in one file:
//
//   - right after ftyp, a C2PA ContentProvenanceBox: a top-level 'uuid' box
//     with extended type d8fec3d6-1b0e-483c-9297-5828877ec481, FullBox
//     version 0, purpose "manifest", the file offset of the first Merkle
//     box (8 bytes), then the manifest store (JUMBF), the same store as a
//     picture's but with c2pa.hash.bmff.v3 in place of c2pa.hash.data;
//   - after each fragment's mdat, a ContentProvenanceBox of purpose
//     "merkle" holding CBOR {uniqueId 1, localId 1, location i}: the
//     fragment's leaf in the Merkle tree.
//
// The c2pa.hash.bmff.v3 assertion excludes the C2PA uuid boxes (matched by
// their extended type at offset 8), ftyp and mfra, and carries one Merkle
// map: count = the number of fragments, initHash = SHA-256 of the init
// segment (every top-level box before the first moof, not excluded), and
// hashes = the leaf row, one SHA-256 per fragment over its boxes from its
// moof up to the next moof. As BMFF hash v2/v3 demand, each top-level box
// hashed is preceded in the hash by its offset in the file (8 bytes,
// big-endian), so moving a box changes the hash. The store's size does not
// depend on the hash values, so the file is laid out once with zero hashes,
// hashed at its final offsets, and the store signed once. The whole leaf row
// is in the manifest, so a fragment's Merkle box needs no proof hashes.
//
// What the official reader says (@contentauth/c2pa-wasm 0.15.0 over c2pa-rs
// 0.92.0, test TestOfficialReaderMP4): a signed clip is Valid
// ("assertion.bmffHash.match"), Trusted with the dev CA as anchor; a flipped
// byte in a fragment's mdat ("Fragment not valid"), a changed moov ("BMFF file
// level hash mismatch"), the last fragment dropped, or the manifest moved
// onto another clip ("Incorrect number of fragments hashes"), and two
// fragments swapped ("MerkleMap and MerkleBoxInfo mismatch") are each Invalid
// with assertion.bmffHash.mismatch. ffprobe and ffmpeg play a signed clip
// (players skip unknown uuid boxes; the fragments use default-base-is-moof, so
// no offset inside the file needs adjusting).
//
// SignMP4 writes a signed copy: two reads of the clip and one write of the
// copy. For a 10 s 640x480 MJPEG clip of 5.9 MB, 2.9 KB are added (the store
// with its two certificates, and a 65-byte Merkle box per fragment), and the
// hashing takes 3.7 ms on the build host and about 100 ms on armv7 under
// QEMU (BenchmarkSignMP4), besides the card I/O.
//
// # Signing in place
//
// A camera's clips are not copied to be signed (package storage): a copy
// would write every clip to the SD card twice. The clip is laid out for its
// signature from its first byte: ReserveMP4 gives the manifest box to write
// after ftyp, zeros as large as the store of a clip of the most fragments the
// clip may reach (whatever its capture time) plus 32 bytes; MerkleBox gives
// the box written after each fragment's mdat; BMFFLeaf hashes the init
// segment and each fragment as they are written, at the offsets they keep.
// At the seal SealMP4 signs the store and returns it in a box of exactly the
// reserved size, written over the zeros. The store's size does depend on the
// fragments it names (34 bytes each), so it is brought to the reserved size
// with zero padding in the COSE_Sign1 unprotected header: {"pad": bstr}
// (and a second "pad2" for the sizes one bstr header cannot hit, gaps of 1
// to 4 bytes excepted, which the margin rules out). This is how c2pa-rs
// itself fills a signature box reserved for a later signature (pad_cose_sig,
// "pad" and "pad2" of zeros), the unprotected header is not signed, and the
// official reader judges such clips Valid and Trusted and still catches a
// flipped mdat byte, a dropped or swapped fragment and a moved manifest
// (TestOfficialReaderInPlace). The other ways to fill a reserved box are
// not used: a free box after a shorter manifest box would be hashed into the
// init segment, and bytes after the store inside the manifest box are not
// what the specification says the box holds (how readers take them was not
// tried). After a power cut SignMP4InPlace signs a clip cut back to its last
// whole fragment in place (adding back the last Merkle box when the cut took
// it). A clip with more fragments than its reservation is ErrNoSlot: SignMP4
// then signs a copy, leaving out the unsigned placeholder and the Merkle
// boxes and making them anew.
//
// # How C2PA and camagent's own manifests relate
//
// Both are kept. A clip's own COSE manifest (package manifest, the .manifest
// sidecar written at the seal) names the SHA-256 and size of the files as they
// are on the card, so it covers the signed clip and thumbnail, C2PA stores
// included: our tools (camagent verify, the cloud's ingest) check it and the
// chain of manifests (sequence numbers, previous manifest, owner, motion) that
// C2PA has no place for. The C2PA manifest is made first and cannot name our
// manifest (which hashes it); it makes the same claim, "this device made this
// picture or clip", in the form standard tools check without camagent code.
// Both are signed by the same device key; the C2PA certificate names the
// device ID, and camagent verify fails a file whose C2PA signer is another
// device than its manifest's.
//
// # Signing identity
//
// The device key (a crypto.Signer from package identity) signs; the key never
// leaves the device. Its certificate is the C2PA claim-signing certificate
// the dev CA issues at enrollment beside the TLS client certificate
// (devca.IssueC2PA: key usage digitalSignature, extended key usage
// emailProtection and documentSigning, CN = device ID), because the C2PA
// certificate profile refuses a TLS-only certificate.
//
// # Reading
//
// Verify (a JPEG) and VerifyMP4 (a clip) parse our own output (and C2PA
// files shaped like it) with limits on every size, recompute every hash,
// check the COSE signature with the leaf certificate's key, the certificate
// chain against given roots, and that the device ID in the capture assertion
// is the one the certificate was issued to (the device ID is taken from the verified certificate, never
// from the assertion alone). They are fuzzed (FuzzVerify, FuzzVerifyMP4).
package c2pa
