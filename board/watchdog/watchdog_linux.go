package watchdog

import (
	"bytes"
	"errors"

	"golang.org/x/sys/unix"
)

func (d fileDevice) control(f func(fd int) error) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

func (d fileDevice) setTimeout(seconds int) error {
	return d.control(func(fd int) error { return unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, seconds) })
}

func (d fileDevice) getTimeout() (int, error) {
	var n int
	err := d.control(func(fd int) (err error) {
		n, err = unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
		return err
	})
	return n, err
}

func (d fileDevice) identity() (string, error) {
	var id string
	err := d.control(func(fd int) error {
		info, err := unix.IoctlGetWatchdogInfo(fd)
		if err != nil {
			return err
		}
		id = string(bytes.TrimRight(info.Identity[:], "\x00"))
		return nil
	})
	return id, err
}

func isBusy(err error) bool { return errors.Is(err, unix.EBUSY) }

// isNoDevice: the node exists but no driver is behind it.
func isNoDevice(err error) bool { return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) }
