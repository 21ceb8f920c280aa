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
	cfg    Config
	parts  []*slot // in start order
	stages []Stage // in stop order
}

// Stage is a group of parts that stop together at shutdown. A supervisor
// stops its stages one after another, in the order given to NewStaged, and
// waits for each stage's parts before it tells the next one to stop: the
// camera stops before the recorder seals its last clip, and the recorder
// before the upload and the board's watchdog.
type Stage struct {
	Name string
	// Grace bounds the wait for this stage's parts to return once told to
	// stop; 0 takes Run's grace.
	Grace time.Duration
	Parts []Part
}

type slot struct {
	part    Part
	stage   int
	restart chan struct{}

	mu     sync.Mutex
	status PartStatus
}

// New returns a Supervisor for parts, in start order, that stops them all
// at once.
func New(cfg Config, parts ...Part) *Supervisor {
	return NewStaged(cfg, Stage{Parts: parts})
}

// NewStaged returns a Supervisor for the parts of stages, given in stop
// order; they start in the reverse order (the last stage first).
func NewStaged(cfg Config, stages ...Stage) *Supervisor {
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
	s := &Supervisor{cfg: cfg, stages: stages}
	for i := len(stages) - 1; i >= 0; i-- {
		for _, p := range stages[i].Parts {
			s.parts = append(s.parts, &slot{part: p, stage: i, restart: make(chan struct{}, 1),
				status: PartStatus{Name: p.Name(), State: StateStopped}})
		}
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

// Run runs every part until ctx ends, then stops the stages in order,
// waiting up to each stage's grace (grace when it has none) for its parts to
// return. It returns nil on a clean shutdown.
func (s *Supervisor) Run(ctx context.Context, grace time.Duration) error {
	// Each stage has its own context, so that ctx ending stops nothing by
	// itself: the stages are stopped one by one below.
	type running struct {
		cancel context.CancelFunc
		wg     sync.WaitGroup
	}
	run := make([]*running, len(s.stages))
	ctxs := make([]context.Context, len(s.stages))
	for i := range s.stages {
		run[i] = &running{}
		ctxs[i], run[i].cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	for _, sl := range s.parts {
		r := run[sl.stage]
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			s.keep(ctxs[sl.stage], sl)
		}()
	}
	<-ctx.Done()
	var errs []error
	for i, st := range s.stages {
		run[i].cancel()
		if err := s.waitStage(i, st, &run[i].wg, grace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// waitStage waits for a stopped stage's parts to return.
func (s *Supervisor) waitStage(i int, st Stage, wg *sync.WaitGroup, grace time.Duration) error {
	if st.Grace > 0 {
		grace = st.Grace
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-s.cfg.After(grace):
	}
	var stuck []string
	for _, sl := range s.parts {
		if ps := sl.get(); sl.stage == i && ps.State != StateStopped {
			stuck = append(stuck, ps.Name)
		}
	}
	return fmt.Errorf("%w (%s after %s)", ErrShutdownTimeout, strings.Join(stuck, ", "), grace)
}

func (sl *slot) get() PartStatus {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	return sl.status
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
