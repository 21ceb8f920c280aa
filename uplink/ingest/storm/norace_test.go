//go:build !race

package storm_test

const raceOn = false
