package board

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/camagent/camagent/board/daynight"
	"github.com/camagent/camagent/board/gpio"
	"github.com/camagent/camagent/board/led"
	"github.com/camagent/camagent/board/watchdog"
)

// GPIOConsumer is the label the agent's GPIO lines carry (gpioinfo shows it).
const GPIOConsumer = "camagent"

// OpenStatusLED opens the profile's status LED under root. A board without
// one gets an absent LED, not an error.
func OpenStatusLED(p Profile, root string, log *slog.Logger) (*led.LED, error) {
	return led.Open(root, p.StatusLEDs, log)
}

// OpenWatchdog opens (and so arms) the profile's watchdog under root. A board
// without one gets an absent Watchdog, not an error.
func OpenWatchdog(p Profile, root string, log *slog.Logger) (*watchdog.Watchdog, error) {
	dev := ""
	if p.Watchdog != "" {
		dev = Join(root, p.Watchdog)
	}
	return watchdog.Open(watchdog.Config{Path: dev, Timeout: p.WatchdogTimeout, Logger: log})
}

// IR is the IR-cut filter and IR LED outputs. Cut and LED are nil when the
// board does not have them.
type IR struct {
	Cut, LED daynight.Pin
	lines    []*gpio.Lines
}

// Absent reports that the board has neither output.
func (ir *IR) Absent() bool { return ir.Cut == nil && ir.LED == nil }

// Close releases the GPIO lines.
func (ir *IR) Close() error {
	var errs []error
	for _, l := range ir.lines {
		errs = append(errs, l.Close())
	}
	ir.lines = nil
	return errors.Join(errs...)
}

// OpenIR requests the profile's IR-cut and IR LED lines as outputs, in the
// day state (filter in, LEDs off). Lines the profile does not wire, or whose
// chip does not exist, are absent (nil in IR), not an error; a chip that
// exists but refuses the lines (ErrBusy, out of range) is.
func OpenIR(p Profile, root string, log *slog.Logger) (*IR, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	type want struct {
		line    Line
		initial bool
		set     func(ir *IR, pin daynight.Pin)
	}
	wants := []want{
		{p.IRCut, true, func(ir *IR, pin daynight.Pin) { ir.Cut = pin }},
		{p.IRLED, false, func(ir *IR, pin daynight.Pin) { ir.LED = pin }},
	}
	// One request per chip, lines in profile order.
	var chips []string
	byChip := map[string][]want{}
	for _, w := range wants {
		if !w.line.Wired() {
			continue
		}
		if _, ok := byChip[w.line.Chip]; !ok {
			chips = append(chips, w.line.Chip)
		}
		byChip[w.line.Chip] = append(byChip[w.line.Chip], w)
	}
	ir := &IR{}
	for _, chipPath := range chips {
		ws := byChip[chipPath]
		c, err := gpio.OpenChip(Join(root, chipPath))
		if errors.Is(err, gpio.ErrAbsent) {
			log.Info("IR lines absent: no GPIO chip", "chip", chipPath)
			continue
		}
		if err != nil {
			ir.Close()
			return nil, fmt.Errorf("board: IR lines: %w", err)
		}
		outs := make([]gpio.Output, len(ws))
		for i, w := range ws {
			outs[i] = gpio.Output{Offset: w.line.Offset, ActiveLow: w.line.ActiveLow, Initial: w.initial}
		}
		lines, err := c.RequestOutputs(GPIOConsumer, outs)
		c.Close()
		if err != nil {
			ir.Close()
			return nil, fmt.Errorf("board: IR lines: %w", err)
		}
		ir.lines = append(ir.lines, lines)
		for i, w := range ws {
			w.set(ir, lines.Pin(i))
		}
		log.Info("IR lines", "chip", chipPath, "label", c.Info().Label, "ir_cut", p.IRCut, "ir_led", p.IRLED)
	}
	return ir, nil
}
