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
// camagent.example.toml, next to this file, documents every key with its
// default and its allowed values; ExampleFile returns its text.
//
// A Watcher follows the file while the agent runs: it reloads it when it is
// replaced or rewritten, hands a valid new Config to the daemon, and keeps the
// running one (logging a single "config rejected" line) when the new file is
// invalid. Changed tells the daemon which sections differ, so that it restarts
// only the parts whose settings changed.
package config
