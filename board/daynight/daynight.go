package daynight

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Mode is day or night.
type Mode uint8

// The modes.
const (
	Day Mode = iota
	Night
)

func (m Mode) String() string {
	if m == Night {
		return "night"
	}
	return "day"
}

// ParseMode returns the mode named "day" or "night".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "day":
		return Day, nil
	case "night":
		return Night, nil
	}
	return Day, fmt.Errorf("daynight: unknown mode %q (day or night)", s)
}

// Pin is an output the controller drives.
type Pin interface {
	Out(on bool) error
}

// Defaults, for a mean luma input (0..255).
const (
	DefaultNightBelow = 40
	DefaultDayAbove   = 110
	DefaultHold       = 10 * time.Second
	DefaultSmoothing  = 3 * time.Second
	DefaultFlapWindow = 5 * time.Minute
	// MaxHoldFactor bounds the anti-flap growth of Hold.
	MaxHoldFactor = 32
)

// Config tunes the controller. Zero durations and thresholds take the
// defaults (set both thresholds or neither).
type Config struct {
	// NightBelow and DayAbove are the hysteresis thresholds, in the unit of
	// the observed level: 0 <= NightBelow < DayAbove.
	NightBelow, DayAbove float64
	// Hold is how long the smoothed level must stay past a threshold.
	Hold time.Duration
	// Smoothing is the time constant of the moving average.
	Smoothing time.Duration
	// FlapWindow: a switch within this time of the previous one doubles
	// the next hold.
	FlapWindow time.Duration
	// IRCut is on when the IR-cut filter is in front of the sensor (day);
	// IRLED is on when the IR LEDs are lit (night). Either may be nil when
	// the board does not have it.
	IRCut, IRLED Pin
	// OnSwitch is called after each switch, outside the controller's lock
	// and on the caller's goroutine (Observe's or Force's): tell the motion
	// detector (NightMode(m == Night)).
	OnSwitch func(Mode)
	Logger   *slog.Logger
}

// Controller is the day/night state machine. It is safe for concurrent use.
type Controller struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	mode     Mode
	applied  bool // the pins show mode
	forced   bool
	started  bool
	level    float64   // smoothed
	last     time.Time // time of the last sample
	pending  time.Time // when the level first passed the threshold; zero if not
	retryAt  time.Time // pins that failed to take the mode are not retried before this
	since    time.Time // last switch
	factor   int       // hold multiplier
	switches uint64
	lastErr  error
}

