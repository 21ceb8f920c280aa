package storage

import (
	"errors"
	"syscall"
)

// StateIOError is the state of a card that is mounted writable but on which
// a write or sync failed (EIO and the like): it may be failing. Recording
// tries again after a while.
const StateIOError = "io-error"

// Errors of the clip store. Test them with errors.Is.
var (
	// ErrNotWritable: the card is missing, read-only, full or failing, so
	// nothing is written.
	ErrNotWritable = errors.New("storage: card not writable")
	// ErrEmptyClip: a clip was sealed before any fragment was written; its
	// .part file is removed.
	ErrEmptyClip = errors.New("storage: clip holds no fragment")
	// ErrIncomplete: the clip is sealed but the OnSeal hook failed, so it has
	// no metadata yet; Recover completes it later.
	ErrIncomplete = errors.New("storage: clip sealed but not completed")
	// ErrUnknownClip: no sealed clip has that name.
	ErrUnknownClip = errors.New("storage: no such clip")
)

// StateOf returns the card state a write or sync error points to: read-only
// for EROFS, full for ENOSPC and EDQUOT, missing for ENOENT, ENODEV and
// ENXIO (the card or its folder went away), and StateIOError otherwise.
func StateOf(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EROFS:
			return StateReadOnly
		case syscall.ENOSPC, syscall.EDQUOT:
			return StateFull
		case syscall.ENOENT, syscall.ENODEV, syscall.ENXIO:
			return StateMissing
		}
	}
	return StateIOError
}
