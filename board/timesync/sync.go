package timesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Kernel is the system clock as the kernel keeps it. The default is the real
// one (adjtimex, clock_settime); tests pass their own.
type Kernel interface {
	// Synced reports whether the kernel considers the clock synchronised.
	Synced() (bool, error)
	// Step moves the clock by offset.
	Step(offset time.Duration) error
	// MarkSynced tells the kernel the clock is synchronised within maxErr.
	MarkSynced(maxErr time.Duration) error
}

// Config configures a Sync. Zero values take the defaults.
type Config struct {
	// Servers are asked in order until one answers: host, host:port (UDP)
	// or tcp://host:port. None: Sync only reads the kernel's state.
	Servers []string
	// Interval between syncs once synchronised (default 1 h; the kernel's
	// own state lapses after about 9 h).
	Interval time.Duration
	// Retry is the first wait after a failed round, doubling up to
	// Interval (default 5 s).
	Retry time.Duration
	// Timeout bounds one query (default 3 s).
	Timeout time.Duration
	// StepAbove: offsets larger than this are stepped; smaller ones are
	// left (default 100 ms, below a video frame's worth at 10 fps).
	StepAbove time.Duration
	// MaxError: answers whose error bound is larger are not trusted
	// (default 1 s).
	MaxError time.Duration
	Kernel   Kernel           // default: the system clock (Linux)
	Now      func() time.Time // default time.Now
	Log      *slog.Logger     // default: discard
	// After is the timer; tests pass a synctest-friendly one. Default
	// time.After.
	After  func(time.Duration) <-chan time.Time
	dialer dialer
}

// Status is what Sync knows about the clock.
type Status struct {
	Trusted bool `json:"trusted"`
	// Source is what made it trusted: "kernel" (an NTP client on the
	// system), "sntp" (Sync itself), or "" (not trusted).
	Source string `json:"source,omitempty"`
	// Server, LastSync, Offset and MaxError describe Sync's last good
	// answer, if any. Step is the last step Sync made to the clock.
	Server   string        `json:"server,omitempty"`
	LastSync time.Time     `json:"last_sync,omitzero"`
	Offset   time.Duration `json:"offset_ns,omitempty"`
	MaxError time.Duration `json:"max_error_ns,omitempty"`
	Step     time.Duration `json:"step_ns,omitempty"`
	Steps    int           `json:"steps"`
	LastErr  string        `json:"last_error,omitempty"`
}

// Sync keeps track of (and, with servers, takes care of) the system clock.
// Run does the work; Trusted and Status may be called from any goroutine.
type Sync struct {
	cfg     Config
	servers []server

	mu     sync.Mutex
	status Status
	// sntpAt is the monotonic time of the last good SNTP answer.
	sntpAt time.Time
}

