// Package event is the signed message a camera publishes about itself: a
// motion start or end, a clip sealed or uploaded, clips deleted by retention,
// an SD card or capture fault, a day/night switch, its periodic state, that
// it is online or offline, or the result of a command. MQTT carries them
// (package mqtt), but the format does not depend on the transport: it says
// which camera it is from because that camera signed it, never because of a
// topic name, a client ID or a broker's bookkeeping (DESIGN.md, the
// attribution invariant).
//
// # Envelope
//
// An envelope (package envelope): canonical COSE_Sign1, ES256, protected
// header {1: -7, 3: ContentType, 4: kid = the device ID as UTF-8}, empty
// unprotected header. Unlike a manifest the payload does not embed the public
// key (every byte counts on a metered link): the receiver verifies with the
// key it pinned when the device was paired, and Verify checks that the key's
// device ID, the kid and the payload's device all agree.
//
// # Payload: deterministic CBOR
//
//	key  field   CBOR type  meaning
//	1    version uint       1
//	2    device  tstr       device ID (= kid)
//	3    owner   tstr       owner account the device is paired to ("" unpaired)
//	4    seq     uint       >= 1, strictly increasing per device, never reused
//	                        across restarts and power cuts (manifest.Sequencer;
//	                        gaps after a restart are normal)
//	5    boot    tstr       the kernel boot ID of the run (1..64 printable ASCII)
//	6    time    int        when it happened, Unix ms, device clock
//	7    clock   bool       whether the device clock was synchronised
//	8    kind    tstr       one of the Kind constants
//	9    body    map        the kind's fields, below; a field at its zero value
//	                        is left out (and refused when written out)
//
//	body key  field      type           kinds
//	1         score      uint (ppm)     motion-start, motion-end
//	2         boxes      [*[x,y,w,h]]   motion-start, motion-end (<= MaxBoxes)
//	3         motion     uint           motion-*: the detector's event number
//	4         clip       tstr           clip-*: the clip's name on the card
//	5         manifest   uint           clip-*: the clip manifest's seq
//	6         bytes      uint           clip-*: clip size
//	7         duration   uint (ms)      clip-sealed
//	8         deleted    uint           retention: clips deleted
//	9         freed      uint (bytes)   retention
//	10        state      tstr           sd ("ok", "missing", "read-only",
//	                                    "full", "error"), day-night ("day",
//	                                    "night"), cmd-result ("done",
//	                                    "refused", "confirm")
//	11        reason     tstr           any: a human-readable reason/message
//	12        uptime     uint (s)       state, online
//	13        sdfree     uint (bytes)   state
//	14        sdtotal    uint (bytes)   state
//	15        fps        uint (mfps)    state: capture frames/s x 1000
//	16        backlog    uint           state: clips waiting for upload
//	17        dropped    uint           state: events this device dropped
//	                                    from its full queue, ever
//	18        nonce      bstr           cmd-result: the command's nonce
//	19        op         tstr           cmd-result: the command's op
//	20        challenge  bstr           cmd-result "confirm": what the
//	                                    confirming command must carry
//
// Decoding is strict: at most MaxSize bytes, every text bounded and printable,
// unknown, duplicate or missing keys, indefinite lengths, tags and any
// non-canonical encoding refused with ErrMalformed (envelope.DecodeStrict).
// ErrBadSignature and ErrKeyMismatch are the other failures.
//
// Render writes a message as one line for people (`camagent ctl events`, the
// shell, `camcloud events`).
package event
