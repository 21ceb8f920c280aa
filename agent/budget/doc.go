// Package budget divides the agent's memory allowance (the board profile's
// memory budget, or the config's memory_mb) among the buffers that scale
// with the picture and the settings: the capture frame pool, the recorder's
// frame queue, its encoder and pre-roll, live-view sessions, and the Go
// garbage collector's headroom. A camera has 64-128 MB of RAM shared with
// the kernel, the ISP and the encoder; the agent must never be the reason
// the OOM killer runs, so it sizes everything up front and, when the
// allowance is tight, gives something up in a fixed, stated order rather
// than growing (Fit).
//
// The plan is arithmetic over estimates (Estimates documents each one and
// where its figure comes from); the Go memory limit
// (runtime/debug.SetMemoryLimit) set from it is what holds the heap at run
// time. ReadResident reads the resident size the kernel counts, split into
// anonymous memory and file-backed pages, to show the plan against the
// truth in `camagent ctl status`; Resident.Charged is what the run-time
// checks hold against the budget: anonymous memory whole, file-backed pages
// (clean code the kernel can drop) only up to the plan's allowance.
package budget
