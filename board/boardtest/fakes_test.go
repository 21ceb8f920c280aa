package boardtest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camagent/camagent/board/led"
)

func TestLED(t *testing.T) {
	var l LED
	if _, ok := l.Last(); ok {
		t.Error("Last on a new LED")
	}
	l.SetPattern(led.Booting)
	l.Fail(errors.New("gone"))
	if err := l.SetPattern(led.Fault); err == nil {
		t.Error("Fail did not make SetPattern fail")
	}
	l.Fail(nil)
	l.SetPattern(led.Online)
	if got := fmt.Sprint(l.Patterns()); got != "[booting fault online]" {
		t.Errorf("Patterns = %s", got)
	}
	if p, ok := l.Last(); !ok || p != led.Online {
		t.Errorf("Last = %v %v", p, ok)
	}
}

func TestPin(t *testing.T) {
	var p Pin
	p.Out(true)
	p.Fail(errors.New("busy"))
	if err := p.Out(false); err == nil {
		t.Error("Fail did not make Out fail")
	}
	p.Fail(nil)
	p.Out(false)
	if got := fmt.Sprint(p.Values()); got != "[true false]" {
		t.Errorf("Values = %s", got)
	}
	if on, set := p.Level(); on || !set {
		t.Errorf("Level = %v %v", on, set)
	}
}

func TestWatchdog(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := NewWatchdog()
		var healthy atomic.Bool
		healthy.Store(true)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- w.Run(ctx, healthy.Load) }()
		time.Sleep(2500 * time.Millisecond) // pets at 0, 1, 2 s
		healthy.Store(false)
		time.Sleep(2 * time.Second) // none at 3, 4 s
		cancel()
		<-done
		if w.Pets() != 3 || len(w.Petted()) != 3 {
			t.Errorf("Pets = %d, Petted has %d", w.Pets(), len(w.Petted()))
		}
		w.Fail(errors.New("io"))
		if w.Pet() == nil || w.Pets() != 3 {
			t.Error("Fail did not make Pet fail")
		}
		w.Close()
		if !w.Closed() {
			t.Error("Closed = false")
		}
	})
}

func TestTree(t *testing.T) {
	tr := NewTree(t)
	dir := tr.LED("ACT", LEDOptions{Triggers: []string{"none", "timer"}, Current: "none", MaxBrightness: 1})
	if got := tr.ReadFile(dir + "/trigger"); got != "[none] timer\n" {
		t.Errorf("trigger = %q", got)
	}
	if tr.ReadFile(dir+"/max_brightness") != "1\n" || tr.ReadFile(dir+"/delay_on") != "500\n" || tr.ReadFile(dir+"/pattern") != "<missing>" {
		t.Error("LED files")
	}
	tr.WatchdogDevice("/dev/watchdog")
	if tr.ReadFile("/dev/watchdog") != "" || tr.Path("/dev/watchdog") != tr.Root+"/dev/watchdog" {
		t.Error("watchdog device")
	}
}
