package config

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/camagent/camagent/capture"
)

// Validate checks every value against its allowed range. It returns nil, or
// every problem joined with errors.Join, one complete message per line; each
// matches ErrInvalid.
func (c Config) Validate() error {
	var p problems
	for _, f := range schema() {
		if f.check != nil {
			f.check(&p, c)
		}
	}
	return p.err()
}

func checkOneOf(key, v string, allowed []string) *Error {
	if slices.Contains(allowed, v) {
		return nil
	}
	return keyError(key, "%s is not one of %s", quote(v), strings.Join(allowed, ", "))
}

func checkRange(key string, v, lo, hi int) *Error {
	if v >= lo && v <= hi {
		return nil
	}
	return keyError(key, "%d is out of range %d..%d", v, lo, hi)
}

func checkAbs(key, p string) *Error {
	switch {
	case p == "":
		return keyError(key, "is empty, want an absolute path")
	case strings.IndexByte(p, 0) >= 0:
		return keyError(key, "%s contains a NUL byte", quote(p))
	case !path.IsAbs(p):
		return keyError(key, "%s is not an absolute path", quote(p))
	}
	return nil
}

func checkSocket(key, p string) *Error {
	if e := checkAbs(key, p); e != nil {
		return e
	}
	if len(p) > MaxSocketPath {
		return keyError(key, "%s is %d bytes, at most %d", quote(p), len(p), MaxSocketPath)
	}
	return nil
}

func checkFormats(p *problems, key string, formats []string) {
	names := capture.FormatNames()
	if len(formats) == 0 {
		p.addKey(key, "is empty, want at least one of %s", strings.Join(names, ", "))
		return
	}
	for i, f := range formats {
		if !slices.Contains(names, f) {
			p.addKey(key, "%s is not one of %s", quote(f), strings.Join(names, ", "))
		} else if slices.Index(formats, f) < i {
			p.addKey(key, "%s is listed twice", quote(f))
		}
	}
}

func checkControls(p *problems, key string, controls map[string]int32) {
	if len(controls) > MaxControls {
		p.addKey(key, "has %d controls, at most %d", len(controls), MaxControls)
		return
	}
	names := make([]string, 0, len(controls))
	for n := range controls {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		k := key + "." + keyPart(n)
		switch {
		case n == "":
			p.addKey(k, "a control name is empty")
		case len(n) > MaxControlName:
			p.addKey(k, "the name is %d bytes, at most %d", len(n), MaxControlName)
		case strings.IndexFunc(n, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0:
			p.addKey(k, "the name has a character that is not printable ASCII")
		}
	}
}

// keyPart writes one part of a key as TOML would: bare when it can be,
// quoted otherwise.
func keyPart(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}) >= 0 {
		return quote(s)
	}
	if len(s) > maxQuoted {
		return s[:maxQuoted] + "..."
	}
	return s
}

// seconds writes a whole number of seconds as "60s" rather than "1m0s".
func checkDuration(key string, d, lo, hi time.Duration) *Error {
	if d >= lo && d <= hi {
		return nil
	}
	return keyError(key, "%s is out of range %s..%s", d, seconds(lo), seconds(hi))
}

func seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return fmt.Sprintf("%g", f)
}
