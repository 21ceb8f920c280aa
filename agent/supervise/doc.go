// Package supervise keeps the agent's parts running.
//
// A camera has no operator: when the V4L2 device vanishes, the SD card is pulled
// or the network drops, the part that failed must log why, wait, and start again
// by itself, while the others carry on. The Supervisor runs each Part in its own
// goroutine, restarts a part that returns an error with capped exponential
// backoff, can restart one part on request (a config change), and on shutdown
// waits for every part under a time limit.
package supervise
