package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/camagent/camagent/capture/motion"
)

// Parse reads a configuration file's bytes: Default, then the file, then
// Validate. It does not read the environment (LoadWith does). An error names
// the key and what is allowed, or the line of a syntax error; it matches
// ErrInvalid.
func Parse(data []byte) (Config, error) { return build(data, "", nil) }

// build is Parse with the file's path (for messages) and the environment.
func build(data []byte, path string, getenv func(string) string) (Config, error) {
	var p problems
	c, err := decode(data)
	if err != nil {
		p.addErr(err, path)
		return Config{}, p.err()
	}
	if getenv != nil {
		// Problems with the environment are not the file's: no path.
		p.addErr(ApplyEnv(&c, getenv), "")
	}
	p.addErr(c.Validate(), path)
	if err := p.err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decode lays the file over Default. It checks every key and the type of
// every value itself before toml fills the struct, so that it can name
// unknown keys (toml would match them case-insensitively or drop them) and
// say which key has the wrong type and what was expected.
func decode(data []byte) (Config, error) {
	if len(data) > MaxFileSize {
		return Config{}, &Error{Msg: fmt.Sprintf("the file is more than %d bytes", MaxFileSize)}
	}
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return Config{}, syntaxError(data, err)
	}
	var p problems
	checkKeys(&p, md.Keys(), raw)
	if err := p.err(); err != nil {
		return Config{}, err
	}
	c := Default()
	md, err = toml.Decode(string(data), &c)
	if err != nil {
		// checkKeys let through something toml refuses.
		return Config{}, &Error{Msg: clean(strings.TrimPrefix(err.Error(), "toml: "))}
	}
	if u := md.Undecoded(); len(u) > 0 {
		// checkKeys knows every key toml decodes; this is a backstop.
		return Config{}, &Error{Key: keyString(u[0]), Msg: "unknown key " + keyString(u[0])}
	}
	return c, nil
}

func syntaxError(data []byte, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		// toml counts a newline it has read past when the newline itself is
		// the mistake ("[log" then newline); the offset of the bad byte is
		// right.
		line := pe.Position.Line
		if s := pe.Position.Start; s >= 0 && s <= len(data) {
			line = 1 + bytes.Count(data[:s], []byte{'\n'})
		}
		return &Error{Line: line, Msg: fmt.Sprintf("line %d: %s", line, clean(pe.Message))}
	}
	return &Error{Msg: clean(strings.TrimPrefix(err.Error(), "toml: "))}
}

// kind is the TOML type a key takes.
type kind uint8

const (
	kindTable    kind = iota
	kindString        // a string
	kindInt           // an integer, held in an int
	kindNumber        // an integer or a float, held in a float64
	kindDuration      // a string time.ParseDuration accepts
	kindStrings       // an array of strings
	kindBool          // true or false
	kindTables        // an array of tables
	kindPoints        // an array of [x, y] number pairs
	kindControl       // capture.controls.<name>: an integer, held in an int32
)

// lookup returns the schema entry of a key from the file.
func lookup(fields []field, k toml.Key) (field, bool) {
	if len(k) == 3 && k[0] == "capture" && k[1] == "controls" {
		return field{key: "capture.controls." + keyPart(k[2]), kind: kindControl, lo: math.MinInt32, hi: math.MaxInt32}, true
	}
	for _, part := range k {
		if strings.Contains(part, ".") {
			return field{}, false
		}
	}
	name := strings.Join(k, ".")
	for _, f := range fields {
		if f.key == name {
			return f, true
		}
	}
	return field{}, false
}

// checkKeys checks the keys of the file, in the file's order, against the
// schema: each key, and each table on its way, must be known (exactly, case
// included) and hold the right type. Keys under one already reported are
// skipped.
func checkKeys(p *problems, keys []toml.Key, raw map[string]any) {
	fields := schema()
	bad := map[string]bool{} // keys reported, as joined by keyID
	for _, k := range keys {
		for i := 1; i <= len(k); i++ {
			pre := k[:i]
			id := keyID(pre)
			if bad[id] {
				break
			}
			f, ok := lookup(fields, pre)
			if !ok {
				if p.full() {
					p.more++
				} else {
					p.add(unknownKey(fields, pre, values(raw, pre)))
				}
				bad[id] = true
				break
			}
			var e *Error
			for _, v := range values(raw, pre) {
				if e = checkType(f, v); e != nil {
					break
				}
			}
			if e != nil {
				p.add(e)
				bad[id] = true
				break
			}
		}
	}
}

// keyID writes a key as a map key: each part with its length, so that no two
// keys share one (a quoted part may hold any character).
func keyID(k toml.Key) string {
	var b strings.Builder
	for _, part := range k {
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
	}
	return b.String()
}

// values finds every value of a key in the decoded document: one, or one per
// table of an array of tables on the key's way ([[motion.zones]]).
func values(raw map[string]any, k toml.Key) []any {
	cur := []any{raw}
	for _, part := range k {
		var next []any
		for _, v := range cur {
			var tables []map[string]any
			switch t := v.(type) {
			case map[string]any:
				tables = []map[string]any{t}
			case []map[string]any:
				tables = t
			}
			for _, m := range tables {
				if x, ok := m[part]; ok {
					next = append(next, x)
				}
			}
		}
		cur = next
	}
	return cur
}

