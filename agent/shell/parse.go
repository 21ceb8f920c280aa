package shell

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits of a command line.
const (
	// MaxLine is the longest line the shell accepts, in bytes (an unlock
	// response is about 350).
	MaxLine = 4096
	// MaxArgs is the most words a line may have.
	MaxArgs = 64
)

// Errors of Parse; test them with errors.Is.
var (
	// ErrLineTooLong: the line is longer than MaxLine bytes.
	ErrLineTooLong = errors.New("shell: line too long")
	// ErrTooManyArgs: the line has more than MaxArgs words.
	ErrTooManyArgs = errors.New("shell: too many words")
	// ErrSyntax: an unterminated quote or a trailing backslash.
	ErrSyntax = errors.New("shell: syntax error")
	// ErrControl: the line holds a control character or is not UTF-8.
	ErrControl = errors.New("shell: control character")
)

// Parse splits a command line into words the way a POSIX shell does for
// plain words: blanks (space, tab) separate words; 'single quotes' keep
// everything literally; "double quotes" keep everything except \" and \\;
// outside quotes a backslash keeps the next character; quoted parts join the
// text around them; a # at the start of a word begins a comment. There is no
// expansion of any kind. An empty or blank line gives no words and no error.
//
// Parse refuses lines over MaxLine bytes, with more than MaxArgs words, that
// are not UTF-8, or that hold a control character (other than tab) anywhere,
// even inside quotes: what a technician types never needs one, and a stray
// escape sequence must not reach the agent or a log.
func Parse(line string) ([]string, error) {
	if len(line) > MaxLine {
		return nil, fmt.Errorf("%w: %d bytes (at most %d)", ErrLineTooLong, len(line), MaxLine)
	}
	for i, r := range line {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(line[i:]); size <= 1 {
				return nil, fmt.Errorf("%w: byte %d is not UTF-8", ErrControl, i+1)
			}
		}
		if r != '\t' && isControl(r) {
			return nil, fmt.Errorf("%w: U+%04X at byte %d", ErrControl, r, i+1)
		}
	}
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	end := func() error {
		if !inWord {
			return nil
		}
		if len(words) == MaxArgs {
			return fmt.Errorf("%w: more than %d", ErrTooManyArgs, MaxArgs)
		}
		words = append(words, cur.String())
		cur.Reset()
		inWord = false
		return nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if err := end(); err != nil {
				return nil, err
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("%w: unterminated ' (opened at byte %d)", ErrSyntax, i+1)
			}
			cur.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			open := i
			closed := false
			for i++; i < len(line); i++ {
				if line[i] == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					i++
				} else if line[i] == '"' {
					closed = true
					break
				}
				cur.WriteByte(line[i])
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated \" (opened at byte %d)", ErrSyntax, open+1)
			}
			inWord = true
		case c == '\\':
			if i+1 == len(line) {
				return nil, fmt.Errorf("%w: backslash at the end of the line", ErrSyntax)
			}
			_, size := utf8.DecodeRuneInString(line[i+1:])
			cur.WriteString(line[i+1 : i+1+size])
			inWord = true
			i += size
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if err := end(); err != nil {
		return nil, err
	}
	return words, nil
}

// isControl reports the C0 and C1 control characters and DEL.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r < 0xa0 }

// Quote joins words into a line that Parse splits back into the same words
// (words holding control characters cannot be written; Parse refuses them).
func Quote(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		if w != "" && strings.IndexFunc(w, unsafeRune) < 0 {
			b.WriteString(w)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(w, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

// unsafeRune is a rune that must be quoted in a word.
func unsafeRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	case strings.ContainsRune("_@%+=:,./-", r):
		return false
	}
	return true
}
