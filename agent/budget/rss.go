package budget

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// ReadRSS returns the process's resident size in bytes from statm under
// procRoot ("/proc"): its second field, in pages of pageSize bytes
// (os.Getpagesize()).
func ReadRSS(procRoot string, pageSize int) (int64, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "self", "statm"))
	if err != nil {
		return 0, fmt.Errorf("budget: rss: %w", err)
	}
	return parseStatm(b, pageSize)
}

// parseStatm reads the resident pages (second field) of a statm line.
func parseStatm(b []byte, pageSize int) (int64, error) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("budget: rss: statm %q: want at least 2 fields", b)
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil || pages < 0 || pages > 1<<40 {
		return 0, fmt.Errorf("budget: rss: statm resident %q: not a page count", f[1])
	}
	return pages * int64(pageSize), nil
}
