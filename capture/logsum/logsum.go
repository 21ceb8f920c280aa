package logsum

import (
	"log/slog"
	"time"
)

// Config sets how a Condition summarises.
type Config struct {
	// Level of its lines; default slog.LevelInfo (the zero value).
	Level slog.Level
	// Interval is how often a condition that goes on is summarised, and how
	// long without it ends it; default one minute.
	Interval time.Duration
}

// DefaultInterval is Config.Interval's default.
const DefaultInterval = time.Minute

// Condition is one log site's repeated condition. It is not safe for
// concurrent use: one goroutine (the one that meets the condition) owns it.
type Condition struct {
	log      *slog.Logger
	msg      string
	level    slog.Level
	interval time.Duration

	active      bool
	since, last time.Time // start of the spell, last occurrence
	windowStart time.Time // start of the current summary interval
	total       uint64    // occurrences in the spell
	window      uint64    // occurrences since the last line
	detail      any       // the latest occurrence's detail
}

// New returns a quiet condition that logs msg on log (nil: discard).
func New(log *slog.Logger, msg string, cfg Config) *Condition {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	return &Condition{log: log, msg: msg, level: cfg.Level, interval: cfg.Interval}
}

// Note records one occurrence at now. detail (nil, a constant string, an
// error...) is logged as "detail" with the start line and the summaries.
// The first occurrence after a quiet spell logs msg with state "started";
// the following ones are counted, and logged once per interval as msg with
// state "repeating" and the count since the last line.
func (c *Condition) Note(now time.Time, detail any) {
	c.detail = detail
	if !c.active {
		c.active = true
		c.since, c.last, c.windowStart = now, now, now
		c.total, c.window = 1, 0
		c.emit("state", "started", "detail", detail)
		return
	}
	c.total++
	c.window++
	c.last = now
	if now.Sub(c.windowStart) >= c.interval {
		c.emit("state", "repeating", "count", c.window, "over", now.Sub(c.windowStart), "detail", detail)
		c.window, c.windowStart = 0, now
	}
}

// Tick lets time pass: when the condition has not been met for an interval,
// it ends. If it happened more than once, a line with state "ended" gives
// the total count and how long the spell lasted (a single occurrence needs
// no second line).
func (c *Condition) Tick(now time.Time) {
	if !c.active || now.Sub(c.last) < c.interval {
		return
	}
	c.active = false
	if c.total > 1 {
		c.emit("state", "ended", "count", c.total, "for", c.last.Sub(c.since), "detail", c.detail)
	}
	c.detail = nil
}

// Active reports whether the condition is in a spell (met within the last
// interval).
func (c *Condition) Active() bool { return c.active }

func (c *Condition) emit(args ...any) {
	switch {
	case c.level >= slog.LevelError:
		c.log.Error(c.msg, args...)
	case c.level >= slog.LevelWarn:
		c.log.Warn(c.msg, args...)
	case c.level >= slog.LevelInfo:
		c.log.Info(c.msg, args...)
	default:
		c.log.Debug(c.msg, args...)
	}
}
