// Package watchdog keeps the board's hardware watchdog (/dev/watchdog) fed
// while the agent is healthy, so a hung agent or kernel resets the camera
// instead of leaving it dark until someone power-cycles it.
//
// Opening the device starts the timer. Open asks the driver for the board's
// timeout (WDIOC_SETTIMEOUT) and reads back the one it chose
// (WDIOC_GETTIMEOUT); Run then pets it (a one-byte write) every timeout/3
// while the agent's health check passes, and stops petting as soon as it
// fails, so the board resets within one timeout of the agent going bad. Run
// returns when its context ends, leaving the watchdog armed (after one last
// pet) so the shutdown drain is covered too; at the end of a clean shutdown
// Close disarms it with the magic close: 'V' is written just before the
// device is closed. A crash, or an exit without Close, closes the device
// without 'V'; the driver keeps counting, and the board resets unless a
// restarted agent opens the device and pets it in time.
// Kernels built with CONFIG_WATCHDOG_NOWAYOUT never disarm: there a clean stop
// of the agent resets the board too.
//
// A board without the device (QEMU's virt machine has no watchdog unless one
// is added) gets an absent Watchdog: Run only waits and Pet does nothing, so
// "not on this board" is not an error. A device that exists but cannot be
// opened is: ErrBusy when another process holds it (systemd's
// RuntimeWatchdogSec, or a watchdog daemon; only one opener is allowed).
//
// A driver that does not support the timeout ioctls (or a plain file standing
// in for the device in tests) keeps working with the requested timeout
// assumed. The ioctls live in watchdog_linux.go; elsewhere they report
// errors.ErrUnsupported.
package watchdog
