// Package storage is the camera's SD card: where event clips are written, how
// they survive power loss, and how the card's health is watched.
//
// A card can be missing, mounted read-only after the kernel saw errors, full,
// or failing with I/O errors; the agent must notice each, report it, keep
// detecting motion, and resume recording by itself when a writable card is
// back. Card probes the mount table (never writing to a mount point that is not
// mounted, which would fill the root filesystem instead) and statfs for space.
//
// Every file the agent writes on the card is written crash-safe: to a temporary
// name in the same directory, synced, renamed, and the directory synced
// (WriteFileAtomic), so a power cut leaves either the old or the new file.
//
// Layout on the card, under the mount point:
//
//	camagent/state.json   the agent's run record: boot ID, start time, whether
//	                      the previous run shut down cleanly, frames captured
package storage
