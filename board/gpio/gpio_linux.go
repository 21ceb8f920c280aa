package gpio

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

func sysOpen(path string) (int, error) {
	return unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
}

func sysIoctl(fd int, req uint32, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

func sysClose(fd int) error { return unix.Close(fd) }

func isBusy(err error) bool { return errors.Is(err, unix.EBUSY) }
