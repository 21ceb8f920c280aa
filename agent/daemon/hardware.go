package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/camagent/camagent/agent/supervise"
	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/board/daynight"
	"github.com/camagent/camagent/board/led"
	"github.com/camagent/camagent/board/watchdog"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/event"
)

// hardware is the board's status LED and watchdog, as the profile names them.
// Either may be absent (a no-op); a board that has them but fails to open them
// is logged and the agent runs without.
type hardware struct {
	led *led.LED
	wd  *watchdog.Watchdog
	ir  *board.IR
	// dayNight switches the IR-cut filter and IR LEDs from the scene's
	// brightness; nil on boards without them.
	dayNight *daynight.Controller

	lastFrames uint64
}

func openHardware(prof board.Profile, root string, log *slog.Logger, onSwitch func(daynight.Mode)) *hardware {
	h := &hardware{}
	var err error
	if h.ir, err = board.OpenIR(prof, root, log.With("part", "ir")); err != nil {
		log.Warn("IR cut filter and LEDs unavailable", "err", err)
		h.ir = nil
	} else if !h.ir.Absent() {
		h.dayNight, err = daynight.New(daynight.Config{IRCut: h.ir.Cut, IRLED: h.ir.LED, OnSwitch: onSwitch,
			Logger: log.With("part", "daynight")})
		if err != nil {
			log.Warn("day/night control off", "err", err)
		}
	}
	if h.led, err = board.OpenStatusLED(prof, root, log.With("part", "led")); err != nil {
		log.Warn("status LED unavailable", "err", err)
		h.led = nil
	} else if err := h.led.SetPattern(led.Booting); err != nil {
		log.Warn("status LED", "err", err)
	}
	if h.wd, err = board.OpenWatchdog(prof, root, log.With("part", "watchdog")); err != nil {
		log.Warn("watchdog unavailable", "err", err)
		h.wd = nil
	}
	return h
}

// runHardware is the board part: every second it shows the agent's state on
// the status LED; the watchdog is petted only while the agent is healthy, so
// a wedged agent gets the board reset.
func (d *Daemon) runHardware(ctx context.Context) error {
	h := d.hw
	if h.wd != nil {
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			if err := h.wd.Run(ctx, d.healthy); err != nil && ctx.Err() == nil {
				d.log.Warn("watchdog", "err", err)
			}
		}()
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	shown, last := false, led.Off
	for {
		if p := d.pattern(); h.led != nil && (!shown || p != last) {
			if err := h.led.SetPattern(p); err != nil {
				d.log.Warn("status LED", "err", err)
			}
			shown, last = true, p
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// pattern is what the status LED shows: a fault (a part restarting, no
// writable card), recording, or online.
func (d *Daemon) pattern() led.Pattern {
	for _, p := range d.sup.Status() {
		if p.State == supervise.StateBackoff {
			return led.Fault
		}
	}
	d.mu.Lock()
	state := d.health.State
	d.mu.Unlock()
	if state != "" && state != storage.StateWritable {
		return led.Fault
	}
	if rec := d.rec.current(); rec != nil && rec.Status().Clip != "" {
		return led.Recording
	}
	return led.Online
}

// healthy tells the watchdog whether to keep the board alive: every part is
// running and frames still arrive.
func (d *Daemon) healthy() bool {
	for _, p := range d.sup.Status() {
		if p.State == supervise.StateBackoff {
			return false
		}
	}
	n := d.capture.Stats().Frames
	ok := n != d.hw.lastFrames
	d.hw.lastFrames = n
	return ok
}

// close stops the watchdog with the magic close and gives the LED back.
func (h *hardware) close(log *slog.Logger) {
	if h.wd != nil {
		if err := h.wd.Close(); err != nil {
			log.Warn("watchdog close", "err", err)
		}
	}
	if h.ir != nil {
		if err := h.ir.Close(); err != nil {
			log.Warn("IR lines close", "err", err)
		}
	}
	if h.led != nil {
		if err := h.led.Restore(); err != nil {
			log.Warn("status LED restore", "err", err)
		}
	}
}

// observeLight feeds a frame's brightness (mean luma, from the motion
// result) to the day/night controller.
func (h *hardware) observeLight(at time.Time, brightness float64, log *slog.Logger) {
	if h.dayNight == nil {
		return
	}
	if err := h.dayNight.Observe(at, brightness); err != nil {
		log.Warn("day/night switch failed", "err", err)
	}
}

// nightMode tells the motion detector that the IR switch changed the picture,
// so the switch itself is not taken for motion.
func (d *Daemon) nightMode(m daynight.Mode) {
	d.motion.nightMode(m == daynight.Night)
	d.publish(event.Event{Kind: event.KindDayNight, State: m.String()})
}
