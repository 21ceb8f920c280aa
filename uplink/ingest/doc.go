// Package ingest is the reference receiving end of camagent uploads: it
// accepts a camera's signed manifests and the objects they cover, verifies
// them on every write, stores each object under the device ID taken from its
// verified manifest, and serves every object together with that manifest so
// that a viewer re-verifies before showing anything (package verify).
//
// It exists to show, and to test, that no cloud component can attribute an
// object to the wrong device or account without the mix-up being detected
// (the attribution invariant in ARCHITECTURE.md). The device-to-owner lookup it
// uses is an interface (Owners) because in a real cloud it sits behind a
// cache: the ingest never trusts its answer alone. Every answer must name the
// device it was asked about (an answer for another device is counted as a
// mix-up and the lookup is asked again), and it must agree with the owner the
// device signed into its manifest.
//
// # Transport
//
// HTTP/1.1 or HTTP/2 over TLS; a camera authenticates with its device
// certificate (mutual TLS). The TLS layer only requests the client
// certificate (TLSConfig); the ingest verifies it against its CA pool, for
// client authentication, at its own clock, so that an expired or foreign
// certificate is answered with a clear error code instead of a failed
// handshake. The chain is verified once per TLS connection (ConnContext
// keeps the result with the connection; Serve sets it) and again only when
// the ingest's clock leaves the chain's validity; without the hook, on every
// request. The TLS identity of a request is identity.CertDeviceID(leaf): the
// device ID recomputed from the certificate's key, which must equal its CN.
// It only gates the connection: a manifest's device is always its verified
// signer, which must equal the TLS identity.
//
// # Admission control
//
// A reconnect storm (every camera back at once after an outage) must not
// make the ingest take on more work than it can finish: thousands of
// half-done handshakes and requests sharing the CPU all time out together,
// and their buffers are the memory the incident's overload began with.
// Limits (Config.Limits, defaults scaled by GOMAXPROCS) bound it, refusing
// as early and as cheaply as possible:
//
//   - Serve accepts connections itself and closes one right after accept,
//     before any TLS work, when MaxConns connections are open; at most
//     MaxHandshakes handshakes run at once, HandshakeQueue accepted
//     connections wait (at most HandshakeWait) for their turn, and while
//     that queue is full nothing is accepted: the kernel's backlog holds
//     the rest (free for this process), and the clients' SYN retries and
//     timeouts spread a synchronized wave.
//   - A request waits (at most RequestWait, RequestQueue of them) for one of
//     MaxRequests slots (manifests, status and reads: signature checks) or
//     MaxUploads slots (object bodies: network and disk), else it is
//     answered at once, before any verification, 503 overloaded with a
//     Retry-After: its place in the queue of requests already told to come
//     back, at the rate the slots are freed (a moving average of their
//     service time), spread over half to one and a half times that so the
//     cameras told together do not return together, between 1 s and
//     MaxRetryHint. The uploader waits at least that (package upload).
//   - Above three quarters of MaxConns, the answer that leaves a device with
//     nothing more to send closes its connection.
//
// Stats.Admission counts what was refused and the peaks.
//
// # Writing (the camera, with its client certificate)
//
//	POST /v1/manifests                      body: the manifest's COSE bytes
//	PUT  /v1/objects/{sha256}?offset=N      body: the object's bytes from N to its end
//	GET  /v1/objects/{sha256}/status        (HEAD too: Upload-Offset header only)
//
// POST /v1/manifests verifies, in this order, and refuses with the code in
// brackets: the body is at most manifest.MaxSize bytes [too-large]; it is a
// canonical COSE_Sign1 manifest [malformed] whose kid, device ID and
// embedded key agree [key-mismatch] and whose signature verifies with that
// key [bad-signature]; its device ID is the TLS identity [identity-mismatch];
// each object is at most Config.MaxObjectSize [too-large]; the owner lookup
// answers for this device [lookup-inconsistent, 503, retry], the device is
// paired [unpaired] and its account is the manifest's owner
// [owner-mismatch]. Then the sequence and the chain, per device: a manifest
// identical to the stored one with its sequence number is a replay, an
// idempotent no-op that gets the same answer (with "replay": true); a
// different manifest with a stored sequence number is refused
// [seq-conflict]; one below the newest accepted is refused [seq-rollback]
// unless the stored manifest that follows it links to it (Prev), i.e. it is
// the missing link the chain vouches for; one that does not link to the
// newest accepted manifest is stored and the gap recorded ("gap": true,
// Stats.Gaps, gaps.log). Skipped sequence numbers that still link (a crash
// between reservations, see package manifest) are not gaps. An object the
// device already uploaded for an earlier item (the same SHA-256 and size) is
// linked into the new item, not asked for again (Stats.ObjectsLinked). The
// answer (200, ManifestAnswer) lists the objects the ingest still lacks with
// how much of each it has (offset).
//
// PUT /v1/objects/{sha256}?offset=N appends the body to the staged partial
// object keyed by (TLS identity, sha256). It is refused when no stored
// manifest of this TLS identity declares the object [not-declared, 404],
// when N is not the staged length [offset-mismatch, 409, with the offset],
// while another request writes the same object [busy, 409, Retry-After], or
// when the body goes past the declared size [too-large, 413: the staged
// bytes go to quarantine and the object starts over]. A body that ends
// before the object's end keeps what arrived and is answered [truncated,
// 400, with the offset]; a connection cut keeps what arrived too. When the
// staged length reaches the declared size, the object is accepted only if
// its SHA-256 is the declared one [hash-mismatch, 422: quarantined, starts
// over]; it is then moved into every item of this device that declares it,
// and the answer (200, ObjectAnswer) says complete.
//
// Server.Run sweeps staging (SweepStaging) at start and every hour: a
// partial object no stored manifest declares any more, or one not written to
// for Config.StagingMaxAge (a week by default), is removed, so a camera that
// gave up an upload leaves nothing behind; if it comes back, the answer tells
// it to start at offset 0.
//
// The status request answers the staged length (ObjectAnswer, and the
// Upload-Offset header) for an object this TLS identity declared.
//
// # Reading (a viewer, with "Authorization: Bearer <token>")
//
//	GET /v1/devices/{device}/items?after=SEQ&limit=N   ItemList (JSON)
//	GET /v1/items/{device}/{seq}/{role}                the object; its manifest
//	                                                   in the Camagent-Manifest
//	                                                   header (standard base64)
//	GET /v1/items/{device}/{seq}/manifest              the manifest's COSE bytes
//
// The token names an account (Accounts) [unauthorized]; the owner lookup
// must answer for this device [lookup-inconsistent] with that account
// [forbidden]. Each stored manifest is verified again before it is listed or
// served: its device ID must be the one in the path [store-corrupt: never
// served], and its owner field must be the viewer's account (items the
// device made for a previous owner are not listed, and not served
// [forbidden]). The URL only selects; attribution always comes from the
// verified manifest, which the viewer checks again itself.
//
// Every refusal is a JSON ErrorAnswer {"error": text, "code": code} (package
// protocol has the codes), and the offending bytes (manifest, certificate,
// or staged object) are kept in quarantine with a JSON note, up to
// Config.QuarantineBytes.
//
// # Storage, under Config.Root
//
//	store/devices/<device>/state.json            newest accepted seq and hash, gap count
//	store/devices/<device>/gaps.log              one JSON line per recorded gap
//	store/devices/<device>/<seq:020d>/manifest.cose
//	store/devices/<device>/<seq:020d>/obj-<role> each object, once accepted
//	store/devices/<device>/<seq:020d>/complete   written when every object is there
//	staging/<tls identity>/<sha256>.part         partial objects
//	quarantine/<time>-<code>-<rand>.json|.bin    refused requests and their bytes
//
// <device> in store/ is always the device ID of a verified manifest. Every
// file is written through a temporary file, fsync and rename.
package ingest