// New returns a controller in day mode. It drives the pins at the first
// Observe or Force, not before.
func New(cfg Config) (*Controller, error) {
	if cfg.NightBelow == 0 && cfg.DayAbove == 0 {
		cfg.NightBelow, cfg.DayAbove = DefaultNightBelow, DefaultDayAbove
	}
	if !(cfg.NightBelow >= 0 && cfg.NightBelow < cfg.DayAbove) || math.IsInf(cfg.DayAbove, 0) {
		return nil, fmt.Errorf("daynight: thresholds night_below %v, day_above %v: want 0 <= night_below < day_above",
			cfg.NightBelow, cfg.DayAbove)
	}
	if cfg.Hold < 0 || cfg.Smoothing < 0 || cfg.FlapWindow < 0 {
		return nil, errors.New("daynight: negative hold, smoothing or flap window")
	}
	if cfg.Hold == 0 {
		cfg.Hold = DefaultHold
	}
	if cfg.Smoothing == 0 {
		cfg.Smoothing = DefaultSmoothing
	}
	if cfg.FlapWindow == 0 {
		cfg.FlapWindow = DefaultFlapWindow
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Controller{cfg: cfg, log: log, factor: 1}, nil
}

// Observe feeds one light level taken at t (a frame's capture time).
// Samples older than the previous one are ignored, as are NaN and
// infinities. It returns the error of a failed switch (the pins could not be
// driven); the switch is tried again after another Hold.
func (c *Controller) Observe(t time.Time, level float64) error {
	if math.IsNaN(level) || math.IsInf(level, 0) {
		return nil
	}
	c.mu.Lock()
	if !c.started {
		c.started, c.level, c.last = true, level, t
	} else {
		dt := t.Sub(c.last)
		if dt < 0 {
			c.mu.Unlock()
			return nil
		}
		a := 1 - math.Exp(-dt.Seconds()/c.cfg.Smoothing.Seconds())
		c.level += a * (level - c.level)
		c.last = t
	}
	if !c.applied && !t.Before(c.retryAt) {
		if err := c.drive(c.mode); err != nil {
			c.retryAt = t.Add(c.cfg.Hold)
			c.mu.Unlock()
			return err
		}
	}
	want := c.mode
	switch {
	case c.forced:
	case c.mode == Day && c.level < c.cfg.NightBelow:
		want = Night
	case c.mode == Night && c.level > c.cfg.DayAbove:
		want = Day
	}
	if want == c.mode {
		c.pending = time.Time{}
		c.mu.Unlock()
		return nil
	}
	if c.pending.IsZero() {
		c.pending = t
	}
	if t.Sub(c.pending) < c.cfg.Hold*time.Duration(c.factor) {
		c.mu.Unlock()
		return nil
	}
	if err := c.drive(want); err != nil {
		c.pending, c.retryAt = t, t.Add(c.cfg.Hold)
		c.mu.Unlock()
		return err
	}
	// A flap: the level went back past the other threshold within
	// FlapWindow of the previous switch.
	if !c.since.IsZero() && c.pending.Sub(c.since) < c.cfg.FlapWindow {
		c.factor = min(c.factor*2, MaxHoldFactor)
	} else {
		c.factor = 1
	}
	c.log.Info("day/night switch", "mode", want, "level", math.Round(c.level*10)/10,
		"next_hold", c.cfg.Hold*time.Duration(c.factor))
	return c.switched(t, want)
}

// switched records a switch to m at t, unlocks, and notifies.
func (c *Controller) switched(t time.Time, m Mode) error {
	c.mode, c.since, c.pending = m, t, time.Time{}
	c.switches++
	notify := c.cfg.OnSwitch
	c.mu.Unlock()
	if notify != nil {
		notify(m)
	}
	return nil
}

// drive sets the pins for m: to night, the filter moves out before the IR
// LEDs light; to day, the LEDs go dark before the filter moves in. Called
// with c.mu held.
func (c *Controller) drive(m Mode) error {
	night := m == Night
	first, second := c.cfg.IRCut, c.cfg.IRLED
	firstOn, secondOn := !night, night
	if !night {
		first, second = second, first
		firstOn, secondOn = secondOn, firstOn
	}
	for _, s := range []struct {
		p  Pin
		on bool
	}{{first, firstOn}, {second, secondOn}} {
		if s.p == nil {
			continue
		}
		if err := s.p.Out(s.on); err != nil {
			c.applied = false
			c.lastErr = fmt.Errorf("daynight: switch to %s: %w", m, err)
			return c.lastErr
		}
	}
	c.applied, c.lastErr = true, nil
	return nil
}

// Force pins mode m at time t until Release, switching at once if needed.
func (c *Controller) Force(t time.Time, m Mode) error {
	c.mu.Lock()
	c.forced = true
	if c.applied && c.mode == m {
		c.mu.Unlock()
		return nil
	}
	if err := c.drive(m); err != nil {
		c.mu.Unlock()
		return err
	}
	if c.mode == m {
		c.mu.Unlock()
		return nil
	}
	c.log.Info("day/night forced", "mode", m)
	return c.switched(t, m)
}

// Release returns to automatic switching.
func (c *Controller) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forced, c.pending = false, time.Time{}
}

// Mode returns the current mode.
func (c *Controller) Mode() Mode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mode
}

// Status is the controller's state, for status reports and field tuning.
type Status struct {
	Mode       string    `json:"mode"`
	Forced     bool      `json:"forced"`
	Level      float64   `json:"level"` // smoothed
	NightBelow float64   `json:"night_below"`
	DayAbove   float64   `json:"day_above"`
	Since      time.Time `json:"since"` // last switch (zero: none yet)
	Pending    time.Time `json:"pending,omitempty"`
	HoldFactor int       `json:"hold_factor"`
	Switches   uint64    `json:"switches"`
	Error      string    `json:"error,omitempty"`
}

// Status reports the controller's state.
func (c *Controller) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Status{Mode: c.mode.String(), Forced: c.forced, Level: c.level, NightBelow: c.cfg.NightBelow,
		DayAbove: c.cfg.DayAbove, Since: c.since, Pending: c.pending, HoldFactor: c.factor, Switches: c.switches}
	if c.lastErr != nil {
		s.Error = c.lastErr.Error()
	}
	return s
}
