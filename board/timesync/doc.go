// Package timesync knows whether the system clock can be trusted, and makes
// it so when nothing else does.
//
// A camera signs the capture time of every clip, and says in the signed
// manifest whether its clock was synchronised then. Cameras rarely have a
// battery-backed clock: they boot in 1970 or wherever the last shutdown left
// them. Two cases:
//
//   - The system runs an NTP client (ntpd, chrony, systemd-timesyncd): the
//     kernel's NTP state (adjtimex) says when the clock is synchronised;
//     Sync only reads it.
//   - Nothing keeps the clock: Sync asks the configured servers with SNTP
//     (RFC 4330), steps the clock when it is off, and tells the kernel the
//     clock is synchronised with the error it measured (adjtimex), so every
//     reader of the kernel's state agrees. The kernel drops that state again
//     when its error estimate grows past 16 s (about 9 hours without a new
//     sync); Sync asks again long before that.
//
// Servers are host:port over UDP (the NTP port 123 when omitted), or
// tcp://host:port: the same 48-byte packets over a TCP connection, for the
// QEMU camera, whose restricted network forwards only TCP to the host. Server
// answers both, for tests and the QEMU cameras' host (cmd devsntp).
//
// Everything else the agent times (frame intervals, clip durations, events)
// runs on Go's monotonic clock, so a step of the wall clock at sync does not
// bend a clip; only names and signed wall-clock times change.
package timesync
