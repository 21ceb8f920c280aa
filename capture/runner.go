package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Runner is the capture part: it opens a Source, publishes every frame to a Hub
// and keeps the counters the status report shows. It returns when the source
// fails, so its supervisor can reopen the device with backoff (a USB camera
// unplugged and plugged back).
type Runner struct {
	open   func() (Source, error)
	hub    *Hub
	log    *slog.Logger
	now    func() time.Time
	report time.Duration

	frames  atomic.Uint64
	dropped atomic.Uint64 // frames lost because every pooled buffer was held
	bad     atomic.Uint64
	pool    atomic.Pointer[Pool] // the pool of the newest frame

	mu      sync.Mutex
	state   string
	format  Format
	fps     float64
	ctlr    controller
	lastBad time.Time
}

type controller interface {
	SetControl(name string, v int32) error
}

// RunnerConfig wires a Runner.
type RunnerConfig struct {
	Open   func() (Source, error) // opens the source; called on every (re)start
	Hub    *Hub
	Logger *slog.Logger
	Now    func() time.Time // nil means time.Now
	// ReportEvery is how often the frame rate is logged (0 means 10 s).
	ReportEvery time.Duration
}

// NewRunner returns a Runner; it opens nothing until Run.
func NewRunner(cfg RunnerConfig) *Runner {
	r := &Runner{open: cfg.Open, hub: cfg.Hub, log: cfg.Logger, now: cfg.Now, report: cfg.ReportEvery, state: "stopped"}
	if r.now == nil {
		r.now = time.Now
	}
	if r.report <= 0 {
		r.report = 10 * time.Second
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r
}

// Stats is what the Runner has counted since the agent started.
type Stats struct {
	State     string
	Format    Format
	FPS       float64 // measured over the last second
	Frames    uint64
	Dropped   uint64
	BadFrames uint64
	// PoolSize is the source's frame pool, PoolUsed how many of its
	// frames are held now (queued or being handled); 0 before the first
	// frame. PoolMade is how many of its buffers exist now (Pool.Made:
	// made on first use, dropped by TrimPool), the frames' share of the
	// agent's memory.
	PoolSize, PoolUsed, PoolMade int
}

// Stats returns the current counters.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{State: r.state, Format: r.format, FPS: r.fps,
		Frames: r.frames.Load(), Dropped: r.dropped.Load(), BadFrames: r.bad.Load()}
	if p := r.pool.Load(); p != nil {
		st.PoolSize = p.Size()
		st.PoolUsed = p.Size() - p.Available()
		st.PoolMade = p.Made()
	}
	return st
}

// TrimPool drops the buffers of the source's free frames (Pool.Trim) and
// returns how many it dropped.
func (r *Runner) TrimPool() int {
	if p := r.pool.Load(); p != nil {
		return p.Trim()
	}
	return 0
}

// SetControl sets a named device control on the running source.
func (r *Runner) SetControl(name string, v int32) error {
	r.mu.Lock()
	c := r.ctlr
	r.mu.Unlock()
	if c == nil {
		return errors.New("capture: no running source with controls")
	}
	return c.SetControl(name, v)
}

func (r *Runner) setState(s string) {
	r.mu.Lock()
	r.state = s
	r.mu.Unlock()
}

// Run captures until ctx ends (returning ctx's error) or the source fails.
func (r *Runner) Run(ctx context.Context) error {
	r.setState("opening")
	src, err := r.open()
	if err != nil {
		r.setState("error")
		return err
	}
	defer func() {
		if err := src.Close(); err != nil {
			r.log.Warn("capture: close", "err", err)
		}
		r.mu.Lock()
		r.ctlr, r.fps = nil, 0
		r.mu.Unlock()
	}()
	f := src.Format()
	r.mu.Lock()
	r.format, r.state = f, "streaming"
	r.ctlr, _ = src.(controller)
	r.mu.Unlock()
	r.log.Info("capture started", "format", f.Pixel.String(), "width", f.Width, "height", f.Height,
		"stride", f.Stride, "fps", f.FPS)

	first := true
	start := r.now()
	lastReport, lastFrames := start, r.frames.Load()
	lastRate, rateFrames := lastReport, lastFrames
	for {
		fr, err := src.Next(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			r.setState("stopped")
			return ctx.Err()
		case errors.Is(err, ErrBadFrame):
			r.bad.Add(1)
			r.logBad(err)
			continue
		case errors.Is(err, ErrPoolEmpty):
			r.dropped.Add(1)
			continue
		default:
			r.setState("error")
			return err
		}
		if first {
			first = false
			r.log.Info("first frame", "format", fr.Pixel.String(), "width", fr.Width, "height", fr.Height,
				"bytes", len(fr.Data), "after", r.now().Sub(start).Round(time.Millisecond))
		}
		if fr.pool != nil && r.pool.Load() != fr.pool {
			r.pool.Store(fr.pool)
		}
		r.hub.Publish(fr)
		fr.Release()
		n := r.frames.Add(1)
		now := r.now()
		if now.Sub(lastRate) >= time.Second {
			fps := float64(n-rateFrames) / now.Sub(lastRate).Seconds()
			r.mu.Lock()
			r.fps = fps
			r.mu.Unlock()
			lastRate, rateFrames = now, n
		}
		if now.Sub(lastReport) >= r.report {
			fps := float64(n-lastFrames) / now.Sub(lastReport).Seconds()
			r.log.Info("capture", "frames", n, "fps", fmt.Sprintf("%.2f", fps),
				"dropped", r.dropped.Load(), "bad", r.bad.Load())
			lastReport, lastFrames = now, n
		}
	}
}

// logBad logs a skipped frame at most once a minute, to spare the SD card.
func (r *Runner) logBad(err error) {
	now := r.now()
	r.mu.Lock()
	quiet := now.Sub(r.lastBad) < time.Minute
	if !quiet {
		r.lastBad = now
	}
	r.mu.Unlock()
	if !quiet {
		r.log.Warn("capture: skipped bad frame", "err", err, "bad_total", r.bad.Load())
	}
}
