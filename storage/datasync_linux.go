package storage

import (
	"os"

	"golang.org/x/sys/unix"
)

// datasync flushes f's data (and the metadata needed to read it back, such
// as its size) to the card: fdatasync(2).
func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
