package led

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Pattern is what the status LED shows.
type Pattern uint8

// The patterns.
const (
	Off Pattern = iota
	Booting
	Online
	Recording
	Fault
)

var patternNames = [...]string{Off: "off", Booting: "booting", Online: "online", Recording: "recording", Fault: "fault"}

func (p Pattern) String() string {
	if int(p) < len(patternNames) {
		return patternNames[p]
	}
	return "pattern(" + strconv.Itoa(int(p)) + ")"
}

// Patterns lists the pattern names, for help texts.
func Patterns() []string { return append([]string(nil), patternNames[:]...) }

// ParsePattern returns the pattern named s ("online").
func ParsePattern(s string) (Pattern, error) {
	for i, n := range patternNames {
		if n == s {
			return Pattern(i), nil
		}
	}
	return 0, fmt.Errorf("led: unknown pattern %q (one of %s)", s, strings.Join(patternNames[:], ", "))
}

// Blink timings.
const (
	bootOn, bootOff   = 100 * time.Millisecond, 100 * time.Millisecond
	recOn, recOff     = time.Second, time.Second
	faultOn, faultOff = 50 * time.Millisecond, 50 * time.Millisecond // without the pattern trigger
)

// maxSysfsFile bounds what is read from a sysfs attribute (one page).
const maxSysfsFile = 4096

// LED is one status LED, or an absent one.
type LED struct {
	name      string // "" when absent
	dir       string
	max       int    // max_brightness
	timer     bool   // the timer trigger is available
	pattern   bool   // the pattern trigger is available
	orig      string // the trigger at Open
	log       *slog.Logger
	triggers  []string
	mu        sync.Mutex
	cur       Pattern
	applied   bool // cur is what the LED shows
	setErrors uint64
}

// Open finds the first of names under root/sys/class/leds. No such LED is not
// an error: the returned LED is absent. A nil logger discards.
func Open(root string, names []string, log *slog.Logger) (*LED, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsRune(n, '/') {
			return nil, fmt.Errorf("led: bad LED name %q", n)
		}
		dir := filepath.Join(root, "sys/class/leds", n)
		if _, err := os.Stat(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("led: %s: %w", n, err)
		}
		return open(n, dir, log)
	}
	log.Info("no status LED on this board", "looked_for", names)
	return &LED{log: log}, nil
}

func open(name, dir string, log *slog.Logger) (*LED, error) {
	l := &LED{name: name, dir: dir, log: log, max: 1}
	raw, err := readAttr(dir, "trigger")
	if err != nil {
		return nil, fmt.Errorf("led: %s: %w", name, err)
	}
	l.triggers, l.orig = ParseTriggers(raw)
	for _, t := range l.triggers {
		switch t {
		case "timer":
			l.timer = true
		case "pattern":
			l.pattern = true
		}
	}
	if raw, err := readAttr(dir, "max_brightness"); err == nil {
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("led: %s: max_brightness %q is not a positive number", name, raw)
		}
		l.max = n
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("led: %s: %w", name, err)
	}
	if !l.timer {
		log.Warn("status LED has no timer trigger (ledtrig-timer): blinking patterns show as solid", "led", name)
	}
	log.Debug("status LED", "led", name, "trigger", l.orig, "max_brightness", l.max, "pattern_trigger", l.pattern)
	return l, nil
}

// ParseTriggers reads a sysfs trigger file ("none timer [mmc0] heartbeat"):
// the triggers offered and the current one (the bracketed name; "" if none is
// marked).
func ParseTriggers(s string) (all []string, current string) {
	if len(s) > maxSysfsFile {
		s = s[:maxSysfsFile]
	}
	for _, f := range strings.Fields(s) {
		if len(f) > 2 && f[0] == '[' && f[len(f)-1] == ']' {
			f = f[1 : len(f)-1]
			current = f
		}
		all = append(all, f)
	}
	return all, current
}

