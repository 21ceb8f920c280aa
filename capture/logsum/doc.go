// Package logsum says a repeated condition once: a line when it starts, a
// count per interval while it goes on, and a line when it ends.
//
// It exists because a camera's log goes to the serial console, a RAM ring and
// the SD card: a condition met on every frame (the motion detector
// re-learning its background while the picture keeps moving, a stream of bad
// frames) must not write a line per frame, and must not be hidden either.
//
// A Condition is driven by the caller's clock (a frame's capture time), so it
// is deterministic in tests and allocates nothing when it does not log.
package logsum
