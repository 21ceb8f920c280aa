// Package atomicfile writes small files so that a power cut leaves either the
// old file or the new one, and reads files with a size bound.
//
// Cameras lose power without warning, and their SD cards are usually vfat.
// Every file the agent replaces (a signed manifest, a key binding, a config
// file, a registry) goes through WriteFile: a temporary file in the same
// directory, fsync, rename, a second fsync (vfat keeps a file's size in its
// directory entry, which a rename alone does not write), then an fsync of the
// directory. ReadFileMax is the other half: every file the agent reads back
// may have been replaced by anyone with access to the card, so it is read
// with a limit, never whole.
//
// The package is a leaf: it imports only the standard library, so the
// signing, cloud and viewer code can use it without linking capture, fMP4 or
// V4L2 code.
package atomicfile
