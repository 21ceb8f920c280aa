//go:build !linux

package gpio

import (
	"errors"
	"unsafe"
)

func sysOpen(string) (int, error) { return -1, errors.ErrUnsupported }

func sysIoctl(int, uint32, unsafe.Pointer) error { return errors.ErrUnsupported }

func sysClose(int) error { return errors.ErrUnsupported }

func isBusy(error) bool { return false }
