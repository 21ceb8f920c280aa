// Package outbox is the camera's durable, bounded queue of signed messages
// waiting for the broker: what makes events raised while the link is down,
// or before a restart, a crash or a power cut, arrive once the link is back,
// in order.
//
// Messages are appended in group commits (AppendBatch; Append is a batch of
// one): each batch is one file, named by its first sequence number (20
// decimal digits, ".batch"), written crash-safe (temporary file, fsync,
// rename, fsync, directory fsync: atomicfile.WriteFile) before
// AppendBatch returns, so a crash leaves all of a batch or none of it, and
// the three fsyncs are paid once per batch rather than once per message. A
// batch file holds records in sequence order: sequence number, route byte
// (which topic), length, the signed bytes, and a CRC-32 of the record. A
// record that fails its check (a card or flash returning garbage) is dropped
// and counted, with the rest of its file after it, never sent. Order is the
// sequence order, which is the order the messages were signed in. Files of
// the first format (one message per ".msg" file: route, signed bytes,
// CRC-32) are still read.
//
// A message is removed when the broker has acknowledged it; its file goes
// when the last of its messages has. A restart therefore sends again the
// acknowledged messages of a batch that was not wholly acknowledged (at
// most MaxBatch), as a power cut between an acknowledgement and a removal
// always could: receivers drop the repeat by its signed sequence number.
// Nothing is ever lost silently: it is delivered, or counted as dropped.
//
// Bounded: at most Capacity messages. Appending to a full outbox drops the
// oldest messages and counts them (Dropped, kept in a small state file so
// the count survives restarts and is reported in the camera's state
// messages). In memory the sequence numbers are held (8 bytes per message),
// one small entry per file, and the last batch file Next read (at most
// MaxBatchBytes).
package outbox
