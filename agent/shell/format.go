package shell

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// clean makes text from the agent safe to print on a terminal: control
// characters (which could move the cursor or change the terminal's state;
// log lines quote what devices and networks sent) become '?', tabs a space.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r == unicode.ReplacementChar, !unicode.IsPrint(r) && r != ' ':
			return '?'
		}
		return r
	}, s)
}

// maxEcho is how many characters of a word the shell quotes back in an
// error; a longer word is cut and its length said instead.
const maxEcho = 32

// echo quotes word for an error message: cleaned, and cut to maxEcho
// characters with its full length said, so that a 3,000-character word does
// not come back whole.
func echo(word string) string {
	r := []rune(clean(word))
	if len(r) <= maxEcho {
		return strconv.Quote(string(r))
	}
	return fmt.Sprintf("%s... (%d characters)", strconv.Quote(string(r[:maxEcho])), len(r))
}

// cleanLines is clean for text of several lines; it keeps the line breaks.
func cleanLines(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = clean(strings.TrimSuffix(l, "\r"))
	}
	return strings.Join(lines, "\n")
}

// byteSize formats n bytes with a binary unit.
func byteSize[T int | int64 | uint64](v T) string {
	n := uint64(max(v, 0))
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// stamp formats a time from the agent in UTC, or "-" when it is unset.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}
