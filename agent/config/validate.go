package config

import (
	"fmt"
	"math"
	"net/url"
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

// checkMQTT validates the [mqtt] section.
func checkMQTT(p *problems, m MQTTConfig) {
	if m.Broker != "" {
		u, err := url.Parse(m.Broker)
		switch {
		case err != nil || u.Hostname() == "" || u.Port() == "":
			p.addKey("mqtt.broker", "%s is not a tls://HOST:PORT URL", quote(m.Broker))
		case u.Scheme != "tls" && u.Scheme != "ssl" && u.Scheme != "mqtts":
			p.addKey("mqtt.broker", "%s is not a tls:// URL (mutual TLS only)", quote(m.Broker))
		}
		p.add(checkAbs("mqtt.ca", m.CA))
	}
	p.add(checkDuration("mqtt.keep_alive", m.KeepAlive.Duration, 5*time.Second, time.Hour))
	p.add(checkRange("mqtt.queue_size", m.QueueSize, 100, 1_000_000))
	p.add(checkAbs("mqtt.store", m.Store))
	p.add(checkDuration("mqtt.start_delay", m.StartDelay.Duration, 0, time.Hour))
	if d := m.StateInterval.Duration; d != 0 {
		p.add(checkDuration("mqtt.state_interval", d, 10*time.Second, 24*time.Hour))
	}
	l := m.Local
	if l.Broker != "" {
		u, err := url.Parse(l.Broker)
		switch {
		case err != nil || u.Hostname() == "" || u.Port() == "":
			p.addKey("mqtt.local.broker", "%s is not a tcp:// or tls:// HOST:PORT URL", quote(l.Broker))
		case u.Scheme == "tls" || u.Scheme == "ssl" || u.Scheme == "mqtts":
			p.add(checkAbs("mqtt.local.ca", l.CA))
		case u.Scheme != "tcp" && u.Scheme != "mqtt":
			p.addKey("mqtt.local.broker", "%s is not a tcp:// or tls:// URL", quote(l.Broker))
		}
	}
	if l.PasswordFile != "" {
		p.add(checkAbs("mqtt.local.password_file", l.PasswordFile))
	}
	if len(l.Name) > 64 || strings.IndexFunc(l.Name, func(r rune) bool { return r < 0x20 }) >= 0 {
		p.addKey("mqtt.local.name", "must be at most 64 bytes without control characters")
	}
	if l.Prefix == "" || len(l.Prefix) > 64 || strings.ContainsAny(l.Prefix, "+#") {
		p.addKey("mqtt.local.prefix", "%s: want 1..64 bytes without + or #", quote(l.Prefix))
	}
}
