package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalid matches (with errors.Is) every problem Parse, ApplyEnv and
// Validate report: bad syntax, an unknown key, a wrong type, a value out of
// range. A file that cannot be read is not ErrInvalid; a missing file matches
// fs.ErrNotExist.
var ErrInvalid = errors.New("config: invalid")

// Error is one problem with a configuration. Its text is a single line that
// starts with "config: " and names the key (or the line, for a syntax error)
// and what is allowed. Parse, ApplyEnv and Validate return one *Error, or
// several joined with errors.Join (one per line); OneLine flattens those.
type Error struct {
	// Path is the file, when the problem was read from one.
	Path string
	// Line is the 1-based line of a syntax error, 0 otherwise.
	Line int
	// Key is the dotted key ("capture.fps") or the environment variable the
	// problem is about, "" for a syntax error.
	Key string
	// Msg is the text after "config: " and the path.
	Msg string

	more int // this line stands for that many problems left out
}

func (e *Error) Error() string {
	if e.Path != "" {
		return "config: " + e.Path + ": " + e.Msg
	}
	return "config: " + e.Msg
}

// Is makes every *Error match ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// OneLine returns err's text on one line, the lines of joined errors separated
// by "; ", for a log line or a status field. It returns "" for nil.
func OneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// maxProblems bounds how many problems one error reports.
const maxProblems = 20

// problems collects the problems of one check, in order.
type problems struct {
	list []*Error
	more int
}

// full reports whether further problems are only counted.
func (p *problems) full() bool { return len(p.list) == maxProblems }

func (p *problems) add(e *Error) {
	if e == nil {
		return
	}
	if p.full() {
		p.more++
		return
	}
	p.list = append(p.list, e)
}

// addKey records a problem with key.
func (p *problems) addKey(key, format string, args ...any) {
	p.add(keyError(key, format, args...))
}

// addErr records the problems in err, which came from another check, as
// found in the file at path ("" for none).
func (p *problems) addErr(err error, path string) {
	if err == nil {
		return
	}
	var j interface{ Unwrap() []error }
	if errors.As(err, &j) {
		for _, e := range j.Unwrap() {
			p.addErr(e, path)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Msg: clean(err.Error())}
	}
	if e.more > 0 {
		p.more += e.more
		return
	}
	if path != "" {
		c := *e
		c.Path = path
		e = &c
	}
	p.add(e)
}

// err returns nil, the only problem, or all of them joined.
func (p *problems) err() error {
	switch {
	case len(p.list) == 0:
		return nil
	case len(p.list) == 1 && p.more == 0:
		return p.list[0]
	}
	errs := make([]error, 0, len(p.list)+1)
	for _, e := range p.list {
		errs = append(errs, e)
	}
	if p.more > 0 {
		errs = append(errs, &Error{Msg: fmt.Sprintf("and %d more problems", p.more), more: p.more})
	}
	return errors.Join(errs...)
}

func keyError(key, format string, args ...any) *Error {
	return &Error{Key: key, Msg: key + ": " + fmt.Sprintf(format, args...)}
}

// maxQuoted bounds how much of a value from the file a message repeats.
const maxQuoted = 48

// quote returns s as a Go string literal (so control characters cannot break
// the line), cut to maxQuoted bytes.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// clean makes a message from a library one line of printable text, bounded.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
