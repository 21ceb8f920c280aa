// Package outputtest is a test helper: an io.Writer that collects what the
// program under test writes (the daemon's console log, a shell's terminal)
// and lets the test wait until the text shows something, woken by each
// write instead of sleeping and looking again.
//
// It is one helper for the tests of the camagent command (package main) and
// of agent/daemon, which each had a copy.
package outputtest
