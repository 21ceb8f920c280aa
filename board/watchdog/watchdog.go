package watchdog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrBusy means the watchdog device is already open by another process.
var ErrBusy = errors.New("watchdog: device busy (held by another process: systemd RuntimeWatchdogSec or a watchdog daemon?)")

// ErrClosed is returned by Pet after Close.
var ErrClosed = errors.New("watchdog: closed")

// DefaultTimeout is asked for when Config.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// minInterval bounds how often Run pets, whatever the timeout.
const minInterval = 100 * time.Millisecond

// Config selects and tunes the watchdog.
type Config struct {
	// Path is the device, already under the board's root ("/dev/watchdog").
	Path string
	// Timeout is asked of the driver (whole seconds); the driver may choose
	// another (the Pi's bcm2835_wdt allows at most 15 s). Zero means
	// DefaultTimeout.
	Timeout time.Duration
	Logger  *slog.Logger
}

// device is the open watchdog.
type device interface {
	Write(p []byte) (int, error)
	Close() error
	setTimeout(seconds int) error
	getTimeout() (int, error)
	identity() (string, error)
}

// Watchdog is an open hardware watchdog, or an absent one.
type Watchdog struct {
	path     string
	identity string
	timeout  time.Duration
	assumed  bool // the driver did not report its timeout
	log      *slog.Logger

	mu     sync.Mutex
	dev    device // nil when absent
	closed bool
	pets   uint64
	last   error // the last Pet's error
}

// Open opens and so starts the watchdog. A missing device gives an absent
// Watchdog and no error.
func Open(cfg Config) (*Watchdog, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Path == "" {
		return &Watchdog{log: log}, nil
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY, 0)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist), isNoDevice(err):
			log.Info("no hardware watchdog on this board", "device", cfg.Path)
			return &Watchdog{path: cfg.Path, log: log}, nil
		case isBusy(err):
			return nil, fmt.Errorf("%w: %s", ErrBusy, cfg.Path)
		}
		return nil, fmt.Errorf("watchdog: open %s: %w", cfg.Path, err)
	}
	return open(cfg, fileDevice{f}, log), nil
}

func open(cfg Config, dev device, log *slog.Logger) *Watchdog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	want := cfg.Timeout
	if want <= 0 {
		want = DefaultTimeout
	}
	secs := int((want + time.Second - 1) / time.Second)
	w := &Watchdog{path: cfg.Path, dev: dev, log: log, timeout: time.Duration(secs) * time.Second}
	w.identity, _ = dev.identity()
	serr := dev.setTimeout(secs)
	got, gerr := dev.getTimeout()
	switch {
	case gerr == nil && got > 0:
		w.timeout = time.Duration(got) * time.Second
	default:
		w.assumed = true
		log.Warn("watchdog driver does not report its timeout; assuming the requested one",
			"device", cfg.Path, "timeout", w.timeout, "set_err", serr, "get_err", gerr)
	}
	if serr != nil && !w.assumed {
		log.Info("watchdog driver kept its own timeout", "device", cfg.Path, "asked", want, "timeout", w.timeout, "err", serr)
	}
	log.Info("hardware watchdog armed", "device", cfg.Path, "identity", w.identity, "timeout", w.timeout)
	return w
}

// Absent reports that the board has no watchdog device.
func (w *Watchdog) Absent() bool { return w.dev == nil }

// Timeout returns the driver's timeout (or the assumed one), 0 when absent.
func (w *Watchdog) Timeout() time.Duration { return w.timeout }

// Identity returns the driver's name ("Broadcom BCM2835 Watchdog timer"), if
// it reports one.
func (w *Watchdog) Identity() string { return w.identity }

// Status is the watchdog's state for status reports.
type Status struct {
	Device   string        `json:"device"`
	State    string        `json:"state"` // absent, armed, closed
	Identity string        `json:"identity,omitempty"`
	Timeout  time.Duration `json:"timeout"`
	Pets     uint64        `json:"pets"`
	Error    string        `json:"error,omitempty"` // the last Pet's error
}

// Status reports the watchdog's state.
func (w *Watchdog) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := Status{Device: w.path, Identity: w.identity, Timeout: w.timeout, Pets: w.pets}
	switch {
	case w.dev == nil:
		s.State = "absent"
	case w.closed:
		s.State = "closed"
	default:
		s.State = "armed"
	}
	if w.last != nil {
		s.Error = w.last.Error()
	}
	return s
}

// Pet feeds the watchdog once. It does nothing on an absent watchdog.
func (w *Watchdog) Pet() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil {
		return nil
	}
	if w.closed {
		return ErrClosed
	}
	// Any byte but 'V' (which would arm the magic close) is a keepalive.
	if _, err := w.dev.Write([]byte{0}); err != nil {
		w.last = fmt.Errorf("watchdog: pet %s: %w", w.path, err)
		return w.last
	}
	w.pets++
	w.last = nil
	return nil
}

// Close disarms the watchdog with the magic close ('V', then close) and
// releases the device. It is a clean stop: call it only when the agent is
// shutting down on purpose.
func (w *Watchdog) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dev == nil || w.closed {
		return nil
	}
	w.closed = true
	_, werr := w.dev.Write([]byte{'V'})
	cerr := w.dev.Close()
	if werr != nil {
		return fmt.Errorf("watchdog: magic close %s: %w (the board will reset in %v)", w.path, werr, w.timeout)
	}
	if cerr != nil {
		return fmt.Errorf("watchdog: close %s: %w", w.path, cerr)
	}
	w.log.Info("hardware watchdog disarmed", "device", w.path)
	return nil
}

// Interval is how often Run pets: a third of the timeout.
func (w *Watchdog) Interval() time.Duration { return max(w.timeout/3, minInterval) }

// Run pets the watchdog every Interval while healthy reports true (a nil
// healthy counts as always healthy), starting at once. While healthy is false
// it does not pet, so the board resets after the timeout unless health
// returns first. When ctx ends it pets once more if the agent was healthy,
// and returns ctx's error with the watchdog still armed: the shutdown drain
// then has a whole timeout, and Close disarms it at the end of a clean
// shutdown. Run may be called again (a supervisor restarting the part). On an
// absent watchdog it only waits for ctx.
func (w *Watchdog) Run(ctx context.Context, healthy func() bool) error {
	if w.Absent() {
		<-ctx.Done()
		return ctx.Err()
	}
	t := time.NewTicker(w.Interval())
	defer t.Stop()
	wasHealthy, petFailing := true, false
	pet := func() {
		err := w.Pet()
		if err != nil && !petFailing {
			w.log.Error("watchdog pet failed", "err", err)
		}
		petFailing = err != nil
	}
	for {
		h := healthy == nil || healthy()
		switch {
		case h && !wasHealthy:
			w.log.Info("agent healthy again: petting the watchdog")
		case !h && wasHealthy:
			w.log.Error("agent unhealthy: not petting the watchdog; the board resets unless health returns",
				"within", w.timeout)
		}
		wasHealthy = h
		if h {
			pet()
		}
		select {
		case <-ctx.Done():
			if wasHealthy {
				pet()
			}
			return ctx.Err()
		case <-t.C:
		}
	}
}

// fileDevice is the device file.
type fileDevice struct{ f *os.File }

func (d fileDevice) Write(p []byte) (int, error) { return d.f.Write(p) }
func (d fileDevice) Close() error                { return d.f.Close() }