// New checks cfg and fills its defaults.
func New(cfg Config) (*Sync, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Hour
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.StepAbove <= 0 {
		cfg.StepAbove = 100 * time.Millisecond
	}
	if cfg.MaxError <= 0 {
		cfg.MaxError = time.Second
	}
	if cfg.Kernel == nil {
		cfg.Kernel = systemClock{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.dialer == nil {
		cfg.dialer = &net.Dialer{}
	}
	s := &Sync{cfg: cfg}
	for _, v := range cfg.Servers {
		srv, err := parseServer(v)
		if err != nil {
			return nil, err
		}
		s.servers = append(s.servers, srv)
	}
	return s, nil
}

// Trusted reports whether the clock is synchronised now: the kernel says so,
// or Sync's last SNTP answer is younger than twice the interval.
func (s *Sync) Trusted() bool {
	if ok, err := s.cfg.Kernel.Synced(); err == nil && ok {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.sntpAt.IsZero() && s.cfg.Now().Sub(s.sntpAt) < 2*s.cfg.Interval
}

// Status returns a snapshot.
func (s *Sync) Status() Status {
	s.mu.Lock()
	st := s.status
	s.mu.Unlock()
	st.Trusted, st.Source = false, ""
	if ok, err := s.cfg.Kernel.Synced(); err == nil && ok {
		st.Trusted, st.Source = true, "kernel"
		if !st.LastSync.IsZero() {
			st.Source = "sntp" // the kernel's state is the one Sync set
		}
	} else if s.Trusted() {
		st.Trusted, st.Source = true, "sntp"
	}
	return st
}

// Run keeps the clock synchronised until ctx ends: a round now, then every
// Interval, or sooner (Retry, doubling) after a failed round. Without
// servers, or while an NTP client on the system keeps the kernel's clock
// synchronised, it only watches. It returns nil when ctx ends.
func (s *Sync) Run(ctx context.Context) error {
	wait := s.cfg.Retry
	for {
		next := s.cfg.Interval
		if err := s.round(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.cfg.Log.Warn("time: no server answered", "err", err, "retry_in", wait)
			next, wait = wait, min(2*wait, s.cfg.Interval)
		} else {
			wait = s.cfg.Retry
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.After(next):
		}
	}
}

// errNoServers: nothing to ask, and the kernel says the clock is not synced.
var errNoServers = errors.New("no [time] servers configured and no NTP client keeps the clock")

// round asks the servers in order; the first good answer sets the clock.
func (s *Sync) round(ctx context.Context) error {
	s.mu.Lock()
	ours := !s.status.LastSync.IsZero()
	s.mu.Unlock()
	if ok, err := s.cfg.Kernel.Synced(); err == nil && ok && !ours {
		return nil // an NTP client on the system keeps the clock
	}
	if len(s.servers) == 0 {
		s.setErr(errNoServers)
		return errNoServers
	}
	var errs []error
	for _, srv := range s.servers {
		smp, err := query(ctx, s.cfg.dialer, srv, s.cfg.Now, s.cfg.Timeout)
		if err == nil && smp.maxErr > s.cfg.MaxError {
			err = fmt.Errorf("timesync: %s: error bound %v above %v", srv, smp.maxErr, s.cfg.MaxError)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return s.apply(srv, smp)
	}
	err := errors.Join(errs...)
	s.setErr(err)
	return err
}

// apply steps the clock by the sample's offset when it is large and marks
// the kernel's clock synchronised.
func (s *Sync) apply(srv server, smp sample) error {
	var step time.Duration
	if smp.offset > s.cfg.StepAbove || smp.offset < -s.cfg.StepAbove {
		if err := s.cfg.Kernel.Step(smp.offset); err != nil {
			err = fmt.Errorf("timesync: step the clock by %v: %w", smp.offset, err)
			s.setErr(err)
			return err
		}
		step = smp.offset
		s.cfg.Log.Info("time: clock stepped", "server", srv.String(), "step", smp.offset, "max_error", smp.maxErr)
	}
	maxErr := smp.maxErr
	if step == 0 {
		maxErr += max(smp.offset, -smp.offset) // the offset left in the clock
	}
	if err := s.cfg.Kernel.MarkSynced(maxErr); err != nil {
		// Not fatal: Trusted still says so from the answer's age.
		s.cfg.Log.Warn("time: cannot mark the kernel's clock synchronised", "err", err)
	}
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	first := s.status.LastSync.IsZero()
	s.sntpAt = now
	s.status.Server, s.status.LastSync, s.status.Offset, s.status.MaxError = srv.String(), now, smp.offset, maxErr
	s.status.LastErr = ""
	if step != 0 {
		s.status.Step, s.status.Steps = step, s.status.Steps+1
	}
	if first {
		s.cfg.Log.Info("time: clock synchronised", "server", srv.String(), "offset", smp.offset, "max_error", maxErr)
	}
	return nil
}

func (s *Sync) setErr(err error) {
	s.mu.Lock()
	s.status.LastErr = err.Error()
	s.mu.Unlock()
}
