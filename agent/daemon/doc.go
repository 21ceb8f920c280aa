// Package daemon is the agent that runs on the camera: it wires the parts
// (capture, motion, the clip store and recorder, sealing, upload, the board's
// LED, watchdog and IR lines, the control socket and the shell's routes, the
// clock's trust (board/timesync), the signed MQTT events and commands
// (uplink/mqtt) and live view over the MQTT signaling (uplink/live)), runs
// them under a supervisor and stops them in order.
//
// Events raised while the mqtt part is not running (MQTT off, or before its
// client opened its store at start) are only logged: the client's outbox
// keeps what it was handed, not what happened before it existed.
//
// It is a package, not part of the camagent command, so that tests and other
// programs can build and run a whole agent (New, Run) with the machine's
// parts replaced through Deps: a fake camera, a mount table in a temporary
// folder, a clock. The command `camagent run` only loads the config and
// calls it.
package daemon
