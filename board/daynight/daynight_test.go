package daynight_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/board/boardtest"
	"github.com/camagent/camagent/board/daynight"
)

var t0 = time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)

// rig is a controller with fake pins and a record of its switches.
type rig struct {
	c        *daynight.Controller
	cut, ir  *boardtest.Pin
	switches []string // "night@74s"
	now      time.Time
	mode     daynight.Mode
	errs     int
}

func newRig(t *testing.T, cfg daynight.Config) *rig {
	t.Helper()
	r := &rig{cut: &boardtest.Pin{}, ir: &boardtest.Pin{}, now: t0}
	cfg.IRCut, cfg.IRLED = r.cut, r.ir
	cfg.OnSwitch = func(m daynight.Mode) {
		r.mode = m
		r.switches = append(r.switches, fmt.Sprintf("%s@%v", m, r.now.Sub(t0)))
	}
	c, err := daynight.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.c = c
	return r
}

// run feeds level(now) every 100 ms (10 fps) for d.
func (r *rig) run(d time.Duration, level func() float64) {
	for end := r.now.Add(d); r.now.Before(end); r.now = r.now.Add(100 * time.Millisecond) {
		if err := r.c.Observe(r.now, level()); err != nil {
			r.errs++
		}
	}
}

func constant(v float64) func() float64 { return func() float64 { return v } }

// switchTimes parses the rig's record back to seconds.
func (r *rig) switchTimes(t *testing.T) []float64 {
	var out []float64
	for _, s := range r.switches {
		d, err := time.ParseDuration(s[strings.IndexByte(s, '@')+1:])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d.Seconds())
	}
	return out
}

func TestScenarios(t *testing.T) {
	type segment struct {
		d     time.Duration
		level float64
	}
	tests := []struct {
		name string
		segs []segment
		// wantModes are the switches in order; wantAt their times as
		// [lo, hi] seconds.
		wantModes []string
		wantAt    [][2]float64
	}{
		{"steady day", []segment{{2 * time.Minute, 120}}, nil, nil},
		{"steady dark starts in day then switches once", []segment{{time.Minute, 5}},
			// the first sample sets the level: pending from 0 s, switch at the 10 s hold
			[]string{"night"}, [][2]float64{{10, 10.1}}},
		{"dusk", []segment{{time.Minute, 120}, {time.Minute, 10}},
			// EMA (3 s) from 120 to 10 passes 40 after ~4 s, then the 10 s hold
			[]string{"night"}, [][2]float64{{73.5, 74.5}}},
		{"dusk then dawn", []segment{{time.Minute, 120}, {10 * time.Minute, 10}, {time.Minute, 200}},
			// the dawn comes 10 min after dusk: outside the flap window, hold stays 10 s
			[]string{"night", "day"}, [][2]float64{{73.5, 74.5}, {660 + 10, 660 + 14}}},
		{"hysteresis band", []segment{{time.Minute, 120}, {5 * time.Minute, 60}, {5 * time.Minute, 100}}, nil, nil},
		{"short shadow", []segment{{time.Minute, 120}, {8 * time.Second, 0}, {time.Minute, 120}}, nil, nil},
		{"headlights at night", []segment{{time.Minute, 5}, {3 * time.Second, 255}, {time.Minute, 5}},
			[]string{"night"}, [][2]float64{{10, 10.1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, daynight.Config{})
			for _, s := range tc.segs {
				r.run(s.d, constant(s.level))
			}
			at := r.switchTimes(t)
			if len(at) != len(tc.wantModes) {
				t.Fatalf("switches %v, want %v", r.switches, tc.wantModes)
			}
			for i, s := range r.switches {
				if !strings.HasPrefix(s, tc.wantModes[i]+"@") || at[i] < tc.wantAt[i][0] || at[i] > tc.wantAt[i][1] {
					t.Errorf("switch %d = %s, want %s in %v s", i, s, tc.wantModes[i], tc.wantAt[i])
				}
			}
			// Pins: driven to day at the first sample, then once per switch.
			wantCut, wantIR := []bool{true}, []bool{false}
			for _, m := range tc.wantModes {
				wantCut = append(wantCut, m == "day")
				wantIR = append(wantIR, m == "night")
			}
			if fmt.Sprint(r.cut.Values()) != fmt.Sprint(wantCut) || fmt.Sprint(r.ir.Values()) != fmt.Sprint(wantIR) {
				t.Errorf("IR cut %v, IR LED %v; want %v, %v", r.cut.Values(), r.ir.Values(), wantCut, wantIR)
			}
			if st := r.c.Status(); st.Switches != uint64(len(tc.wantModes)) || r.errs != 0 {
				t.Errorf("status %+v, %d errors", st, r.errs)
			}
		})
	}
}

