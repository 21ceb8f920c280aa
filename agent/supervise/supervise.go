package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Part is a long-running piece of the agent. Run blocks until ctx ends (then it
// returns ctx's error or nil) or the part fails.
type Part interface {
	Name() string
	Run(ctx context.Context) error
}

// The states a part can be in.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "backoff"
	StateStopped  = "stopped"
)

// PartStatus is one part's state as the status report shows it.
type PartStatus struct {
	Name      string
	State     string
	Since     time.Time
	Restarts  int
	LastError string
}

// Config tunes the Supervisor; zero fields take the defaults.
type Config struct {
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait before a restart (500 ms, 30 s).
	MinBackoff, MaxBackoff time.Duration
	// StableAfter is how long a part must run before its backoff resets (1 min).
	StableAfter time.Duration
	// Now and After are the clock (time.Now and time.After by default).
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
}

// Supervisor runs parts and restarts those that fail.
type Supervisor struct {
	cfg   Config
	parts []*slot
}

type slot struct {
	part    Part
	restart chan struct{}

	mu     sync.Mutex
	status PartStatus
}

// New returns a Supervisor for parts, in start order.
func New(cfg Config, parts ...Part) *Supervisor {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	s := &Supervisor{cfg: cfg}
	for _, p := range parts {
		s.parts = append(s.parts, &slot{part: p, restart: make(chan struct{}, 1),
			status: PartStatus{Name: p.Name(), State: StateStopped}})
	}
	return s
}

// Status returns every part's state, in start order.
func (s *Supervisor) Status() []PartStatus {
	out := make([]PartStatus, 0, len(s.parts))
	for _, sl := range s.parts {
		sl.mu.Lock()
		out = append(out, sl.status)
		sl.mu.Unlock()
	}
	return out
}

// Restart asks the named part to stop and start again at once (no backoff). It
// reports whether a part of that name exists.
func (s *Supervisor) Restart(name string) bool {
	for _, sl := range s.parts {
		if sl.part.Name() == name {
			select {
			case sl.restart <- struct{}{}:
			default:
			}
			return true
		}
	}
	return false
}

// ErrShutdownTimeout is returned by Run when parts outlive the grace period.
var ErrShutdownTimeout = errors.New("supervise: parts did not stop in time")

// Run runs every part until ctx ends, then waits up to grace for them to return.
// It returns nil on a clean shutdown.
func (s *Supervisor) Run(ctx context.Context, grace time.Duration) error {
	var wg sync.WaitGroup
	for _, sl := range s.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.keep(ctx, sl)
		}()
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-s.cfg.After(grace):
		var stuck []string
		for _, st := range s.Status() {
			if st.State != StateStopped {
				stuck = append(stuck, st.Name)
			}
		}
		return fmt.Errorf("%w (%s after %s)", ErrShutdownTimeout, strings.Join(stuck, ", "), grace)
	}
}

func (sl *slot) set(now time.Time, state string, err error, restarted bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.status.State, sl.status.Since = state, now
	if err != nil {
		sl.status.LastError = err.Error()
	}
	if restarted {
		sl.status.Restarts++
	}
}

// keep runs one part, restarting it, until ctx ends.
func (s *Supervisor) keep(ctx context.Context, sl *slot) {
	log := s.cfg.Logger.With("part", sl.part.Name())
	backoff := s.cfg.MinBackoff
	restarted := false
	for {
		sl.set(s.cfg.Now(), StateRunning, nil, restarted)
		started := s.cfg.Now()
		err, requested := s.runOnce(ctx, sl)
		if ctx.Err() != nil {
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Warn("part stopped with error", "err", err)
			}
			sl.set(s.cfg.Now(), StateStopped, nil, false)
			return
		}
		restarted = true
		if requested {
			log.Info("part restarting on request")
			continue
		}
		if s.cfg.Now().Sub(started) >= s.cfg.StableAfter {
			backoff = s.cfg.MinBackoff
		}
		if err == nil {
			err = errors.New("returned without error before shutdown")
		}
		log.Error("part failed; restarting", "err", err, "in", backoff)
		sl.set(s.cfg.Now(), StateBackoff, err, false)
		select {
		case <-ctx.Done():
			sl.set(s.cfg.Now(), StateStopped, nil, false)
			return
		case <-sl.restart:
		case <-s.cfg.After(backoff):
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
}

// runOnce runs the part once; requested reports a Restart call ended it.
func (s *Supervisor) runOnce(ctx context.Context, sl *slot) (err error, requested bool) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sl.part.Run(pctx) }()
	select {
	case err = <-done:
		return err, false
	case <-sl.restart:
		cancel()
		<-done
		return nil, true
	}
}
