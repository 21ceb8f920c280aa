package storage

import (
	"os"

	"github.com/camagent/camagent/storage/atomicfile"
)

// WriteFileAtomic forwards to atomicfile.WriteFile; it stays for the agent's
// commands that still call it. New code imports storage/atomicfile.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return atomicfile.WriteFile(path, data, perm)
}

// SyncDir forwards to atomicfile.SyncDir; it stays for the agent's commands
// that still call it. New code imports storage/atomicfile.
func SyncDir(dir string) error { return atomicfile.SyncDir(dir) }
