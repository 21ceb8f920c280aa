package daemon

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"io"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/board/daynight"
	"github.com/camagent/camagent/capture"
)

// pinLog records what the day/night controller drives.
type pinLog struct {
	mu  sync.Mutex
	ons []bool
}

func (p *pinLog) Out(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ons = append(p.ons, on)
	return nil
}

func (p *pinLog) last() (on, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ons) == 0 {
		return false, false
	}
	return p.ons[len(p.ons)-1], true
}

// mjpegFrame is a flat MJPEG picture of luma level.
func mjpegFrame(t *testing.T, w, h int, level byte) []byte {
	t.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range img.Y {
		img.Y[i] = level
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = 128, 128
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDayNightOnMJPEG: on an MJPEG camera (first in the default format
// list) the IR-cut filter and LEDs follow the scene's light: the motion part
// hands day/night the brightness it read from each frame. Before, day/night
// read raw frames only and never switched on MJPEG.
func TestDayNightOnMJPEG(t *testing.T) {
	synctest.Test(t, testDayNightOnMJPEG)
}

func testDayNightOnMJPEG(t *testing.T) {
	cut, leds := &pinLog{}, &pinLog{}
	var switches []daynight.Mode
	var mu sync.Mutex
	dn, err := daynight.New(daynight.Config{IRCut: cut, IRLED: leds, Hold: 2 * time.Second, Smoothing: time.Second,
		OnSwitch: func(m daynight.Mode) { mu.Lock(); switches = append(switches, m); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	d := New(config.Default(), config.Source{}, Deps{Console: io.Discard, NoBoard: true})
	d.hw = &hardware{dayNight: dn}

	const w, h = 320, 240
	format := capture.Format{Pixel: capture.FormatMJPEG, Width: w, Height: h, FPS: 10}
	bright, dark := mjpegFrame(t, w, h, 200), mjpegFrame(t, w, h, 8)
	pool := capture.NewPool(4, 64<<10)
	at := time.Date(2026, 5, 14, 18, 0, 0, 0, time.UTC)
	seq := uint64(0)
	publish := func(data []byte) {
		f, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		f.SetLen(len(data))
		copy(f.Data, data)
		f.Format, f.Seq, f.Time = format, seq, at
		seq++
		at = at.Add(500 * time.Millisecond) // frame time: the controller's clock
		d.hub.Publish(f)
		f.Release()
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.motion.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	synctest.Wait() // the motion part subscribed and waits for a frame
	if len(d.hub.Stats()) == 0 {
		t.Fatal("the motion part did not subscribe to the frames")
	}
	// feed publishes frames of data, each handled by the motion part before
	// the next, until cond holds (at most 100 frames: 50 s of frame time).
	feed := func(what string, data []byte, cond func() bool) {
		t.Helper()
		for range 100 {
			publish(data)
			synctest.Wait()
			if cond() {
				return
			}
		}
		t.Fatalf("100 frames and not %s", what)
	}
	mode := func(want daynight.Mode) func() bool {
		return func() bool { return dn.Mode() == want }
	}
	feed("day on a bright scene", bright, func() bool { return mode(daynight.Day)() && dn.Status().Level > 150 })
	feed("night on a dark scene", dark, mode(daynight.Night))
	if on, ok := leds.last(); !ok || !on {
		t.Errorf("IR LEDs not lit at night (%v, %v)", on, ok)
	}
	if on, ok := cut.last(); !ok || on {
		t.Errorf("IR-cut filter still in at night (%v, %v)", on, ok)
	}
	feed("day again", bright, mode(daynight.Day))
	mu.Lock()
	defer mu.Unlock()
	if len(switches) < 2 || switches[len(switches)-2] != daynight.Night || switches[len(switches)-1] != daynight.Day {
		t.Errorf("switches %v, want night then day", switches)
	}
}
