// Command camcloud is the development cloud: the reference ingest (package
// ingest) on the host's loopback, with a development CA, owner accounts and
// pairing, so that a camera under QEMU (or a test) uploads to something real
// and every clip it records shows up here verified.
//
// It is a development tool, not a product: one process, files in one data
// directory, the CA and pairing keys in plain files (0600).
//
//	camcloud serve  [-data DIR] [-listen 127.0.0.1:8443] [-hosts ...] [-mqtt 127.0.0.1:8883]
//	camcloud init   [-data DIR] [-hosts ...]
//	camcloud enroll [-data DIR] -csr device.csr -out device.crt [-c2pa-out c2pa.crt]
//	camcloud pair   [-data DIR] -device ID -account NAME [-out owner.binding] [-pubkey device.pub]
//	camcloud token  [-data DIR] -account NAME
//	camcloud list   [-data DIR] -account NAME [-token T] [-url https://127.0.0.1:8443]
//	camcloud events [-data DIR] -account NAME [-token T] [-url https://127.0.0.1:8443]
//	camcloud cmd    [-data DIR] -account NAME -device ID -op OP [-patch TOML] [-confirm HEX]
//	                [-ttl 5m] [-wait 30s] [-broker tls://127.0.0.1:8883]
//
// serve (the default) creates on first start, in the data directory: the dev
// CA (ca.key, ca.crt: devices trust ca.crt and get their certificates from
// it), the ingest's TLS certificate for -hosts (server.crt, reissued when the
// hosts change or it nears expiry), and the pairing key (pairing.key,
// pairing.pub: devices verify their owner binding with pairing.pub). It
// listens on 127.0.0.1:8443 by default; the QEMU guest reaches it as
// 10.0.2.100:8443 through a forward to that address, which is why 10.0.2.100
// is in the default -hosts. It prints a one-time enrollment token: a device
// may POST its CSR (PEM) to /v1/enroll with "Authorization: Bearer <token>"
// over plain server-authenticated TLS and gets its certificate back; the
// token is then spent. A device that sends "Accept: application/json" gets a
// JSON answer instead, {"device", "certificate", "c2pa_certificate"}: its TLS
// certificate and, beside it, its C2PA claim-signing certificate chain
// (device, then CA; PEM), which it signs Content Credentials with (package
// c2pa). enroll -c2pa-out writes that chain too. enroll does the same offline from files, which is
// what scripts use.
//
// pair creates the owner account if needed (an owner key pair in
// accounts/NAME.key, and a first viewer token, printed once), records the
// pairing in registry.json (which a running serve picks up), and writes the
// owner binding signed with the pairing key, for the device to install. The
// device's public key is pinned from its CSR at enrollment (or -pubkey).
//
// list is a viewer: it lists the account's devices' items through the read
// API, fetches each object with its manifest, and checks it with package
// verify against the keys pinned at pairing, printing SHOW or REFUSE and why.
//
// MQTT: serve -mqtt 127.0.0.1:8883 (what make run passes) also starts a real
// mosquitto (Debian's package) there with require_certificate,
// use_identity_as_username and an ACL pattern that lets each certificate
// identity use only camagent/v1/<its own ID>/# (package mosquitto); the QEMU
// guest reaches it as 10.0.2.100:8883. Its service identity (service.crt,
// CN camcloud-service) subscribes to every device's state, events and command
// results, verifies each message against the key pinned at enrollment or
// pairing, refuses and counts what does not verify, and keeps the verified
// ones in events/<device>.events (package receiver). The read API serves them
// at GET /v1/devices/{id}/events?after=SEQ[&limit=N] (viewer token; the
// COSE bytes included, as the device signed them; limit keeps the newest N); events is its viewer, verifying every message again and showing
// only those signed for the account. cmd signs a command (package command)
// with the account's owner key, publishes it to the device's cmd topic as the
// service identity and prints the device's signed result.
// # The owner's page
//
// serve also serves the owner's web page at /app/ (plain HTML and JavaScript
// embedded in the binary, no build step; it prints the URL). Sign in with an
// account name and a viewer token (camcloud token). The page lists the
// account's devices; it recomputes each device ID from the key the server
// gives (so the server cannot swap keys) and pins it in IndexedDB. It shows a
// clip or thumbnail only after checking, with WebCrypto, that its manifest's
// COSE signature verifies against the pinned key, names that device and this
// account, and that the object's size and SHA-256 are the signed ones;
// otherwise it says what it refused and why. Under each device it shows
// the newest 20 of its events in plain words, and its state (online or
// offline, SD card, frames/s, upload backlog, clock) from the newest state
// event, polling for new ones every 5 s; each event is shown only after the
// page checked, as Go's event.Verify and receiver.ReadVerified do, that its
// COSE_Sign1 is in the canonical form (low-s), its kid and payload name
// that device, its signature verifies against the pinned key and it names
// this account; any other is listed as refused with the reason. MJPEG clips are drawn sample by
// sample on a canvas at their timestamps, H.264 clips go through Media
// Source Extensions.
//
// Beside that verdict the page shows the Content Credentials (C2PA, package
// uplink/c2pa) inside each clip, thumbnail and snapshot it fetched, also
// checked in the browser (web/c2pa.js): the manifest store from the JPEG's
// APP11 segments or the clip's C2PA uuid box; the x5chain leaf certificate
// must carry the pinned device key and name the device (the key is the
// trust: the page does not judge the issuing CA); the claim's COSE_Sign1
// ES256 signature, each assertion's hash in the claim, the capture
// assertion's device, and the hash over the picture (c2pa.hash.data) or over
// the clip's init segment and each fragment (the Merkle leaves of
// c2pa.hash.bmff.v3). It shows "valid" with the signer, device and capture
// time, and "no trusted time-stamp" (the camera signs without one), or
// "INVALID" with the first check that failed (also listed among the
// refusals), or that the file carries none. The two verdicts are
// independent: a file the cloud changed is refused by both; one the camera's
// own manifest covers can still have credentials that do not hold.
//
// The browser's owner key is a WebCrypto ECDSA P-256 key, non-extractable,
// kept in IndexedDB. "Register this browser's key" posts its public key
// (POST /app/api/owner-key); the cloud then signs, for each device of the
// account, a new owner binding naming that key (bindings/<device>.binding)
// and, under serve -mqtt, publishes it retained on the device's binding
// topic as the service identity (a device offline then gets it when it
// connects). The device installs it only if the pairing key signed it for
// that device and it is newer than the binding it holds (uplink/identity
// InstallOwnerBinding); the cloud issues each binding of a device at least
// 1 ms after the last. The binding names the account's file key (the
// CLI's) first and the browser's beside it (a version 2 binding, see
// uplink/identity), so both open live view; pairing a device to an account
// that already registered a browser key names both too.
//
// Live view: the page signs an offer (package live) with the browser key
// and posts it to /app/api/live/<device>/offer; the cloud relays it to the
// device's live/offer topic and returns the first answer on live/answer
// that claims the offer's nonce. The page accepts the answer only if it
// verifies against the pinned device key, names the device, carries its
// nonce, and its signed DTLS fingerprint is its SDP's; so the relay can
// forge neither side. `camcloud serve -mqtt` relays through its broker as
// the service identity, one short MQTT connection per offer (liverelay.go);
// without -mqtt the endpoint answers 503. `camcloud serve -turn ADDR` also
// runs a TURN server (TCP, pion/turn, turn.go) for cameras that cannot reach
// the browser directly (the QEMU camera: make run forwards its 3478 there);
// the page gets its URL and credential from GET /app/api/ice, the camera
// gets the credential file (turn.cred) on its flash from scripts/cloud.sh.
//
// Data directory layout: ca.key, ca.crt, server.key, server.crt,
// pairing.key, pairing.pub, registry.json, accounts/, bindings/,
// enroll.token, ingest/ (the ingest's store/, staging/ and quarantine/),
// service.key, service.crt, mqtt/ (mosquitto.conf, acl, its persistence and
// mosquitto.log), events/, turn.cred.
package main
