package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/storage/recorder"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/upload"
)

// Queue depths of the frame consumers: motion wants the newest frame, the
// recorder absorbs a short stall of the JPEG encoder.
const (
	motionQueue   = 2
	recorderQueue = 8
	keptEvents    = 100 // recent motion events for the status and the shell
	// completedQueue is how many completed clips the store's announcement
	// holds for the uploader; beyond it the uploader finds them by asking
	// the store.
	completedQueue = 64
)

// pipeline is what turns frames into evidence: the motion part finds events
// and hands them to the recorder part, which writes them as clips to the
// clip store (the store's clipSealer signs each sealed clip's manifest).
type pipeline struct {
	mu     sync.Mutex
	rec    *recorder.Recorder // nil while the recorder part is not running
	det    *motion.Detector   // nil until the first frame
	events []motion.Event     // newest last, at most keptEvents
	last   motion.Result      // the newest frame's result (Boxes copied)
	boxes  [motion.MaxBoxes]motion.Box
	// feed is every frame's result for the shell's `motion` command.
	feed      *MotionFeed
	feedBoxes [control.MaxBoxes]control.Box
}

// runMotion is the motion part: it analyses every frame it gets, reports
// events to the recorder, and gives the recorder the peak frame for the
// thumbnail.
func (d *Daemon) runMotion(ctx context.Context) error {
	q := d.hub.Subscribe("motion", motionQueue)
	defer d.hub.Unsubscribe(q)
	cfg, _ := d.config()
	log := d.log.With("part", "motion")
	var det *motion.Detector
	var format capture.Format
	for {
		f, err := q.Next(ctx)
		if err != nil {
			if det != nil {
				if ev := det.Flush(); ev != nil {
					d.onEvent(ev)
				}
			}
			return err
		}
		if det == nil || f.Format != format {
			format = f.Format
			if det, err = motion.New(cfg.Motion, format, log); err != nil {
				f.Release()
				return err
			}
			d.pipe.mu.Lock()
			d.pipe.det = det
			d.pipe.mu.Unlock()
			log.Info("motion detection started", "format", format.Pixel.String(), "width", format.Width, "height", format.Height)
		}
		res, err := det.Process(f)
		if err == nil {
			d.hw.observeLight(res.Time, res.Brightness, log)
			if res.Motion {
				if rec := d.recorder(); rec != nil {
					rec.Peak(f, res.Score, len(res.Boxes))
				}
			}
			d.noteResult(&res)
		}
		f.Release()
		if err != nil && !errors.Is(err, capture.ErrBadFrame) {
			return err
		}
	}
}

func (d *Daemon) recorder() *recorder.Recorder {
	d.pipe.mu.Lock()
	defer d.pipe.mu.Unlock()
	return d.pipe.rec
}

// noteResult keeps the newest result for the status and reports events.
func (d *Daemon) noteResult(res *motion.Result) {
	d.pipe.mu.Lock()
	d.pipe.last = *res
	d.pipe.last.Boxes = d.pipe.boxes[:copy(d.pipe.boxes[:], res.Boxes)]
	d.pipe.last.Started, d.pipe.last.Ended = nil, nil
	d.pipe.feed.Add(motionSample(res, &d.pipe.feedBoxes))
	d.pipe.mu.Unlock()
	for _, ev := range [2]*motion.Event{res.Started, res.Ended} {
		if ev != nil {
			d.onEvent(ev)
		}
	}
}

// onEvent logs an event's start or end, keeps it, and tells the recorder.
func (d *Daemon) onEvent(ev *motion.Event) {
	e := ev.Clone()
	log := d.log.With("part", "motion")
	if e.Ongoing() {
		log.Info("motion event started", "event", e.ID, "at", e.Start.Format(time.RFC3339Nano))
	} else {
		log.Info("motion event ended", "event", e.ID, "duration", e.End.Sub(e.Start).Round(time.Millisecond),
			"peak_score", control.FormatPercent(control.Percent(e.PeakScore)), "peak_frame", e.PeakFrame, "boxes", len(e.Boxes))
	}
	d.publish(motionMessage(&e))
	d.pipe.mu.Lock()
	if n := len(d.pipe.events); n > 0 && d.pipe.events[n-1].ID == e.ID {
		d.pipe.events[n-1] = e
	} else {
		if len(d.pipe.events) == keptEvents {
			copy(d.pipe.events, d.pipe.events[1:])
			d.pipe.events = d.pipe.events[:keptEvents-1]
		}
		d.pipe.events = append(d.pipe.events, e)
	}
	rec := d.pipe.rec
	d.pipe.mu.Unlock()
	if rec != nil {
		rec.Notify(recorder.Event{ID: e.ID, Start: e.Start, End: e.End})
	}
}

