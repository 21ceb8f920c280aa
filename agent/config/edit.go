package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"
	"github.com/camagent/camagent/storage/atomicfile"
)

// Bounds of a key and a value typed by a person (the shell's config set).
const (
	MaxEditKey   = 128
	MaxEditValue = 1024
)

// Kinds of EditError: what went wrong decides what the caller answers.
const (
	EditBadInput    = iota + 1 // the key or value is wrong, or the result is not a valid config
	EditFileProblem            // the file cannot be edited as it is
	EditWriteFailed            // writing the new file failed
)

// EditError is a refused or failed edit; Msg says why, for people.
type EditError struct {
	Kind int
	Msg  string
}

func (e *EditError) Error() string { return e.Msg }

func editErr(kind int, format string, a ...any) error {
	return &EditError{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// Edit is what SetKey did.
type Edit struct {
	Path     string   // the file written (symlinks resolved)
	Key      string   // the dotted key
	Old, New string   // the running value and the new one, as TOML text
	Sections []string // the sections that changed (none: the file was left alone)
}

// SetKey changes one key of the config file at path to a value typed by a
// person: a TOML value (25, 2.5, true, "text", ["a", "b"]) or, when it is not
// one, the text itself as a string (debug, 10s, /dev/video1). The file is
// read, the key set, the result checked with Parse (which names the key and
// what it allows) and written atomically, keeping the file's permissions,
// when a section changed; the agent's Watcher then reloads it. running is
// the running config, for the old value. The file is rewritten from its
// parsed form, so its comments are lost. Errors are *EditError.
func SetKey(path string, running Config, key, value string) (Edit, error) {
	if err := CheckEdit(key, value); err != nil {
		return Edit{}, err
	}
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	data, mode, err := readConfigFile(path)
	if err != nil {
		return Edit{}, editErr(EditFileProblem, "config set: %v", err)
	}
	before, err := Parse(data)
	if err != nil {
		return Edit{}, editErr(EditFileProblem, "config set: the file on disk is invalid now, fix it by hand: %s", OneLine(err))
	}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return Edit{}, editErr(EditFileProblem, "config set: %v", err)
	}
	if tree == nil {
		tree = map[string]any{}
	}
	old := "(not set)"
	if rt, err := Tree(running); err == nil {
		if v, ok := lookupKey(rt, key); ok {
			old = ValueText(v)
		}
	}
	v := parseValue(value)
	if err := setKey(tree, key, v); err != nil {
		return Edit{}, editErr(EditBadInput, "config set: %v", err)
	}
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(tree); err != nil {
		return Edit{}, editErr(EditBadInput, "config set: %v", err)
	}
	after, err := Parse(b.Bytes())
	if err != nil {
		return Edit{}, editErr(EditBadInput, "config set refused: %s", OneLine(err))
	}
	e := Edit{Path: path, Key: key, Old: old, New: ValueText(v), Sections: Changed(before, after)}
	if e.Sections == nil {
		e.Sections = []string{}
	}
	if len(e.Sections) > 0 {
		if err := atomicfile.WriteFile(path, b.Bytes(), mode); err != nil {
			return Edit{}, editErr(EditWriteFailed, "config set: %v", err)
		}
	}
	return e, nil
}

// CheckEdit refuses a key or value no edit may hold: an empty or overlong
// key, an empty key part, an overlong value, control characters.
func CheckEdit(key, value string) error {
	switch {
	case key == "" || len(key) > MaxEditKey || hasControl(key) || slices.Contains(strings.Split(key, "."), ""):
		return editErr(EditBadInput, "config set: bad key %.80q", key)
	case len(value) > MaxEditValue || hasControl(value):
		return editErr(EditBadInput, "config set: the value must be at most %d bytes without control characters", MaxEditValue)
	}
	return nil
}

// ErrNoKey is Lookup's answer for a key the config does not have.
var ErrNoKey = errors.New("config: no such key")

// Lookup returns the TOML document holding only key = its value in c
// ("[capture]\nfps = 25.0").
func Lookup(c Config, key string) (string, error) {
	tree, err := Tree(c)
	if err != nil {
		return "", err
	}
	v, ok := lookupKey(tree, key)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNoKey, key)
	}
	return keyDocument(key, v)
}

// Tree returns c as a TOML tree.
func Tree(c Config) (map[string]any, error) {
	data, err := Marshal(c)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, fmt.Errorf("config: decode: %w", err)
	}
	return raw, nil
}

// lookupKey finds a dotted key in a TOML tree.
func lookupKey(tree map[string]any, key string) (any, bool) {
	var v any = tree
	for part := range strings.SplitSeq(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

// keyDocument returns the TOML document holding only key = v.
func keyDocument(key string, v any) (string, error) {
	parts := strings.Split(key, ".")
	doc := map[string]any{parts[len(parts)-1]: v}
	for i := len(parts) - 2; i >= 0; i-- {
		doc = map[string]any{parts[i]: doc}
	}
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("config: encode %s: %w", key, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// ValueText is a value's TOML text on one line.
func ValueText(v any) string {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(map[string]any{"v": v}); err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(b.String())
	if rest, ok := strings.CutPrefix(s, "v = "); ok && !strings.Contains(rest, "\n") {
		return rest
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// hasControl reports control characters, which no key or value may hold.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) })
}

// parseValue reads a value typed after config set: a TOML value or, when it
// is not one, the text itself as a string.
func parseValue(text string) any {
	var doc map[string]any
	if _, err := toml.Decode("v = "+text, &doc); err == nil && len(doc) == 1 {
		if v, ok := doc["v"]; ok {
			return v
		}
	}
	return text
}

// setKey sets a dotted key in a TOML tree, creating tables on the way.
func setKey(tree map[string]any, key string, v any) error {
	parts := strings.Split(key, ".")
	m := tree
	for i, p := range parts[:len(parts)-1] {
		next, ok := m[p]
		if !ok {
			sub := map[string]any{}
			m[p] = sub
			m = sub
			continue
		}
		if m, ok = next.(map[string]any); !ok {
			return fmt.Errorf("config: %s is a value, not a table", strings.Join(parts[:i+1], "."))
		}
	}
	m[parts[len(parts)-1]] = v
	return nil
}

// readConfigFile reads the config file and its permissions.
func readConfigFile(path string) ([]byte, os.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, 0, err
	}
	if len(data) > MaxFileSize {
		return nil, 0, fmt.Errorf("%s is over %d bytes", path, MaxFileSize)
	}
	return data, fi.Mode().Perm(), nil
}
