package board

import "golang.org/x/sys/unix"

// ClockSynced reports whether the kernel considers the system clock
// synchronised (NTP or PTP keeping it; adjtimex state other than TIME_ERROR).
// A camera without a battery-backed RTC boots with a wrong clock, and capture
// times it signs are only meaningful once this is true.
func ClockSynced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR
}
