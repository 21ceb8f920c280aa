// Package receiver is the cloud's end of the MQTT channel: a service
// identity that subscribes to every device's state, events and command
// results, verifies each message's signature against the device key pinned
// at pairing, keeps what verifies (per device, once per sequence number) and
// refuses and counts the rest. It also publishes owner-signed commands.
//
// The device a message is attributed to is the one whose pinned key verified
// it (the signed kid and device field), never the topic it arrived on; a
// verified message on another device's topic is refused ("topic-mismatch"),
// so a device cannot relay another's messages as its own, and the broker's
// ACL already keeps a device out of other devices' topics.
//
// Storage: Dir/<device-id>.events, one line per verified message, the COSE
// bytes in base64. Readers (ReadVerified) verify every line again with the
// pinned key and show a message to an account only when its signed owner is
// that account: the file is not trusted either.
package receiver
