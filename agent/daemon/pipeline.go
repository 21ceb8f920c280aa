package daemon

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/agent/budget"
	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/recorder"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/upload"
)

// Queue depths of the frame consumers: motion wants the newest frame, the
// recorder absorbs a short stall of the JPEG encoder.
const (
	motionQueue = budget.MotionQueue // the recorder's queue is the memory plan's
	keptEvents  = 100                // recent motion events for the status and the shell
)

// Frames become evidence along explicit wiring, made in New: the motion
// part (motionPart) finds events in its own frame queue and hands each event
// and each peak frame to the sink it was built with — the recorder part
// (recorderPart) — which writes them as clips to the clip store (whose
// clipSealer signs each sealed clip's manifest). Each part owns its state;
// the status report, the shell and the board ask the parts through their
// methods.

// motionSink is where the motion part sends what the recorder needs: every
// start and end of an event, and the frames with motion (for the
// thumbnail). It must not block.
type motionSink interface {
	Event(e *motion.Event)
	Peak(f *capture.Frame, score float64, boxes int)
}

// motionPart is the motion part: it analyses every frame of its queue,
// reports events to its sink, publishes them, and keeps the newest result
// and the recent events for the status report and the shell.
type motionPart struct {
	hub     *capture.Hub
	config  func() motion.Config
	log     *slog.Logger
	sink    motionSink
	publish func(event.Event)
	// light receives each frame's brightness (the day/night controller);
	// nil for none. Set in New, before Run.
	light func(at time.Time, brightness float64)
	// feed is every frame's result for the shell's `motion` command.
	feed *MotionFeed

	det atomic.Pointer[motion.Detector] // nil until the first frame

	mu     sync.Mutex
	events []motion.Event // newest last, at most keptEvents
	last   motion.Result  // the newest frame's result (Boxes copied)
	boxes  [motion.MaxBoxes]motion.Box
	// feedBoxes is the motion goroutine's buffer for feed samples.
	feedBoxes [control.MaxBoxes]control.Box
}

// Run analyses frames until ctx ends; the event going on then is ended and
// reported.
func (m *motionPart) Run(ctx context.Context) error {
	q := m.hub.Subscribe("motion", motionQueue)
	defer m.hub.Unsubscribe(q)
	cfg := m.config()
	var det *motion.Detector
	var format capture.Format
	for {
		f, err := q.Next(ctx)
		if err != nil {
			if det != nil {
				if ev := det.Flush(); ev != nil {
					m.onEvent(ev)
				}
			}
			return err
		}
		if det == nil || f.Format != format {
			format = f.Format
			if det, err = motion.New(cfg, format, m.log); err != nil {
				f.Release()
				return err
			}
			m.det.Store(det)
			m.log.Info("motion detection started", "format", format.Pixel.String(), "width", format.Width, "height", format.Height)
		}
		res, err := det.Process(f)
		if err == nil {
			if m.light != nil {
				m.light(res.Time, res.Brightness)
			}
			if res.Motion {
				m.sink.Peak(f, res.Score, len(res.Boxes))
			}
			m.noteResult(&res)
		}
		f.Release()
		if err != nil && !errors.Is(err, capture.ErrBadFrame) {
			return err
		}
	}
}

// noteResult keeps the newest result for the status and reports events.
func (m *motionPart) noteResult(res *motion.Result) {
	m.mu.Lock()
	m.last = *res
	m.last.Boxes = m.boxes[:copy(m.boxes[:], res.Boxes)]
	m.last.Started, m.last.Ended = nil, nil
	m.feed.Add(motionSample(res, &m.feedBoxes))
	m.mu.Unlock()
	for _, ev := range [2]*motion.Event{res.Started, res.Ended} {
		if ev != nil {
			m.onEvent(ev)
		}
	}
}

// onEvent logs an event's start or end, keeps it, publishes it and tells
// the sink.
func (m *motionPart) onEvent(ev *motion.Event) {
	e := ev.Clone()
	if e.Ongoing() {
		m.log.Info("motion event started", "event", e.ID, "at", e.Start.Format(time.RFC3339Nano))
	} else {
		m.log.Info("motion event ended", "event", e.ID, "duration", e.End.Sub(e.Start).Round(time.Millisecond),
			"peak_score", control.FormatPercent(control.Percent(e.PeakScore)), "peak_frame", e.PeakFrame, "boxes", len(e.Boxes))
	}
	m.publish(motionMessage(&e))
	m.mu.Lock()
	if n := len(m.events); n > 0 && m.events[n-1].ID == e.ID {
		m.events[n-1] = e
	} else {
		if len(m.events) == keptEvents {
			copy(m.events, m.events[1:])
			m.events = m.events[:keptEvents-1]
		}
		m.events = append(m.events, e)
	}
	m.mu.Unlock()
	m.sink.Event(&e)
}

