// Package outbox is the camera's durable, bounded queue of signed messages
// waiting for the broker: what makes events raised while the link is down,
// or before a restart, a crash or a power cut, arrive once the link is back,
// in order.
//
// Each message is one file, named by its sequence number (20 decimal digits,
// ".msg"), written crash-safe (temporary file, fsync, rename, directory
// fsync: storage.WriteFileAtomic) before Append returns, and removed when the
// broker has acknowledged it. A file holds a route byte (which topic), the
// signed bytes, and a CRC-32 of both; a file that fails its CRC (a card or
// flash returning garbage) is dropped and counted, never sent. Order is the
// sequence order, which is the order the messages were signed in.
//
// Bounded: at most Capacity messages. Appending to a full outbox drops the
// oldest message and counts it (Dropped, kept in a small state file so the
// count survives restarts and is reported in the camera's state messages).
// In memory only the sequence numbers are held (8 bytes per message).
//
// A power cut between the broker's acknowledgement and the removal makes a
// message go out twice; receivers drop the repeat by its signed sequence
// number. Nothing is ever lost silently: it is delivered, or counted as
// dropped.
package outbox
