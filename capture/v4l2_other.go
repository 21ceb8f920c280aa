//go:build !linux

package capture

import (
	"context"
	"errors"
)

// ErrNotSupported is returned where V4L2 does not exist.
var ErrNotSupported = errors.New("capture: V4L2 is only supported on Linux")

// V4L2 is a Source over a V4L2 capture device (Linux only).
type V4L2 struct{}

// OpenV4L2 reports that V4L2 is not supported here.
func OpenV4L2(V4L2Config) (*V4L2, error) { return nil, ErrNotSupported }

func (*V4L2) Format() Format                       { return Format{} }
func (*V4L2) Next(context.Context) (*Frame, error) { return nil, ErrNotSupported }
func (*V4L2) SetControl(string, int32) error       { return ErrNotSupported }
func (*V4L2) Close() error                         { return nil }
