package logring

import (
	"bytes"
	"sync"
)

// Line is one log line and its sequence number (1 for the first line written).
type Line struct {
	Seq  uint64 `json:"seq"`
	Text string `json:"text"`
}

// Ring is an io.Writer that keeps the last N lines written to it. slog handlers
// write one record per Write call; a Write holding several lines is split.
type Ring struct {
	mu      sync.Mutex
	lines   []Line
	next    int    // index of the slot the next line goes to
	seq     uint64 // sequence number of the last line written
	changed chan struct{}
}

// New returns a Ring holding up to n lines (at least 1).
func New(n int) *Ring {
	return &Ring{lines: make([]Line, max(n, 1)), changed: make(chan struct{})}
}

// Write stores each line of p (without its newline). It never fails.
func (r *Ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		r.seq++
		r.lines[r.next] = Line{Seq: r.seq, Text: string(l)}
		r.next = (r.next + 1) % len(r.lines)
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return len(p), nil
}

// Tail returns up to n of the newest lines, oldest first.
func (r *Ring) Tail(n int) []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.after(0, n, true)
}

// Since returns up to max lines written after sequence number seq, oldest
// first, and a channel closed when more lines arrive (for following the log).
// Lines that have already been overwritten are skipped.
func (r *Ring) Since(seq uint64, max int) ([]Line, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.after(seq, max, false), r.changed
}

// after collects lines with Seq > seq; newest keeps the newest n, else the oldest n.
func (r *Ring) after(seq uint64, n int, newest bool) []Line {
	size := uint64(len(r.lines))
	first := uint64(1)
	if r.seq > size {
		first = r.seq - size + 1
	}
	first = max(first, seq+1)
	if first > r.seq || n <= 0 {
		return nil
	}
	count := r.seq - first + 1
	if uint64(n) < count {
		if newest {
			first = r.seq - uint64(n) + 1
		}
		count = uint64(n)
	}
	out := make([]Line, 0, count)
	for s := first; s < first+count; s++ {
		out = append(out, r.lines[(s-1)%size])
	}
	return out
}

// Cap returns how many lines the ring holds.
func (r *Ring) Cap() int { return len(r.lines) }
