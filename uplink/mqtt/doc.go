// Package mqtt is the camera's messaging channel: it publishes signed events
// and state (package event) to an MQTT broker and obeys signed commands
// (package command) from it, over mutual TLS with the device certificate,
// with github.com/eclipse/paho.mqtt.golang as the protocol engine.
//
// Nothing here trusts the broker for attribution: every payload the camera
// publishes is a COSE_Sign1 by the device key, and a command is obeyed only
// when the paired owner (or, for service ops, the vendor) signed it for this
// device, recently, once. Topics and client IDs only route.
//
// # Topics (Topics)
//
//	camagent/v1/<device-id>/state       retained: state, online, offline
//	                                    (the last will is a signed offline)
//	camagent/v1/<device-id>/events      motion, clips, retention, SD, faults...
//	camagent/v1/<device-id>/cmd         commands to the camera (subscribed)
//	camagent/v1/<device-id>/cmd/result  signed results of commands
//	camagent/v1/<device-id>/live/...    live-view signaling (package live)
//	camagent/v1/<device-id>/binding     retained: the owner binding the cloud
//	                                    signed (subscribed with
//	                                    Config.InstallBinding, which installs
//	                                    it only if it verifies and is newer)
//
// The client ID is the device ID; brokers bind it, and the topics, to the
// certificate's identity (mosquitto: use_identity_as_username and an ACL
// pattern on %u).
//
// # Delivery
//
// Publish never blocks: it hands the event to a bounded in-memory queue
// (dropped and counted when full). One goroutine signs each event with the
// next number of a manifest.Sequencer (its own file in the store: the numbers
// never repeat across restarts and power cuts) and appends it to the outbox
// (package outbox): a crash-safe, bounded file store on persistent storage
// where the oldest message is dropped and counted past the configured size.
// The events waiting in the memory queue when it takes one are signed and
// appended with it in one group commit (up to 32), so a burst costs three
// fsyncs per group rather than per event; a group is durable as a whole
// before the sender sees any of it.
// The sender publishes the outbox in sequence order with QoS 1, at most
// Window messages in flight, and removes each when the broker acknowledges
// it; after a reconnect it starts again from the oldest unacknowledged one.
// So events raised while the broker is down, or before a restart or a
// SIGKILL, arrive once the link is back, in order; a message can arrive
// twice (power cut between acknowledgement and removal, or a lost
// acknowledgement) and receivers drop the repeat by its signed sequence
// number. The session is persistent (clean session off), so commands queued
// at the broker while the camera was away are delivered when it returns.
//
// Why not paho's own file store and reconnect: paho refuses to publish while
// disconnected unless its own reconnect logic runs, its store keeps only
// messages already handed to a live connection, is unbounded, and its
// reconnect does not jitter. The connect loop here is ours: a random delay
// (up to StartDelay) after boot and after losing the broker, then full-jitter
// exponential backoff between failed attempts, so a fleet does not reconnect
// at once after a cloud outage.
//
// # Commands
//
// paho's message handler only copies the payload into a bounded queue (full:
// dropped, counted, logged) so it never blocks paho's router. One worker
// checks each command (command.Checker: signature by the owner key of the
// owner binding or the vendor key, address, expiry, replay cache in the
// store) and runs it through the Handler the daemon implements; every
// refusal is logged with its reason. The result is published signed on
// cmd/result for every command whose signature verified for this device
// (not for forgeries or replays, so nobody else can make the camera talk).
// format-sd needs a second command, format-sd-confirm, carrying the
// challenge the camera answered with, signed by the owner within
// ConfirmWindow.
package mqtt