func checkType(f field, v any) *Error {
	switch f.kind {
	case kindTable:
		if _, ok := v.(map[string]any); !ok {
			return keyError(f.key, "want a table, got %s", describe(v))
		}
	case kindString:
		if _, ok := v.(string); !ok {
			return keyError(f.key, "want a string, got %s", describe(v))
		}
	case kindInt, kindControl:
		n, ok := v.(int64)
		if !ok {
			return keyError(f.key, "want an integer, got %s", describe(v))
		}
		if n < math.MinInt32 || n > math.MaxInt32 {
			return keyError(f.key, "%d is out of range %d..%d", n, f.lo, f.hi)
		}
	case kindNumber:
		switch n := v.(type) {
		case float64:
		case int64:
			if n < -1<<53 || n > 1<<53 {
				return keyError(f.key, "%d is out of range %d..%d", n, f.lo, f.hi)
			}
		default:
			return keyError(f.key, "want a number, got %s", describe(v))
		}
	case kindDuration:
		s, ok := v.(string)
		if !ok {
			return keyError(f.key, `want a duration like "10s", got %s`, describe(v))
		}
		if _, err := time.ParseDuration(s); err != nil {
			return keyError(f.key, `%s is not a duration like "10s" or "500ms"`, quote(s))
		}
	case kindTables:
		if _, ok := v.([]map[string]any); !ok {
			return keyError(f.key, "want an array of tables ([[%s]]), got %s", f.key, describe(v))
		}
	case kindPoints:
		a, ok := v.([]any)
		if !ok {
			return keyError(f.key, "want an array of [x, y] points, got %s", describe(v))
		}
		for i, e := range a {
			pt, ok := e.([]any)
			if !ok || len(pt) != 2 {
				return keyError(f.key, "point %d: want [x, y], got %s", i, describe(e))
			}
			for _, c := range pt {
				switch c.(type) {
				case float64, int64:
				default:
					return keyError(f.key, "point %d: want numbers, got %s", i, describe(c))
				}
			}
		}
	case kindBool:
		if _, ok := v.(bool); !ok {
			return keyError(f.key, "want true or false, got %s", describe(v))
		}
	case kindStrings:
		a, ok := v.([]any)
		if !ok {
			return keyError(f.key, "want an array of strings, got %s", describe(v))
		}
		for i, e := range a {
			if _, ok := e.(string); !ok {
				return keyError(f.key, "want an array of strings, got %s at index %d", describe(e), i)
			}
		}
	}
	return nil
}

// describe names a decoded TOML value's type, with the value when short.
func describe(v any) string {
	switch v := v.(type) {
	case string:
		return "the string " + quote(v)
	case int64:
		return "the integer " + strconv.FormatInt(v, 10)
	case float64:
		return "the float " + formatFloat(v)
	case bool:
		return "the boolean " + strconv.FormatBool(v)
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return "a date-time"
}

// unknownKey names the key, suggests a close known one, or lists the known
// keys of its table. A [motion] key renamed when areas moved from fractions
// to percent is named with its new name, its unit and its value converted
// (vals are the key's values in the file).
func unknownKey(fields []field, k toml.Key, vals []any) *Error {
	parent := strings.Join(k[:len(k)-1], ".")
	prefix := ""
	if parent != "" {
		prefix = parent + "."
	}
	if len(k) == 2 && k[0] == SectionMotion {
		if renamed, ok := motion.RenamedKey(k[1]); ok {
			msg := fmt.Sprintf("%s is now %s%s, in percent of the picture (0..100), not a fraction (0..1)", keyString(k), prefix, renamed)
			if len(vals) == 1 {
				if v, ok := asFloat(vals[0]); ok {
					msg += fmt.Sprintf(": write %s = %s", renamed, formatFloat(v*100))
				}
			}
			return &Error{Key: keyString(k), Msg: msg}
		}
	}
	var siblings []string
	for _, f := range fields {
		if rest, ok := strings.CutPrefix(f.key, prefix); ok && !strings.Contains(rest, ".") {
			siblings = append(siblings, rest)
		}
	}
	msg := "unknown key " + keyString(k)
	last := strings.ToLower(k[len(k)-1])
	for _, s := range siblings {
		if looksLike(last, s) {
			return &Error{Key: keyString(k), Msg: fmt.Sprintf("%s (did you mean %s%s?)", msg, prefix, s)}
		}
	}
	switch {
	case len(siblings) == 0:
	case parent == "":
		msg += " (the known keys are " + strings.Join(siblings, ", ") + ")"
	default:
		msg += " ([" + parent + "] has " + strings.Join(siblings, ", ") + ")"
	}
	return &Error{Key: keyString(k), Msg: msg}
}

// asFloat returns a TOML number as a float64.
func asFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	}
	return 0, false
}

func keyString(k toml.Key) string {
	parts := make([]string, len(k))
	for i, s := range k {
		parts[i] = keyPart(s)
	}
	return strings.Join(parts, ".")
}

// distance is the optimal-string-alignment distance of two short strings
// (an edit, or a swap of two neighbours, costs 1); long ones count as far
// apart.
func distance(a, b string) int {
	if len(a) > 32 || len(b) > 32 {
		return 99
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// looksLike reports whether an unknown key looks like a mistyped known one.
func looksLike(typed, known string) bool {
	if typed == known {
		return true
	}
	limit := 2
	if len(known) <= 4 {
		limit = 1
	}
	return distance(typed, known) <= limit
}

// Marshal writes c as a TOML file that Parse reads back to the same Config.
func Marshal(c Config) ([]byte, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("config: marshal: %w", err)
	}
	return b.Bytes(), nil
}
