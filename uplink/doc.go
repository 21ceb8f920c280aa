// Package uplink carries what the camera sends to the cloud: device identity
// and signing, signed manifests, the upload queue and client, MQTT and live
// view, and the reference receiving end.
//
// It is where the attribution invariant (ARCHITECTURE.md) is kept: every
// artifact leaves the device covered by a COSE_Sign1 over a manifest naming the
// device ID, and the receiving end takes identity from the verified signature,
// never from a URL, header, cache or lookup. The parts are its subpackages
// (identity, envelope, manifest, upload, verify, ingest, camcloud; later mqtt
// and live); this package holds only this description.
package uplink
