// Package leaktest checks that a test leaves no goroutines behind.
//
// Every goroutine in camagent has an owner that stops it (Run(ctx) returns
// after its goroutines exit); a test of a server, a client or a terminal
// proves that by calling Check first, so that a goroutine still running when
// the test's cleanups are done fails the test with its stack. It is one
// helper for every test package that needs it (agent/control, agent/shell),
// instead of a copy in each. Where a test can run in a testing/synctest
// bubble, synctest catches leaks itself and Check is not needed.
package leaktest
