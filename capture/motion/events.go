package motion

import (
	"context"
	"errors"
	"time"

	"github.com/camagent/camagent/capture"
)

// Event is a period of motion: it starts after MinMotionFrames consecutive
// frames with motion (at the first of them) and ends when no frame has shown
// motion for EventGap (at the last one that did).
type Event struct {
	ID         uint64    `json:"id"` // 1, 2, ... for each detector
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"` // zero while the event goes on
	StartFrame uint64    `json:"start_frame"`
	EndFrame   uint64    `json:"end_frame"`
	PeakScore  float64   `json:"peak_score"`
	PeakFrame  uint64    `json:"peak_frame"`
	PeakTime   time.Time `json:"peak_time"`
	// Boxes are the motion regions of the peak frame, in input pixels.
	Boxes []Box `json:"boxes"`
}

// Ongoing reports whether the event has not ended yet.
func (e *Event) Ongoing() bool { return e.End.IsZero() }

// Clone returns a copy that owns its boxes.
func (e *Event) Clone() Event {
	c := *e
	c.Boxes = append([]Box(nil), e.Boxes...)
	return c
}

// peak is the highest-scoring frame seen so far, with its boxes.
type peak struct {
	score float64
	frame uint64
	time  time.Time
	boxes [MaxBoxes]Box
	n     int
}

func (p *peak) offer(r *Result) {
	if p.n >= 0 && r.Score <= p.score {
		return
	}
	p.score, p.frame, p.time = r.Score, r.Frame, r.Time
	p.n = copy(p.boxes[:], r.Boxes)
}

// events is the event state machine.
type events struct {
	minFrames     int
	gap, cooldown time.Duration

	run             int // consecutive motion frames
	runStart        time.Time
	runStartFrame   uint64
	runPeak, evPeak peak
	lastMotion      time.Time
	lastMotionFrame uint64
	active          bool
	cur, ended      Event
	endedBoxes      [MaxBoxes]Box
	cooldownUntil   time.Time
	nextID          uint64
}

func (e *events) init(cfg Config) {
	e.minFrames, e.gap, e.cooldown = cfg.MinMotionFrames, cfg.EventGap, cfg.Cooldown
	e.nextID = 1
}

func (e *events) update(r *Result) {
	if !r.Motion {
		e.run = 0
		if e.active && r.Time.Sub(e.lastMotion) >= e.gap {
			r.Ended = e.finish()
			e.cooldownUntil = r.Time.Add(e.cooldown)
		}
		return
	}
	if e.run == 0 {
		e.runStart, e.runStartFrame = r.Time, r.Frame
		e.runPeak.n = -1
	}
	e.run++
	e.lastMotion, e.lastMotionFrame = r.Time, r.Frame
	if e.active {
		e.evPeak.offer(r)
		e.setPeak()
		return
	}
	e.runPeak.offer(r)
	if e.run < e.minFrames || r.Time.Before(e.cooldownUntil) {
		return
	}
	e.active = true
	e.evPeak = e.runPeak
	e.cur = Event{ID: e.nextID, Start: e.runStart, StartFrame: e.runStartFrame}
	if e.runStart.Before(e.cooldownUntil) {
		e.cur.Start, e.cur.StartFrame = r.Time, r.Frame
	}
	e.nextID++
	e.setPeak()
	r.Started = &e.cur
}

func (e *events) setPeak() {
	p := &e.evPeak
	e.cur.PeakScore, e.cur.PeakFrame, e.cur.PeakTime = p.score, p.frame, p.time
	e.cur.Boxes = p.boxes[:p.n]
}

// finish ends the current event at its last motion frame.
func (e *events) finish() *Event {
	e.active = false
	e.ended = e.cur
	e.ended.End, e.ended.EndFrame = e.lastMotion, e.lastMotionFrame
	e.ended.Boxes = e.endedBoxes[:copy(e.endedBoxes[:], e.cur.Boxes)]
	return &e.ended
}

// Flush ends the event in progress, if any, as if the event gap had passed:
// for the end of a file or a shutdown. The result is valid until the next
// call into the detector.
func (d *Detector) Flush() *Event {
	if !d.ev.active {
		return nil
	}
	d.ev.run = 0
	return d.ev.finish()
}

// Run takes frames from q until ctx ends, analyses each, releases it, and
// sends every event on events twice: when it starts (End zero) and when it
// ends. Sending waits for the receiver (or ctx), so give events a buffer; q
// drops frames meanwhile, never capture. A nil events only counts them. Bad frames are counted and skipped.
// At the end an event in progress is flushed and its end sent if events has
// room. Run returns ctx's error.
func (d *Detector) Run(ctx context.Context, q *capture.Queue, events chan<- Event) error {
	for {
		f, err := q.Next(ctx)
		if err != nil {
			if ev := d.Flush(); ev != nil && events != nil {
				select {
				case events <- ev.Clone():
				default:
				}
			}
			return err
		}
		res, err := d.Process(f)
		f.Release()
		if errors.Is(err, capture.ErrBadFrame) {
			continue
		}
		for _, ev := range [2]*Event{res.Started, res.Ended} {
			if ev == nil || events == nil {
				continue
			}
			select {
			case events <- ev.Clone():
			case <-ctx.Done():
			}
		}
	}
}
