// Package boardtest holds hand-written fakes of the board's hardware for tests
// of the parts that drive it: an LED, an output pin and a watchdog that record
// every call, and Tree, a fake /sys, /proc and /dev built in a temporary
// directory for the board packages' own tests (LED class directories, a
// watchdog device that is a plain file, device-tree and machine-id files).
//
// The fakes are safe for concurrent use and can be told to fail, so callers
// test their error paths too.
package boardtest
