// Package upload sends the camera's sealed clips to the ingest (package
// ingest documents the protocol), so that each arrives with the signed
// manifest that attributes it to this device.
//
// The SD card is the queue: a complete clip is pending until the clip store
// marks it uploaded; there is no second database to get out of step with
// the card. The uploader does not know the card's folders or sidecar files:
// it takes clips from the store (the Store interface, storage.Store on the
// camera), which announces each clip that becomes complete (Subscribe),
// says which clips are still pending (Pending, asked at start, every
// Config.Rescan, and whenever the store signals that its announcements
// missed some), and names each clip's files.
//
// Order: oldest first by the manifest's sequence number (not by file name:
// a camera without a real-time clock names clips by a wrong clock after a
// reboot), and every pending manifest and thumbnail before any clip body, so
// after an outage viewers see every event's thumbnail before the clips fill
// in. A clip body goes right after its thumbnail when no other item is
// waiting for its manifest.
//
// Resumable and content-addressed: each step posts the manifest (a repeat is
// an idempotent replay at the ingest), learns which objects the ingest lacks
// and how much of each it has, and sends each from that offset by its
// SHA-256. A connection cut, a power cut or a killed agent costs only the
// bytes in flight: the next attempt resumes from what the ingest stored.
//
// Pacing and retries: a random delay in [0, StartDelay] before the first
// attempt after start; after a failure, capped exponential backoff with full
// jitter (a random wait in [0, min(Cap, Base*2^(n-1))] before retry n), and at
// least the Retry-After the ingest sent (seconds or an HTTP-date) plus a
// little jitter; a 503 with Retry-After (the ingest's admission control
// answering overloaded) is the cloud being busy, not the camera's fault:
// the uploader waits the hint (capped at Backoff.Cap) plus up to
// Backoff.Base of jitter, keeps its queue, counts no failure (the outage
// backoff does not grow) and Status says "cloud busy, retrying in Ns"; the backlog drains through a token bucket (ItemRate,
// ItemBurst) that is emptied after an outage so the drain starts at the
// steady rate; object bytes go through an optional bandwidth cap (Limiter).
// An item the ingest refuses for good (bad signature, hash mismatch, sequence
// rollback, ...) is parked for ParkFor and the queue goes on; a refusal of
// the device itself (certificate, pairing) backs off like an outage.
//
// Transport is mutual TLS with the device certificate (TLSConfig): the
// certificate file is paired with the keystore's crypto.Signer, so the
// private key never leaves the keystore.
//
// Status reports the queue, per-item progress, the last error and the next
// attempt, for `camagent ctl uploads`; a long drain logs its progress every
// ProgressEvery.
package upload
