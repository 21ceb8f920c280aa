// Package logring keeps the agent's last log lines in memory.
//
// In the field the only way in is often the serial console, and the SD card
// must not be worn out by logs. The agent's slog handler writes each record to
// the console and into a Ring of a few thousand lines, which the control socket
// serves to `camagent ctl logs` and the serial shell's `log` command (tail and
// follow).
package logring