// status is the motion part of the status report; ok is false before the
// first frame.
func (m *motionPart) status() (st motion.Stats, last motion.Result, events []motion.Event, ok bool) {
	det := m.det.Load()
	if det == nil {
		return st, last, nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	last = m.last
	last.Boxes = append([]motion.Box(nil), last.Boxes...)
	for _, e := range m.events {
		events = append(events, e.Clone())
	}
	return det.Stats(), last, events, true
}

// recent returns copies of up to n of the newest events, oldest first.
func (m *motionPart) recent(n int) []motion.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	evs := m.events
	if n < len(evs) {
		evs = evs[len(evs)-n:]
	}
	out := make([]motion.Event, len(evs))
	for i := range evs {
		out[i] = evs[i].Clone()
	}
	return out
}

// nightMode tells the detector that the IR switch changed the picture.
func (m *motionPart) nightMode(night bool) {
	if det := m.det.Load(); det != nil {
		det.NightMode(night)
	}
}

// maxOngoing bounds the events going on that the recorder part keeps for a
// recorder that (re)starts (the recorder itself tracks at most 16).
const maxOngoing = 16

// recorderPart is the recorder part: a recorder on the daemon's clip store,
// fed from its own frame queue, made anew each time the part (re)starts. As
// the motion part's sink it passes events and peak frames to the recorder
// running now, and remembers the events going on, so that a recorder that
// (re)starts in the middle of an event records it too.
type recorderPart struct {
	hub    *capture.Hub
	config func() config.StorageConfig
	store  func() (*storage.Store, error)
	log    *slog.Logger
	// plan is the memory plan: the queue depth, pre-roll and clip rate
	// the budget allows.
	plan func() budget.Plan
	// hold keeps the recorder off the card while format-sd erases it.
	hold *cardHold
	// credentials signs thumbnails with Content Credentials (nil: none).
	credentials func() jpegSigner

	cur atomic.Pointer[recorder.Recorder] // nil while the part is not running

	mu      sync.Mutex
	ongoing []recorder.Event // events started and not ended, oldest first
}

// Run records until ctx ends. Recovery of clips left by a power cut runs
// when the recorder starts and whenever the card comes back. When ctx ends
// it seals the clip it is writing before it returns.
func (p *recorderPart) Run(ctx context.Context) error {
	if err := p.hold.wait(ctx); err != nil {
		return nil // stopped while format-sd held the card
	}
	s := p.config()
	store, err := p.store()
	if err != nil {
		return err
	}
	// Queue depth, pre-roll and clip rate as the memory budget allows.
	mp := p.plan()
	q := p.hub.Subscribe("recorder", mp.RecorderQueue)
	defer p.hub.Unsubscribe(q)
	rec, err := recorder.New(recorder.Config{
		Store: store, Queue: q, Logger: p.log,
		PreRoll: mp.PreRoll, PreRollBytes: mp.PreRollBytes, PostRoll: s.PostRoll.Duration,
		MaxClip: s.MaxClip.Duration, FPS: mp.ClipFPS, Quality: s.JPEGQuality, FragmentDuration: s.Fragment.Duration,
		Credentials: p.credentials(),
	})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.cur.Store(rec)
	// An event already going on when the recorder (re)starts is recorded too.
	for _, e := range p.ongoing {
		rec.Notify(e)
	}
	p.mu.Unlock()
	defer p.cur.Store(nil)
	return rec.Run(ctx)
}

// Event passes a motion event's start or end to the recorder.
func (p *recorderPart) Event(e *motion.Event) {
	ev := recorder.Event{ID: e.ID, Start: e.Start, End: e.End}
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.IndexFunc(p.ongoing, func(o recorder.Event) bool { return o.ID == e.ID })
	switch {
	case !e.Ongoing() && i >= 0:
		p.ongoing = slices.Delete(p.ongoing, i, i+1)
	case e.Ongoing() && i < 0:
		if len(p.ongoing) == maxOngoing {
			p.ongoing = slices.Delete(p.ongoing, 0, 1)
		}
		p.ongoing = append(p.ongoing, ev)
	}
	if rec := p.cur.Load(); rec != nil {
		rec.Notify(ev)
	}
}

// Peak offers the recorder a frame with motion for the thumbnail.
func (p *recorderPart) Peak(f *capture.Frame, score float64, boxes int) {
	if rec := p.cur.Load(); rec != nil {
		rec.Peak(f, score, boxes)
	}
}

// current is the recorder running now, nil while the part is not running.
func (p *recorderPart) current() *recorder.Recorder { return p.cur.Load() }

func mib(n int) uint64 { return uint64(n) << 20 }

// runUpload is the upload part: it sends every complete clip of the
// daemon's clip store (manifest, thumbnail, then body) to the ingest named by
// [upload] url, authenticated by the device key. The uploader takes the
// store's announcements of completed clips and asks the store what is
// pending (upload.Store); it knows nothing of the card's layout. Without a
// url clips stay on the card.
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
	d.uploader.Store(up)
	defer d.uploader.Store(nil)
	return up.Run(ctx)
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
