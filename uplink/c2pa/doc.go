// Package c2pa puts Content Credentials (C2PA, https://c2pa.org) into the
// camera's JPEG pictures and reads them back.
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
// Verify parses our own output (and C2PA JPEGs shaped like it) with limits
// on every size, recomputes every hash, checks the COSE signature with the
// leaf certificate's key, the certificate chain against given roots, and
// that the device ID in the capture assertion is the one the certificate
// was issued to (the device ID is taken from the verified certificate, never
// from the assertion alone). It is fuzzed (FuzzVerify).
package c2pa
