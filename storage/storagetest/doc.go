// Package storagetest fakes an SD card for tests of the clip store and the
// recorder: a temporary folder as the mount point, a mount table of its own
// that says whether the card is mounted writable, read-only or not at all,
// a statfs that reports a chosen capacity (so a "full card" is a few hundred
// kilobytes of files), and files that fail their writes like a dying card.
package storagetest
