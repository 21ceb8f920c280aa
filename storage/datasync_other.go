//go:build !linux

package storage

import "os"

// datasync flushes f to the disk; off Linux it is a full fsync.
func datasync(f *os.File) error { return f.Sync() }
