//go:build !linux

package timesync

import (
	"errors"
	"time"
)

// systemClock is unsupported off Linux: never synced, cannot be set.
type systemClock struct{}

var errUnsupported = errors.New("timesync: the system clock is only handled on Linux")

func (systemClock) Synced() (bool, error)          { return false, errUnsupported }
func (systemClock) Step(time.Duration) error       { return errUnsupported }
func (systemClock) MarkSynced(time.Duration) error { return errUnsupported }
