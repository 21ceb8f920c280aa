// Package verify is the last check before a person sees anything: given an
// object (a clip, a thumbnail), the manifest served with it, and what the
// viewer knows from pairing (its account and the pinned public key of each of
// its devices), it decides show or refuse, and says why.
//
// It is small and has no state on purpose, so a viewer app, a web backend
// that renders for a viewer, or another cloud can import it and re-verify on
// its own, without trusting the ingest, its caches or its database (see the
// attribution invariant in ARCHITECTURE.md, point 5). An item is shown only when
// every one of these holds:
//
//   - the manifest is well formed (code "malformed" otherwise);
//   - its kid names one of the viewer's paired devices ("unknown-device");
//   - its signature verifies with the key pinned for that device, and the key,
//     kid and device ID agree ("bad-signature");
//   - its owner field is the viewer's account ("wrong-owner");
//   - it covers an object with the requested role ("not-covered");
//   - the object's size and SHA-256 equal the manifest's entry
//     ("size-mismatch", "hash-mismatch"; "read-error" if the object could not
//     be read).
//
// The codes are stable and machine-readable; Reason is for people and logs.
package verify
