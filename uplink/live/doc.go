// Package live is the camera's live view over WebRTC (github.com/pion/webrtc/v4),
// bound to the device's identity end to end so that a signaling mix-up can
// never show one owner another owner's camera.
//
// # Signaling
//
// Two signed messages, both COSE_Sign1 envelopes (uplink/envelope) over
// deterministic CBOR with every key present; unknown or duplicate keys,
// indefinite lengths, tags and non-canonical encodings are refused.
//
// The offer (OfferContentType, no kid) is signed by the owner's key:
//
//	key  name     CBOR type  meaning
//	1    version  uint       1
//	2    device   tstr       the device ID the offer is for
//	3    nonce    bstr       the viewer's fresh random nonce, 16..64 bytes
//	4    issued   int        Unix milliseconds
//	5    expires  int        Unix milliseconds; expires - issued <= OfferMaxLife
//	6    sdp      tstr       the viewer's SDP offer, candidates included (<= 32 KiB)
//
// The device verifies it against the owner keys named in its owner binding
// (an owner may have several: the CLI's file key, a browser's WebCrypto key;
// any of them will do) — the binding signed by the cloud's pairing key
// (uplink/identity) and no other source — and refuses it when it is forged, addressed to another
// device, expired (or issued in the future, or living too long) or replayed
// (the device remembers each nonce until its offer expires). Forged,
// misaddressed and replayed offers get no answer at all; a genuine offer that
// cannot be served (expired, viewer limit, camera stopped) gets a signed
// refusal, so the owner learns why.
//
// The answer (AnswerContentType, kid = device ID) is signed by the device key:
//
//	key  name         CBOR type  meaning
//	1    version      uint       1
//	2    device       tstr       the device ID
//	3    session      tstr       session ID ("" in a refusal)
//	4    nonce        bstr       the offer's nonce
//	5    media        tstr       "h264" (video track) or "jpeg" (data channel); "" in a refusal
//	6    sdp          tstr       the device's SDP answer, candidates included
//	7    fingerprint  tstr       the DTLS fingerprint of sdp, "sha-256 AB:CD:..."
//	8    refused      tstr       why the offer was refused; "" when accepted
//
// The viewer (Dial, or the owner's web page) accepts an answer only when it
// verifies against the device key it pinned at pairing, names that device,
// and carries its own nonce; DTLS then enforces the signed fingerprint, so
// the media comes from the holder of the device's answer and nothing else.
//
// Offers and answers are sent after ICE gathering completes, so every
// candidate is inside the signed SDP and no unsigned candidate message exists.
// Signaling needs only a Transport (publish/subscribe of bytes on
// TopicOffer and TopicAnswer under the device's MQTT prefix); the transport
// is trusted with nothing.
//
// # Media
//
// Each viewer gets a session: one PeerConnection fed through a drop-oldest
// queue, so a slow viewer loses frames and never holds up capture, motion,
// recording or the other viewers. When the camera gives H.264 the session
// holds its own capture queue (capture.Hub) and sends a video track: it
// starts at an IDR (asking the source for one when it can), puts SPS and PPS
// before every IDR, and stamps RTP times from the capture timestamps. Any
// other format goes as JPEG pictures on the viewer's "live" data channel at
// Config.FPS. A picture is made once for all viewers: while any JPEG session
// streams, one intake holds a capture queue, encodes a frame (raw frames with
// storage/jpegframe, MJPEG frames as they are) into a pooled,
// reference-counted buffer and hands it to every session's picture queue
// (depth 2, drop-oldest); with no JPEG viewer nothing is encoded. Each
// picture is cut into messages of at most ChunkSize bytes led by a flag byte
// (ChunkLast on the final one); a session skips pictures while its channel
// has more than 512 KiB buffered.
//
// # Limits
//
// At most MaxViewers sessions; a session that is not connected for
// IdleTimeout, or that lives MaxSession, ends; ending a session closes its
// PeerConnection, releases its queue and waits for its goroutines. Server.Run
// returns only after every session has ended.
package live
