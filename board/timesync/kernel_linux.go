package timesync

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// systemClock is the kernel's clock: adjtimex and clock_settime (root, or
// CAP_SYS_TIME, is needed to change it).
type systemClock struct{}

// Synced reports the kernel's NTP state: synchronised unless adjtimex says
// TIME_ERROR (STA_UNSYNC set, or the error estimate past 16 s).
func (systemClock) Synced() (bool, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, fmt.Errorf("adjtimex: %w", err)
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}

func (systemClock) Step(offset time.Duration) error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("clock_gettime: %w", err)
	}
	t := time.Unix(ts.Unix()).Add(offset)
	ts = unix.NsecToTimespec(t.UnixNano())
	if err := unix.ClockSettime(unix.CLOCK_REALTIME, &ts); err != nil {
		return fmt.Errorf("clock_settime: %w", err)
	}
	return nil
}

// MarkSynced clears STA_UNSYNC and sets the error estimates, as an NTP
// client does; the kernel raises maxerror by 500 ppm itself and sets
// STA_UNSYNC again when it passes 16 s.
func (systemClock) MarkSynced(maxErr time.Duration) error {
	var tx unix.Timex
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("adjtimex: %w", err)
	}
	// In µs, at most the kernel's 16 s limit (it would set STA_UNSYNC).
	us := min(max(maxErr.Microseconds(), 1), 16_000_000)
	tx.Modes = unix.ADJ_STATUS | unix.ADJ_MAXERROR | unix.ADJ_ESTERROR
	tx.Status &^= unix.STA_UNSYNC
	setLong(&tx.Maxerror, us)
	setLong(&tx.Esterror, us)
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("adjtimex: %w", err)
	}
	return nil
}

// setLong stores v in a C long field of struct timex (32 or 64 bits).
func setLong[T int32 | int64](p *T, v int64) { *p = T(v) }
