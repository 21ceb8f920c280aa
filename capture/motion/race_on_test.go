//go:build race

package motion

// raceEnabled reports a -race build, under which the long single-goroutine
// evaluation is skipped (it gains nothing from the race detector and runs
// some 30 times slower).
const raceEnabled = true
