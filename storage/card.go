package storage

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
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
	// WriteProbeEvery is how often Probe proves the card writable by
	// creating and removing a small file (a filesystem the kernel turned
	// read-only after an error may still be listed as "rw"). Default one
	// minute (each probe is a metadata write on the card); a negative value
	// probes every time.
	WriteProbeEvery time.Duration
	// Now is the clock of the write probe's schedule; default time.Now.
	Now func() time.Time
	// statfs reports free and total bytes of the filesystem at path.
	statfs func(path string) (free, total uint64, err error)
	// roFlag reports whether statfs(2) flags the filesystem at path
	// read-only (ST_RDONLY).
	roFlag func(path string) (bool, error)
	// writeProbe creates and removes a file in dir.
	writeProbe func(dir string) error

	probeMu   sync.Mutex
	probedAt  time.Time
	probedErr error
	probedDev string
}

// CardOption changes how a Card looks at the machine.
type CardOption func(*Card)

// WithStatFS replaces statfs(2): f reports the free and total bytes of the
// filesystem at path. Tests use it to simulate a small or full card.
func WithStatFS(f func(path string) (free, total uint64, err error)) CardOption {
	return func(c *Card) { c.statfs = f }
}

// WithReadOnlyFlag replaces the ST_RDONLY test of statfs(2): f reports
// whether the filesystem at path is read-only.
func WithReadOnlyFlag(f func(path string) (bool, error)) CardOption {
	return func(c *Card) { c.roFlag = f }
}

// WithWriteProbe replaces the write probe: f creates and removes a file in
// dir, and returns the error the filesystem gave.
func WithWriteProbe(f func(dir string) error) CardOption {
	return func(c *Card) { c.writeProbe = f }
}

// NewCard returns the card mounted at mount.
func NewCard(mount string, opts ...CardOption) *Card {
	c := &Card{Mount: mount, MountTable: "/proc/self/mounts", MinFree: 1 << 20, WriteProbeEvery: time.Minute,
		statfs: statFS, roFlag: readOnlyFlag, writeProbe: probeWrite}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Dir returns the agent's folder on the card.
func (c *Card) Dir() string { return filepath.Join(c.Mount, "camagent") }

// Probe reads the mount table and the filesystem's free space and flags, and
// (every WriteProbeEvery) proves the card writable by writing to it: a card
// counts as read-only when any of the mount options ("ro", "emergency_ro"),
// the statfs flags or a failed write say so.
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
		h.Err = fmt.Errorf("storage: %s (%s) is mounted read-only (%s) (the card may be locked or failing; check dmesg, then remount or replace it)", c.Mount, m.device, m.roOption)
	}
	if h.State == StateWritable && c.roFlag != nil {
		ro, err := c.roFlag(c.Mount)
		if err != nil {
			return Health{State: StateMissing, Device: m.device, FSType: m.fstype, Err: fmt.Errorf("storage: statfs %s: %w", c.Mount, err)}
		}
		if ro {
			h.State = StateReadOnly
			h.Err = fmt.Errorf("storage: %s (%s) is read-only (statfs flags; the kernel may have remounted it after an error: check dmesg, then repair or replace the card)", c.Mount, m.device)
		}
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
	if h.State == StateWritable || h.State == StateFull {
		if err := c.probeWrite(m.device); err != nil {
			h.State, h.Err = StateOf(err), fmt.Errorf("storage: %s (%s) refused a write: %w", c.Mount, m.device, err)
			if h.State == StateFull {
				// A full card may refuse even an empty file; that is full,
				// not broken.
				h.Err = fmt.Errorf("storage: %s (%s) is full: %w", c.Mount, m.device, err)
			}
		}
	}
	return h
}

// probeWrite runs the write probe when the last one is older than
// WriteProbeEvery (or was done on another device), and returns its result.
func (c *Card) probeWrite(device string) error {
	if c.writeProbe == nil {
		return nil
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	t := now()
	if c.WriteProbeEvery >= 0 && device == c.probedDev && !c.probedAt.IsZero() &&
		t.Sub(c.probedAt) < c.WriteProbeEvery && t.Sub(c.probedAt) >= 0 {
		return c.probedErr
	}
	err := c.writeProbe(c.Mount)
	c.probedAt, c.probedErr, c.probedDev = t, err, device
	return err
}

// probeWrite creates, writes and removes a small file at the root of the
// card (a unique name, so that two probes never race).
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".camagent-write-probe-*")
	if err != nil {
		return unwrapPath(err)
	}
	_, werr := f.Write([]byte{'1'})
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(unwrapPath(werr), unwrapPath(cerr), unwrapPath(rerr))
}

// unwrapPath drops the *fs.PathError around err: the probe file's random
// name means nothing to a reader of the status.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

type mount struct {
	device, fstype string
	readOnly       bool
	roOption       string // the option that said so
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
			// "ro", and "emergency_ro": newer kernels show an ext4 that
			// went read-only after an error this way, keeping "rw".
			if o == "ro" || o == "emergency_ro" {
				found.readOnly, found.roOption = true, o
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
