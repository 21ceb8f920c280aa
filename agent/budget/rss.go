package budget

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Resident is the process's resident size as the kernel counts it, split
// in two: File is the file-backed and shared pages (statm's third field:
// the binary's code and read-only data the kernel paged in, a mapped
// driver's buffers, and, when the binary lives in a RAM filesystem such as
// an initramfs, its pages there); the rest, Anon, is the anonymous memory:
// the Go heap and runtime, stacks. Clean file pages on a disk or flash are
// the kernel's to drop under pressure and read back (a RAM filesystem's
// are not); anonymous memory only the agent can give back.
type Resident struct {
	Total, File int64
}

// Anon is the anonymous part of r.
func (r Resident) Anon() int64 { return r.Total - r.File }

// Charged is what the budget holds r against: the anonymous memory, and
// the file-backed pages only up to what the plan for s allows for them
// (Text and the driver's buffers). File pages beyond that allowance are
// code the agent ran once (a live session pages in the WebRTC stack's
// code, which stays resident after it ends): no step down would shrink
// them. On a camera whose binary is on flash they are clean page cache
// the kernel reclaims before it runs out; where the binary lives in a RAM
// filesystem (the QEMU camera's initramfs) they are shmem, not
// reclaimable, but they take that RAM whether the agent maps them or not.
func (r Resident) Charged(s Settings) int64 {
	return r.Anon() + min(r.File, Text+s.driver())
}

// ReadResident reads the process's resident size from statm under
// procRoot ("/proc"): its second (resident) and third (shared) fields, in
// pages of pageSize bytes (os.Getpagesize()).
func ReadResident(procRoot string, pageSize int) (Resident, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "self", "statm"))
	if err != nil {
		return Resident{}, fmt.Errorf("budget: rss: %w", err)
	}
	return parseStatm(b, pageSize)
}

// parseStatm reads the resident and shared pages (second and third
// fields) of a statm line.
func parseStatm(b []byte, pageSize int) (Resident, error) {
	f := bytes.Fields(b)
	if len(f) < 3 {
		return Resident{}, fmt.Errorf("budget: rss: statm %q: want at least 3 fields", b)
	}
	var pages [2]int64
	for i, name := range []string{"resident", "shared"} {
		n, err := strconv.ParseInt(string(f[i+1]), 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return Resident{}, fmt.Errorf("budget: rss: statm %s %q: not a page count", name, f[i+1])
		}
		pages[i] = n
	}
	if pages[1] > pages[0] {
		return Resident{}, fmt.Errorf("budget: rss: statm: %d shared pages of %d resident", pages[1], pages[0])
	}
	return Resident{Total: pages[0] * int64(pageSize), File: pages[1] * int64(pageSize)}, nil
}
