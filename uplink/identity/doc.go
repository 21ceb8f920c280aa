// Package identity says who a camera is, in a way nobody can get wrong: the
// device ID is computed from the device's public key, never looked up.
//
// # Device ID
//
// DeviceID is "cam-" followed by the lowercase, unpadded base32 (RFC 4648
// alphabet a-z2-7) of the first 20 bytes of SHA-256 over the public key's DER
// SubjectPublicKeyInfo: 36 characters, e.g. "cam-3xq7...". Anyone holding the
// public key recomputes it; no table maps IDs to keys, so no cache can mix
// them up. Only ECDSA P-256 keys are accepted.
//
// Why 20 bytes (160 bits): taking over another camera's ID means finding a key
// whose hash matches a given ID, a second preimage: 2^160 work. Two honest
// devices colliding needs ~2^80 devices (birthday bound). An attacker who finds
// a collision between two keys he made himself (2^80 work) only gets two keys
// for one ID that he already owns; viewers pin the key at pairing anyway. 160
// bits is what Git and many key fingerprints settled on, and it keeps the ID
// short enough for an X.509 CN (64), a DNS label (63), an MQTT topic level and
// a file name. The "cam-" prefix makes the ID recognisable in logs and URLs and
// keeps it from ever starting with a digit; base32 is case-insensitive and has
// no look-alike characters (no 0, 1, 8, 9).
//
// # Certificates
//
// CSR makes a PKCS#10 request with CN = device ID; CertDeviceID recomputes the
// ID from a certificate's key and checks that its CN agrees, so a TLS client
// identity and a manifest's kid can be compared without trusting names.
//
// # Owner binding
//
// Pairing gives the device an OwnerBinding: its device ID, the owner's account
// ID and the owner's public keys, signed by the cloud's pairing key as an
// envelope (COSE_Sign1, content type BindingContentType) over deterministic
// CBOR:
//
//	key  name     CBOR type   meaning
//	1    version  uint        1 (one owner key) or 2 (several)
//	2    device   tstr        device ID the binding is for
//	3    account  tstr        owner account ID (1..128 bytes)
//	4    ownerkey bstr        version 1: the owner's public key, SPKI DER, ECDSA P-256
//	              [+ bstr]    version 2: 2..MaxOwnerKeys distinct such keys, the
//	                          account's (CLI) key first, then others such as a
//	                          browser's WebCrypto key
//	5    issued   int         issue time, Unix milliseconds
//
// Any of the named keys speaks for the owner; no other key does.
// Every key is required; unknown keys, duplicate keys, indefinite lengths and
// non-canonical encodings are refused. The device keeps the signed bytes (not a
// decoded copy) next to its key (SaveOwnerBinding), and re-verifies them at
// every load, so a corrupted or edited file is refused rather than trusted.
//
// A binding the cloud sends later (over MQTT: a browser key registered, a
// key dropped) goes through InstallOwnerBinding: it must verify against the
// pinned pairing key, name this device, and be newer than the held one —
// its issue time strictly later (the cloud issues each binding of a device
// at least 1 ms after the last) — else it is refused (ErrBindingSignature,
// ErrWrongDevice, ErrStaleBinding) and the held file stays. That refuses a
// replayed binding and a rollback to one naming a key since dropped. The
// high-water mark is the held binding itself: after a factory reset (no
// binding held) any binding the pairing key signed for the device installs.
package identity
