package shell

// History is the shell's bounded, in-memory command history (x/term's
// up and down keys walk it; the history command prints it). It skips empty
// lines, repeats of the last line, and lines longer than maxHistoryLine
// (pasted unlock responses). Not safe for concurrent use.
type History struct {
	buf  []string
	next int
	n    int
}

const (
	// DefaultHistory is how many lines a shell remembers.
	DefaultHistory = 100
	maxHistoryLine = 200
)

// NewHistory returns a history of at most size lines (at least 1).
func NewHistory(size int) *History { return &History{buf: make([]string, max(size, 1))} }

// Add records a line as the most recent entry.
func (h *History) Add(line string) {
	if line == "" || len(line) > maxHistoryLine || (h.n > 0 && h.At(0) == line) {
		return
	}
	h.buf[h.next] = line
	h.next = (h.next + 1) % len(h.buf)
	h.n = min(h.n+1, len(h.buf))
}

// Len returns the number of entries.
func (h *History) Len() int { return h.n }

// At returns an entry: 0 is the most recent ("" when idx is out of range;
// x/term checks the range first).
func (h *History) At(idx int) string {
	if idx < 0 || idx >= h.n {
		return ""
	}
	return h.buf[(h.next-1-idx+2*len(h.buf))%len(h.buf)]
}

// Entries returns every entry, oldest first.
func (h *History) Entries() []string {
	out := make([]string, h.n)
	for i := range h.n {
		out[i] = h.At(h.n - 1 - i)
	}
	return out
}