// runRecorder is the recorder part: a recorder on the daemon's clip store,
// fed from its own frame queue. Recovery of clips left by a power cut runs
// when the recorder starts and whenever the card comes back. When ctx ends
// it seals the clip it is writing before it returns.
func (d *Daemon) runRecorder(ctx context.Context) error {
	cfg, _ := d.config()
	s := cfg.Storage
	store, err := d.clipStore()
	if err != nil {
		return err
	}
	q := d.hub.Subscribe("recorder", recorderQueue)
	defer d.hub.Unsubscribe(q)
	rec, err := recorder.New(recorder.Config{
		Store: store, Queue: q, Logger: d.log.With("part", "recorder"),
		PreRoll: s.PreRoll.Duration, PreRollBytes: s.PreRollMB << 20, PostRoll: s.PostRoll.Duration,
		MaxClip: s.MaxClip.Duration, FPS: s.ClipFPS, Quality: s.JPEGQuality, FragmentDuration: s.Fragment.Duration,
	})
	if err != nil {
		return err
	}
	d.pipe.mu.Lock()
	d.pipe.rec = rec
	// An event already going on when the recorder (re)starts is recorded too.
	for _, e := range d.pipe.events {
		if e.Ongoing() {
			rec.Notify(recorder.Event{ID: e.ID, Start: e.Start})
		}
	}
	d.pipe.mu.Unlock()
	defer func() {
		d.pipe.mu.Lock()
		d.pipe.rec = nil
		d.pipe.mu.Unlock()
	}()
	return rec.Run(ctx)
}

func mib(n int) uint64 { return uint64(n) << 20 }

// motionStatus is the motion part of the status report.
func (d *Daemon) motionStatus() (st motion.Stats, last motion.Result, events []motion.Event, ok bool) {
	d.pipe.mu.Lock()
	defer d.pipe.mu.Unlock()
	if d.pipe.det == nil {
		return st, last, nil, false
	}
	last = d.pipe.last
	last.Boxes = append([]motion.Box(nil), last.Boxes...)
	for _, e := range d.pipe.events {
		events = append(events, e.Clone())
	}
	return d.pipe.det.Stats(), last, events, true
}

// runUpload is the upload part: it sends every complete clip of the
// daemon's clip store (manifest, thumbnail, then body) to the ingest named by
// [upload] url, authenticated by the device key. The store announces each
// clip that becomes complete; the uploader finds those it missed, and those
// left from before, by asking the store. Without a url clips stay on the
// card.
func (d *Daemon) runUpload(ctx context.Context) error {
	cfg, _ := d.config()
	u := cfg.Upload
	if u.URL == "" {
		<-ctx.Done()
		return ctx.Err()
	}
	store, err := d.clipStore()
	if err != nil {
		return err
	}
	id, err := d.identity()
	if err != nil {
		return err
	}
	delay := u.StartDelay.Duration
	if delay == 0 {
		delay = -1 // the config's "0s" is no delay; the uploader's zero means its default
	}
	up, err := newUploader(uploadSettings{URL: u.URL, CAFile: u.CA, ServerName: u.ServerName,
		CertFile: identity.CertPath(cfg.Identity.Key), Bandwidth: int64(u.BandwidthKBps) << 10,
		StartDelay: delay, OnUploaded: func(name string) {
			d.publish(event.Event{Kind: event.KindClipUploaded, Clip: name})
		}}, id.key, store, d.log.With("part", "upload"))
	if err != nil {
		return err
	}
	completed, unsubscribe := store.Subscribe(completedQueue)
	defer unsubscribe()
	d.uploader.Store(up)
	defer d.uploader.Store(nil)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	for {
		select {
		case info := <-completed:
			up.Notify(info)
		case err := <-done:
			return err
		}
	}
}

// uploadStatus is the upload queue for the control socket.
func (d *Daemon) uploadStatus() upload.Status {
	if up := d.uploader.Load(); up != nil {
		return up.Status()
	}
	return upload.Status{}
}

// motionMessage is the MQTT event of a motion event's start or end.
func motionMessage(e *motion.Event) event.Event {
	m := event.Event{Kind: event.KindMotionStart, Time: e.Start, MotionID: e.ID, ScorePPM: event.ScorePPM(e.PeakScore)}
	if !e.Ongoing() {
		m.Kind, m.Time = event.KindMotionEnd, e.End
	}
	for _, b := range e.Boxes[:min(len(e.Boxes), event.MaxBoxes)] {
		m.Boxes = append(m.Boxes, event.Box{X: uint32(max(b.X, 0)), Y: uint32(max(b.Y, 0)), W: uint32(max(b.W, 0)), H: uint32(max(b.H, 0))})
	}
	return m
}
