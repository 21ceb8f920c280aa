//go:build race

package storm_test

// raceOn: the race detector slows TLS and HTTP many times over; under it
// TestStorm runs 100 cameras (make unit runs the 1,000 without it).
const raceOn = true
