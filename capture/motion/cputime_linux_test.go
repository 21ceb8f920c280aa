package motion

import "golang.org/x/sys/unix"

// threadCPU returns the calling thread's CPU time in nanoseconds, so that
// benchmarks can report cost without the wait for a busy machine's cores.
// The caller locks its goroutine to the thread.
func threadCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return ts.Nano()
}

// processCPU returns the process's user and system CPU time in nanoseconds
// (getrusage RUSAGE_SELF): every thread, the runtime's included.
func processCPU() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