// The IR LEDs and auto-exposure make the night picture as bright as day: the
// controller flaps, but each quick reversal doubles the hold, up to the cap.
func TestAntiFlap(t *testing.T) {
	r := newRig(t, daynight.Config{})
	r.run(2*time.Hour, func() float64 {
		if r.mode == daynight.Night {
			return 150 // IR-lit, auto-exposed
		}
		return 10 // dark
	})
	at := r.switchTimes(t)
	if len(at) < 6 {
		t.Fatalf("only %d switches: %v", len(at), r.switches)
	}
	// Each gap is the hold times the factor in force, plus the smoothing
	// delay (< 5 s); the factor doubles at each quick reversal, to the cap.
	factor := 1.0
	for i := 1; i < len(at); i++ {
		gap := at[i] - at[i-1]
		hold := 10 * factor
		if gap < hold || gap > hold+5 {
			t.Errorf("gap %d = %.1f s, want %.0f..%.0f s (switches %v)", i, gap, hold, hold+5, r.switches[:i+1])
		}
		factor = math.Min(factor*2, daynight.MaxHoldFactor)
	}
	if f := r.c.Status().HoldFactor; f != daynight.MaxHoldFactor {
		t.Errorf("hold factor after 2 h of flapping = %d, want the cap %d", f, daynight.MaxHoldFactor)
	}
	t.Logf("%d switches in 2 h of IR feedback; last gaps %.0f s", len(at), at[len(at)-1]-at[len(at)-2])
	if len(at) > 30 {
		t.Errorf("%d switches in 2 h: the backoff does not hold", len(at))
	}
}

func TestPinFailure(t *testing.T) {
	r := newRig(t, daynight.Config{})
	r.run(time.Minute, constant(120))
	r.cut.Fail(errors.New("gpio gone"))
	r.run(30*time.Second, constant(0))
	st := r.c.Status()
	if st.Mode != "day" || len(r.switches) != 0 || !strings.Contains(st.Error, "gpio gone") {
		t.Fatalf("after failing pins: status %+v, switches %v", st, r.switches)
	}
	// Retried once per hold, not every frame: from ~64 s, at 10 s intervals.
	if r.errs < 2 || r.errs > 3 {
		t.Errorf("%d failed attempts in 30 s, want 2..3", r.errs)
	}
	r.cut.Fail(nil)
	r.run(11*time.Second, constant(0))
	if st := r.c.Status(); st.Mode != "night" || st.Error != "" || len(r.switches) != 1 {
		t.Errorf("after recovery: status %+v, switches %v", st, r.switches)
	}
}

func TestFirstApplyFailureRetriesPerHold(t *testing.T) {
	r := newRig(t, daynight.Config{})
	r.ir.Fail(errors.New("busy"))
	r.run(25*time.Second, constant(120)) // attempts at 0, 10, 20 s
	if r.errs != 3 {
		t.Errorf("%d attempts, want 3", r.errs)
	}
	r.ir.Fail(nil)
	r.run(10*time.Second, constant(120))
	if got := r.ir.Values(); fmt.Sprint(got) != "[false]" {
		t.Errorf("IR LED values %v", got)
	}
}

func TestForce(t *testing.T) {
	r := newRig(t, daynight.Config{})
	r.run(10*time.Second, constant(120))
	if err := r.c.Force(r.now, daynight.Night); err != nil {
		t.Fatal(err)
	}
	if r.c.Mode() != daynight.Night || len(r.switches) != 1 || !r.c.Status().Forced {
		t.Fatalf("after Force(night): %+v %v", r.c.Status(), r.switches)
	}
	if err := r.c.Force(r.now, daynight.Night); err != nil || len(r.switches) != 1 {
		t.Errorf("second Force(night): %v, %v", err, r.switches)
	}
	r.run(time.Minute, constant(200)) // bright, but forced
	if r.c.Mode() != daynight.Night {
		t.Fatal("a forced night switched to day")
	}
	r.c.Release()
	r.run(15*time.Second, constant(200))
	if r.c.Mode() != daynight.Day || len(r.switches) != 2 {
		t.Errorf("after Release: %v", r.switches)
	}
}

func TestIgnoredSamples(t *testing.T) {
	r := newRig(t, daynight.Config{})
	r.run(time.Minute, constant(120))
	lvl := r.c.Status().Level
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		r.c.Observe(r.now, v)
	}
	r.c.Observe(r.now.Add(-time.Hour), 0) // out of order
	if got := r.c.Status().Level; got != lvl {
		t.Errorf("level %v after ignored samples, want %v", got, lvl)
	}
}

func TestNoPins(t *testing.T) {
	var got []daynight.Mode
	c, err := daynight.New(daynight.Config{OnSwitch: func(m daynight.Mode) { got = append(got, m) }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := c.Observe(t0.Add(time.Duration(i)*100*time.Millisecond), 0); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(got) != "[night]" {
		t.Errorf("switches %v", got)
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     daynight.Config
		wantErr bool
	}{
		{"defaults", daynight.Config{}, false},
		{"lux", daynight.Config{NightBelow: 5, DayAbove: 50}, false},
		{"zero night_below", daynight.Config{NightBelow: 0, DayAbove: 20}, false},
		{"inverted", daynight.Config{NightBelow: 100, DayAbove: 50}, true},
		{"equal", daynight.Config{NightBelow: 50, DayAbove: 50}, true},
		{"negative", daynight.Config{NightBelow: -1, DayAbove: 50}, true},
		{"NaN", daynight.Config{NightBelow: math.NaN(), DayAbove: 50}, true},
		{"negative hold", daynight.Config{Hold: -time.Second}, true},
	}
	for _, tc := range tests {
		if _, err := daynight.New(tc.cfg); (err != nil) != tc.wantErr {
			t.Errorf("%s: New = %v", tc.name, err)
		}
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []daynight.Mode{daynight.Day, daynight.Night} {
		if got, err := daynight.ParseMode(m.String()); err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := daynight.ParseMode("dusk"); err == nil {
		t.Error("ParseMode(dusk) succeeded")
	}
}
