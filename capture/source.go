package capture

import (
	"context"
	"errors"
)

// Source produces frames. Next blocks until a frame is captured, ctx ends, or
// the source fails; it returns io.EOF when a finite source (a file) is done.
// The caller releases every frame it gets. Close releases the device.
type Source interface {
	Format() Format
	Next(ctx context.Context) (*Frame, error)
	Close() error
}

// ErrBadFrame marks a frame the source skipped because it was malformed
// (short, corrupt); the caller counts it and asks for the next one.
var ErrBadFrame = errors.New("capture: bad frame")
