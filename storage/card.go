package storage

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// The states a card can be in.
const (
	StateWritable = "writable"
	StateReadOnly = "read-only"
	StateMissing  = "missing"
	StateFull     = "full"
)

// Health is what a probe of the card found.
type Health struct {
	State      string
	Device     string // the mounted block device, when mounted
	FSType     string
	FreeBytes  uint64
	TotalBytes uint64
	Err        error // why the card is not writable, when it is not
}

// Card is the SD card mounted at Mount.
type Card struct {
	Mount string
	// MountTable is the mount table to read (default /proc/self/mounts); tests
	// point it at a file of their own.
	MountTable string
	// MinFree is the free space below which the card counts as full.
	MinFree uint64
	// statfs reports free and total bytes of the filesystem at path.
	statfs func(path string) (free, total uint64, err error)
}

// CardOption changes how a Card looks at the machine.
type CardOption func(*Card)

// WithStatFS replaces statfs(2): f reports the free and total bytes of the
// filesystem at path. Tests use it to simulate a small or full card.
func WithStatFS(f func(path string) (free, total uint64, err error)) CardOption {
	return func(c *Card) { c.statfs = f }
}

// NewCard returns the card mounted at mount.
func NewCard(mount string, opts ...CardOption) *Card {
	c := &Card{Mount: mount, MountTable: "/proc/self/mounts", MinFree: 1 << 20, statfs: statFS}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Dir returns the agent's folder on the card.
func (c *Card) Dir() string { return filepath.Join(c.Mount, "camagent") }

// Probe reads the mount table and the filesystem's free space.
func (c *Card) Probe() Health {
	f, err := os.Open(c.MountTable)
	if err != nil {
		return Health{State: StateMissing, Err: fmt.Errorf("storage: read mount table: %w", err)}
	}
	defer f.Close()
	m, ok, err := findMount(f, filepath.Clean(c.Mount))
	if err != nil {
		return Health{State: StateMissing, Err: err}
	}
	if !ok {
		return Health{State: StateMissing, Err: fmt.Errorf("storage: nothing is mounted at %s (insert an SD card, or set storage.mount)", c.Mount)}
	}
	h := Health{State: StateWritable, Device: m.device, FSType: m.fstype}
	if m.readOnly {
		h.State = StateReadOnly
		h.Err = fmt.Errorf("storage: %s (%s) is mounted read-only (the card may be locked or failing; check dmesg, then remount or replace it)", c.Mount, m.device)
	}
	if c.statfs != nil {
		free, total, err := c.statfs(c.Mount)
		if err != nil {
			return Health{State: StateMissing, Device: m.device, FSType: m.fstype, Err: fmt.Errorf("storage: statfs %s: %w", c.Mount, err)}
		}
		h.FreeBytes, h.TotalBytes = free, total
		if h.State == StateWritable && free < c.MinFree {
			h.State = StateFull
			h.Err = fmt.Errorf("storage: %s has %d bytes free, below the %d-byte floor", c.Mount, free, c.MinFree)
		}
	}
	return h
}

type mount struct {
	device, fstype string
	readOnly       bool
}

// findMount returns the last mount of dir in a /proc/mounts-format table (the
// last one is the one visible).
func findMount(r io.Reader, dir string) (mount, bool, error) {
	var found mount
	ok := false
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		if unescapeMount(fields[1]) != dir {
			continue
		}
		found, ok = mount{device: fields[0], fstype: fields[2]}, true
		for _, o := range strings.Split(fields[3], ",") {
			if o == "ro" {
				found.readOnly = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return mount{}, false, fmt.Errorf("storage: read mount table: %w", err)
	}
	return found, ok, nil
}

// unescapeMount undoes the octal escapes (\040 for space) of /proc/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
