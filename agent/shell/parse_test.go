package shell

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

var parseCases = []struct {
	name  string
	line  string
	words []string
	err   error
}{
	{"empty", "", nil, nil},
	{"blank", "  \t ", nil, nil},
	{"one", "status", []string{"status"}, nil},
	{"spaces", "  log   -f  ", []string{"log", "-f"}, nil},
	{"tabs", "config\tget\tlog.level", []string{"config", "get", "log.level"}, nil},
	{"single quotes", `config set capture.device '/dev/video 1'`, []string{"config", "set", "capture.device", "/dev/video 1"}, nil},
	{"double quotes", `config set 'capture.controls.OSD Text Mode' "2"`, []string{"config", "set", "capture.controls.OSD Text Mode", "2"}, nil},
	{"escaped quote in double", `echo "a \"b\" \\c \d"`, []string{"echo", `a "b" \c \d`}, nil},
	{"backslash outside", `a\ b c\'d`, []string{"a b", "c'd"}, nil},
	{"joined parts", `a'b c'"d e"f`, []string{"ab cd ef"}, nil},
	{"empty quotes", `set k ''`, []string{"set", "k", ""}, nil},
	{"empty double", `set k ""`, []string{"set", "k", ""}, nil},
	{"comment", "status # what is going on", []string{"status"}, nil},
	{"hash inside word", "a#b", []string{"a#b"}, nil},
	{"only comment", "# nothing", nil, nil},
	{"unicode", "config set x 'héllo wörld'", []string{"config", "set", "x", "héllo wörld"}, nil},
	{"backslash unicode", `a\é`, []string{"aé"}, nil},
	{"unterminated single", "config set x 'abc", nil, ErrSyntax},
	{"unterminated double", `config set x "abc`, nil, ErrSyntax},
	{"escaped closing double", `"abc\"`, nil, ErrSyntax},
	{"trailing backslash", `status \`, nil, ErrSyntax},
	{"escape char", "status\x1b[2J", nil, ErrControl},
	{"nul", "sta\x00tus", nil, ErrControl},
	{"cr", "status\r", nil, ErrControl},
	{"newline", "status\nreboot", nil, ErrControl},
	{"del", "status\x7f", nil, ErrControl},
	{"c1 control", "status\u009b2J", nil, ErrControl},
	{"control inside quotes", "'a\x07b'", nil, ErrControl},
	{"invalid utf8", "status \xff", nil, ErrControl},
	{"too long", strings.Repeat("a", MaxLine+1), nil, ErrLineTooLong},
	{"longest", strings.Repeat("a", MaxLine), []string{strings.Repeat("a", MaxLine)}, nil},
	{"most words", strings.Repeat("a ", MaxArgs), slices.Repeat([]string{"a"}, MaxArgs), nil},
	{"too many words", strings.Repeat("a ", MaxArgs+1), nil, ErrTooManyArgs},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			words, err := Parse(tc.line)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Parse = %q, %v; want %v", words, err, tc.err)
				}
				if !strings.HasPrefix(err.Error(), "shell: ") {
					t.Errorf("error %q does not name the package", err)
				}
				return
			}
			if err != nil || !slices.Equal(words, tc.words) {
				t.Fatalf("Parse = %q, %v; want %q", words, err, tc.words)
			}
			// Quote writes the words back so that Parse gives them again.
			if again, err := Parse(Quote(words)); err != nil || !slices.Equal(again, words) {
				t.Errorf("Parse(Quote(%q)) = %q, %v", words, again, err)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"config", "set", "log.level", "debug"}, "config set log.level debug"},
		{[]string{"a b"}, "'a b'"},
		{[]string{""}, "''"},
		{[]string{"it's"}, `'it'\''s'`},
		{[]string{"#x"}, "'#x'"},
		{[]string{"/dev/video0", "a=b,c:d@e%f+g"}, "/dev/video0 a=b,c:d@e%f+g"},
	} {
		if got := Quote(tc.words); got != tc.want {
			t.Errorf("Quote(%q) = %q, want %q", tc.words, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		if len(tc.line) < 256 {
			f.Add(tc.line)
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Parse(line)
		if err != nil {
			if words != nil {
				t.Fatalf("Parse(%q) returned words %q with error %v", line, words, err)
			}
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrControl) && !errors.Is(err, ErrLineTooLong) && !errors.Is(err, ErrTooManyArgs) {
				t.Fatalf("Parse(%q): error %v matches no sentinel", line, err)
			}
			return
		}
		if len(line) > MaxLine || len(words) > MaxArgs {
			t.Fatalf("Parse(%q) accepted %d bytes, %d words", line, len(line), len(words))
		}
		total := 0
		for _, w := range words {
			total += len(w)
			if !utf8.ValidString(w) || strings.ContainsFunc(w, func(r rune) bool { return r != '\t' && isControl(r) }) {
				t.Fatalf("Parse(%q) gave word %q", line, w)
			}
		}
		if total > len(line) {
			t.Fatalf("Parse(%q): words longer than the line", line)
		}
		again, err := Parse(Quote(words))
		if err != nil && !errors.Is(err, ErrLineTooLong) || err == nil && !slices.Equal(again, words) {
			t.Fatalf("Parse(Quote(%q)) = %q, %v", words, again, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	line := `config set 'capture.controls.OSD Text Mode' "2" # a comment`
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}