// Absent reports that the board has no status LED.
func (l *LED) Absent() bool { return l.name == "" }

// Name returns the LED's sysfs name, or "" when absent.
func (l *LED) Name() string { return l.name }

// Pattern returns the pattern last set.
func (l *LED) Pattern() Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// State says what the LED shows, for status reports: "absent", the pattern,
// or "<pattern> (failed)" after a write error.
func (l *LED) State() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.name == "":
		return "absent"
	case !l.applied && l.setErrors > 0:
		return l.cur.String() + " (failed)"
	}
	return l.cur.String()
}

// SetPattern makes the LED show p. Setting the pattern it already shows
// writes nothing. On an absent LED it only records p.
func (l *LED) SetPattern(p Pattern) error {
	if int(p) >= len(patternNames) {
		return fmt.Errorf("led: unknown pattern %d", p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.name == "" {
		l.cur, l.applied = p, true
		return nil
	}
	if l.applied && l.cur == p {
		return nil
	}
	l.cur = p
	if err := l.apply(p); err != nil {
		l.applied = false
		l.setErrors++
		return fmt.Errorf("led: %s: set %s: %w", l.name, p, err)
	}
	l.applied = true
	return nil
}

func (l *LED) apply(p Pattern) error {
	switch p {
	case Off:
		return l.solid(0)
	case Online:
		return l.solid(l.max)
	case Booting:
		return l.blink(bootOn, bootOff)
	case Recording:
		return l.blink(recOn, recOff)
	case Fault:
		if l.pattern {
			return l.doubleBlink()
		}
		return l.blink(faultOn, faultOff)
	}
	return nil
}

func (l *LED) solid(b int) error {
	if err := writeAttr(l.dir, "trigger", "none"); err != nil {
		return err
	}
	return writeAttr(l.dir, "brightness", strconv.Itoa(b))
}

func (l *LED) blink(on, off time.Duration) error {
	if !l.timer {
		return l.solid(l.max)
	}
	if err := writeAttr(l.dir, "trigger", "timer"); err != nil {
		return err
	}
	// The timer trigger creates delay_on and delay_off when it is selected.
	if err := writeAttr(l.dir, "delay_on", strconv.FormatInt(on.Milliseconds(), 10)); err != nil {
		return err
	}
	return writeAttr(l.dir, "delay_off", strconv.FormatInt(off.Milliseconds(), 10))
}

// doublePattern is the pattern trigger's program for a double blink at
// brightness m: each "brightness duration" pair holds (or ramps to the next
// brightness) for duration ms; a 0 ms pair steps at once.
func doublePattern(m int) string {
	b := strconv.Itoa(m)
	return b + " 100 " + b + " 0 0 100 0 0 " + b + " 100 " + b + " 0 0 700 0 0"
}

func (l *LED) doubleBlink() error {
	if err := writeAttr(l.dir, "trigger", "pattern"); err != nil {
		return err
	}
	if err := writeAttr(l.dir, "repeat", "-1"); err != nil {
		return err
	}
	return writeAttr(l.dir, "pattern", doublePattern(l.max))
}

// Restore gives the LED back the trigger it had at Open (for the Pi's
// activity LED, "mmc0"), for a clean shutdown.
func (l *LED) Restore() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.name == "" || l.orig == "" {
		return nil
	}
	l.applied = false
	if err := writeAttr(l.dir, "trigger", l.orig); err != nil {
		return fmt.Errorf("led: %s: restore trigger %q: %w", l.name, l.orig, err)
	}
	return nil
}

func readAttr(dir, name string) (string, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSysfsFile))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return string(b), nil
}

// writeAttr writes one sysfs attribute in one write. The file must exist:
// sysfs attributes are never created, and a missing one is an error.
func writeAttr(dir, name, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte(value))
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("write %s %q: %w", name, value, werr)
	}
	if cerr != nil {
		return fmt.Errorf("write %s %q: %w", name, value, cerr)
	}
	return nil
}
