package config

import (
	"fmt"
	"strings"

	"github.com/BurntSushi/toml"
)

// Patch lays a TOML fragment (only the keys to change, e.g. "[motion]\n
// threshold = 20") over c, with the same checks as the file: unknown keys
// and wrong types are named, then the whole result is validated. c is not
// modified, and on any error nothing is returned to apply: a refused patch
// changes nothing. Arrays (and arrays of tables) in the patch replace the
// current ones; tables such as [capture.controls] are merged key by key.
// The remote config-patch command (package uplink/mqtt) uses it; to keep
// the change across restarts, write Marshal(result) to the file.
func Patch(c Config, patch []byte) (Config, error) {
	if len(patch) > MaxFileSize {
		return Config{}, &Error{Msg: fmt.Sprintf("the patch is more than %d bytes", MaxFileSize)}
	}
	var raw map[string]any
	md, err := toml.Decode(string(patch), &raw)
	if err != nil {
		return Config{}, syntaxError(patch, err)
	}
	var p problems
	checkKeys(&p, md.Keys(), raw)
	if err := p.err(); err != nil {
		return Config{}, err
	}
	next := c.Clone()
	md, err = toml.Decode(string(patch), &next)
	if err != nil {
		return Config{}, &Error{Msg: clean(strings.TrimPrefix(err.Error(), "toml: "))}
	}
	if u := md.Undecoded(); len(u) > 0 {
		return Config{}, &Error{Key: keyString(u[0]), Msg: "unknown key " + keyString(u[0])}
	}
	if err := next.Validate(); err != nil {
		return Config{}, err
	}
	return next, nil
}
