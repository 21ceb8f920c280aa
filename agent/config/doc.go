// Package config is the camera agent's configuration: one Config, read from a
// TOML file, overridden by a few environment variables, and checked before any
// part of the agent sees it.
//
// It exists so that a mistyped or out-of-range setting on a camera in the field
// is refused with a one-line message that names the key and the allowed values,
// instead of being silently ignored or turning into a failure far from its
// cause. Values are built in four steps, always in this order: Default, then
// the file (keys it does not set keep their defaults; unknown keys and wrong
// types are errors), then the environment (ApplyEnv), then Validate.
//
// Each key is described once, in keys.go: its name, TOML type, allowed range
// or values, default and documentation. The unknown-key and type checks,
// Validate's range checks and their messages, Default, and the comments of
// camagent.example.toml all come from that table (a test rewrites or checks
// the example file against it: go test ./agent/config -run TestExampleFile
// -update). The [motion] keys' defaults and checks stay with capture/motion,
// which owns them. ExampleFile returns the example file's text.
//
// A Watcher follows the file while the agent runs: it reloads it when it is
// replaced or rewritten, hands a valid new Config to the daemon, and keeps the
// running one (logging a single "config rejected" line) when the new file is
// invalid. Changed tells the daemon which sections differ, so that it restarts
// only the parts whose settings changed.
package config
