// Package keystore holds the camera's device key: the one ECDSA P-256 private
// key that signs everything the camera sends (see the attribution invariant in
// ARCHITECTURE.md). The private key never leaves this package: callers get a
// crypto.Signer, so a board with a TPM or a secure element can put its own
// signer in the same place without the rest of the agent changing.
//
// Keystore is hardware: it sits at the bottom and imports no other part of
// camagent but storage/atomicfile. What the key means (the device ID derived
// from its public key, certificates, owner bindings) is package identity's,
// which wraps the signer as identity.DeviceKey.
//
// The default store is a file: PKCS#8 in a PEM "PRIVATE KEY" block, mode 0600,
// on the persistent partition the board names (by default
// /var/lib/camagent/device.key; the caller passes the path). Open creates the
// key at first start when the file is absent, crash-safe and without ever
// replacing an existing key: the new key is written and fsynced under a
// temporary name in the same directory, then hard-linked into place (which
// fails if a key appeared meanwhile, in which case that key is used), then the
// directory is fsynced. On filesystems without hard links (vfat) it falls back
// to a rename after checking again that no key exists.
//
// An existing file that is not a valid P-256 PKCS#8 key is never overwritten:
// Open returns ErrCorrupt with what to do. An existing key readable by group or
// others is tightened to 0600 when the filesystem allows it (vfat takes its
// modes from the mount options instead).
//
// A FileKey never shows its private key: String, GoString, every fmt verb,
// JSON and slog all print "keystore.FileKey(<path>)", and the private key
// is held only inside a closure so even reflection-based printing of a struct
// that embeds a FileKey finds nothing to print.
package keystore
