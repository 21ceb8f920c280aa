package recorder

import (
	"bytes"
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/jpegframe"
)

// clockStep is how far back a frame's time may go before it is taken as a
// step of the capture clock rather than a frame out of order.
const clockStep = 2 * time.Second

// writer is the state of the writer goroutine: the pre-roll ring, the open
// clip and the card as last seen. Only that goroutine touches it.
type writer struct {
	r    *Recorder
	ring ring

	clip       *storage.ClipWriter
	clipStart  time.Time
	clipLast   time.Time
	clipKind   kind
	clipEvents []uint64  // events of the open (or opening) clip
	eventTime  time.Time // earliest start among them
	part       int
	cont       bool     // the next clip goes on with the last one's event
	ids        []uint64 // events that want the current sample

	lastT         time.Time
	usable        bool // the card took the last write or check
	needRecover   bool
	retryAt       time.Time
	nextCheck     time.Time
	nextRetention time.Time
	cardState     string

	// H.264 parameter sets of the stream, and their generation.
	sps, pps [][]byte
	gen      uint64

	fallback     []byte // a JPEG frame of the event, for the thumbnail
	haveFallback bool
	thumb        jpegframe.Thumbnailer
	thumbBuf     bytes.Buffer
}

func (w *writer) init(r *Recorder) {
	w.r = r
	slots := min(maxSlots, max(64, int((r.cfg.PreRoll+r.cfg.EventLag).Seconds()*MaxFPS)+8))
	w.ring = newRing(r.cfg.PreRollBytes, slots, r.cfg.PreRoll+r.cfg.EventLag)
	w.clipEvents = make([]uint64, 0, 16)
	w.ids = make([]uint64, 0, maxSpans)
	w.thumb = jpegframe.Thumbnailer{Width: r.cfg.ThumbnailWidth, Quality: 80}
	w.needRecover = true
}

// run handles samples until ch is closed, then seals the open clip.
func (w *writer) run(ch <-chan sample) {
	w.check(time.Time{})
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	defer idle.Stop()
	for {
		select {
		case s, ok := <-ch:
			if !ok {
				w.closeClip("shutdown")
				return
			}
			w.handle(&s)
			w.r.freeBufs <- s.buf
			w.r.warm.Store(true)
			if w.clip != nil {
				idle.Reset(w.r.cfg.IdleSeal)
			} else {
				idle.Stop()
			}
		case <-idle.C:
			w.closeClip("no frames")
		}
	}
}

func (w *writer) handle(s *sample) {
	r := w.r
	if !w.lastT.IsZero() {
		switch d := s.t.Sub(w.lastT); {
		case d < -clockStep:
			// The capture clock went back: what came before does not fit.
			w.closeClip("capture clock went back")
			w.ring.clear()
		case d <= 0:
			r.badFrames.Add(1)
			return
		case d > r.cfg.IdleSeal:
			w.closeClip("gap in the frames")
			w.ring.clear()
		}
	}
	w.lastT = s.t
	data := s.buf.b.Bytes()
	if s.kind.codec == fmp4.H264 {
		w.noteParams(data, s.key)
		s.kind.params = w.gen
	}
	w.housekeeping(s.t)
	w.ids = w.ids[:0]
	need, first := r.need(s.t, &w.ids)
	if w.clip != nil {
		switch {
		case !need:
			w.closeClip("post-roll over")
		case s.kind != w.clipKind:
			w.closeClip("format changed")
			w.cont = true
		case s.t.Sub(w.clipStart) >= r.cfg.MaxClip && s.key:
			w.closeClip("max length")
			w.cont = true
		default:
			w.addEvents(first)
			w.add(data, s.t, s.key)
			return
		}
	}
	w.ring.push(data, item{t: s.t, key: s.key, kind: s.kind})
	if need {
		w.addEvents(first)
		if w.cardOK(s.t) {
			w.open(s.t)
		}
		if w.clip == nil {
			r.unrecorded.Add(1)
		}
	} else {
		w.clipEvents, w.eventTime, w.cont = w.clipEvents[:0], time.Time{}, false
	}
	r.ringFrames.Store(int64(w.ring.n))
	r.ringBytes.Store(int64(w.ring.bytes))
}

// addEvents adds the events that want the current sample to the clip's.
func (w *writer) addEvents(first time.Time) {
	for _, id := range w.ids {
		if len(w.clipEvents) < storage.MaxClipEvents && !containsID(w.clipEvents, id) {
			w.clipEvents = append(w.clipEvents, id)
		}
	}
	if !first.IsZero() && (w.eventTime.IsZero() || first.Before(w.eventTime)) {
		w.eventTime = first
	}
}

// noteParams keeps the parameter sets of an H.264 keyframe that carries
// them, starting a new generation when they change.
func (w *writer) noteParams(au []byte, key bool) {
	if !key {
		return
	}
	sps, pps := fmp4.ParameterSets(au)
	if len(sps) == 0 || len(pps) == 0 {
		return
	}
	if w.gen > 0 && equalSets(sps, w.sps) && equalSets(pps, w.pps) {
		return
	}
	w.sps, w.pps = cloneSets(sps), cloneSets(pps)
	w.gen++
}

func equalSets(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

func cloneSets(in [][]byte) [][]byte {
	out := make([][]byte, len(in))
	for i, p := range in {
		out[i] = bytes.Clone(p)
	}
	return out
}

// open starts a clip with the pre-roll in the ring (which holds the current
// sample last).
func (w *writer) open(t time.Time) {
	r := w.r
	if w.ring.n == 0 {
		return
	}
	i := w.ring.from(w.eventTime.Add(-r.cfg.PreRoll))
	head := *w.ring.at(i)
	track, err := w.track(head)
	if err != nil {
		r.noteError("open clip", err)
		return
	}
	if _, err := r.store.Enforce(); err != nil {
		r.noteError("retention", err)
	}
	w.nextRetention = t.Add(r.cfg.RetentionEvery)
	event := uint64(0)
	if len(w.clipEvents) > 0 {
		event = w.clipEvents[0]
	}
	cw, err := r.store.Create(storage.ClipSpec{Start: head.t, Event: event, Track: track, FragmentDuration: r.cfg.FragmentDuration,
		MaxFragments: clipFragments(r.cfg)})
	if errors.Is(err, fmp4.ErrConfig) {
		r.noteError("open clip", err) // the frames, not the card
		return
	}
	if err != nil {
		w.cardFailed(t, err)
		return
	}
	if w.cont {
		w.part++
	} else {
		w.part = 1
	}
	w.cont = false
	w.clip, w.clipStart, w.clipLast, w.clipKind = cw, head.t, head.t, head.kind
	r.peak.setFloor(head.t)
	r.stMu.Lock()
	r.clipName, r.clipStart = cw.Name(), head.t
	r.stMu.Unlock()
	r.log.Info("clip started", "clip", cw.Name(), "events", w.clipEvents, "part", w.part,
		"preroll", w.eventTime.Sub(head.t).Round(time.Millisecond))
	for k := i; k < w.ring.n && w.clip != nil; k++ {
		it := w.ring.at(k)
		w.add(w.ring.data(it), it.t, it.key)
	}
	w.ring.clear()
}

// track describes the clip that would start with sample it.
func (w *writer) track(it item) (fmp4.Track, error) {
	fd := time.Duration(float64(time.Second) / w.r.cfg.FPS)
	if it.kind.codec == fmp4.H264 {
		if w.gen == 0 {
			return fmp4.Track{}, errNoParams
		}
		return fmp4.Track{Codec: fmp4.H264, SPS: w.sps, PPS: w.pps, FrameDuration: time.Second / 30}, nil
	}
	return fmp4.Track{Codec: fmp4.MJPEG, Width: it.kind.width, Height: it.kind.height, FrameDuration: fd}, nil
}

// add writes one sample into the open clip.
func (w *writer) add(data []byte, t time.Time, key bool) {
	r := w.r
	if err := w.clip.AddSample(data, t, key); err != nil {
		if w.clip.Err() != nil {
			w.abort(t, err)
			return
		}
		r.badFrames.Add(1)
		r.noteError("add frame", err)
		return
	}
	r.recorded.Add(1)
	r.recordedBytes.Add(uint64(len(data)))
	w.clipLast = t
	if !w.haveFallback && w.clipKind.codec == fmp4.MJPEG && !t.Before(w.eventTime) {
		w.fallback = append(w.fallback[:0], data...)
		w.haveFallback = true
	}
}

// closeClip seals the open clip with its thumbnail.
func (w *writer) closeClip(why string) {
	if w.clip == nil {
		return
	}
	r := w.r
	fin := storage.ClipFinish{Events: slices.Clone(w.clipEvents), EventTime: w.eventTime, Part: w.part}
	w.thumbBuf.Reset()
	ok, score, boxes, at := r.peak.thumbnail(&w.thumb, &w.thumbBuf, w.clipStart, w.clipLast)
	if !ok && w.haveFallback {
		w.thumbBuf.Reset()
		ok = w.thumb.FromJPEG(&w.thumbBuf, w.fallback) == nil
	}
	if ok {
		fin.Thumbnail, fin.PeakScore, fin.PeakBoxes, fin.PeakTime = w.thumbBuf.Bytes(), score, boxes, at
		if c := r.cfg.Credentials; c != nil { // Content Credentials (package c2pa); once per clip
			if signed, err := c.SignJPEG(fin.Thumbnail, cmp.Or(at, w.clipStart)); err == nil {
				fin.Thumbnail = signed
			} else {
				r.noteError("c2pa", err)
			}
		}
	}
	info, err := w.clip.Seal(fin)
	w.clip = nil
	w.haveFallback = false
	w.clipEvents, w.eventTime = w.clipEvents[:0], time.Time{}
	r.stMu.Lock()
	r.clipName, r.clipStart = "", time.Time{}
	r.stMu.Unlock()
	switch {
	case err == nil || errors.Is(err, storage.ErrIncomplete):
		r.clips.Add(1)
		r.log.Info("clip closed", "clip", info.Name, "why", why, "frames", info.Frames,
			"duration", info.Duration.Round(time.Millisecond), "bytes", info.Size, "thumbnail", info.Thumbnail != "")
		if err != nil {
			r.noteError("seal", err)
		}
	case errors.Is(err, storage.ErrEmptyClip):
	default:
		w.cardFailed(w.lastT, err)
	}
}

// abort gives up the open clip after a write error; Recover seals what it
// holds once the card works again.
func (w *writer) abort(t time.Time, err error) {
	w.clip.Abort()
	w.clip = nil
	w.haveFallback = false
	w.cont = true
	w.r.stMu.Lock()
	w.r.clipName, w.r.clipStart = "", time.Time{}
	w.r.stMu.Unlock()
	w.cardFailed(t, err)
}

// cardFailed stops recording until the card checks writable again.
func (w *writer) cardFailed(t time.Time, err error) {
	w.usable, w.needRecover = false, true
	w.retryAt = t.Add(w.r.cfg.CheckEvery)
	state := storage.StateOf(err)
	if errors.Is(err, storage.ErrNotWritable) {
		state = w.r.store.Status().State
	}
	w.setCard(state, err)
}

// housekeeping checks the card and runs retention when they are due.
func (w *writer) housekeeping(t time.Time) {
	r := w.r
	if w.usable && !t.Before(w.nextCheck) {
		w.nextCheck = t.Add(r.cfg.CheckEvery)
		h := r.store.Check()
		if h.State == storage.StateFull {
			if _, err := r.store.Enforce(); err != nil {
				r.noteError("retention", err)
			}
			h = r.store.Check()
		}
		if h.State != storage.StateWritable {
			if w.clip != nil {
				if h.State == storage.StateFull {
					w.closeClip("card full")
					w.cont = true
				} else {
					w.abort(t, h.Err)
				}
			}
			w.usable, w.needRecover = false, true
			w.retryAt = t.Add(r.cfg.CheckEvery)
			w.setCard(h.State, h.Err)
			return
		}
	}
	if w.usable && !t.Before(w.nextRetention) {
		w.nextRetention = t.Add(r.cfg.RetentionEvery)
		if _, err := r.store.Enforce(); err != nil {
			r.noteError("retention", err)
		}
	}
}

// cardOK reports whether a clip may be opened at t, checking the card again
// if it was not writable and CheckEvery has passed since the last try.
func (w *writer) cardOK(t time.Time) bool {
	if w.usable {
		return true
	}
	if t.Before(w.retryAt) {
		return false
	}
	w.retryAt = t.Add(w.r.cfg.CheckEvery)
	return w.check(t)
}

// check checks the card, runs retention when it is full, and recovers what
// an earlier failure or crash left before recording resumes.
func (w *writer) check(t time.Time) bool {
	st := w.r.store
	h := st.Check()
	if h.State == storage.StateFull {
		if _, err := st.Enforce(); err != nil {
			w.r.noteError("retention", err)
		}
		h = st.Check()
	}
	if h.State != storage.StateWritable {
		w.usable = false
		w.setCard(h.State, h.Err)
		return false
	}
	if w.needRecover {
		if _, err := st.Recover(); err != nil {
			w.r.noteError("recover", err)
			if errors.Is(err, storage.ErrNotWritable) {
				w.setCard(st.Status().State, err)
				return false
			}
		}
		w.needRecover = false
	}
	w.usable = true
	w.nextCheck = t.Add(w.r.cfg.CheckEvery)
	w.setCard(storage.StateWritable, nil)
	return true
}

// setCard records the card's state, logging each change.
func (w *writer) setCard(state string, err error) {
	r := w.r
	r.stMu.Lock()
	r.cardState, r.cardErr = state, ""
	if err != nil {
		r.cardErr = err.Error()
	}
	r.stMu.Unlock()
	if state == w.cardState {
		return
	}
	prev := w.cardState
	w.cardState = state
	switch {
	case state == storage.StateWritable && prev != "":
		r.log.Info("sd card writable again; recording resumes", "was", prev)
	case state != storage.StateWritable:
		r.log.Warn("sd card not writable; events are not recorded until it is", "state", state, "err", err)
	}
}

// clipFragments is the most fragments a clip of cfg.MaxClip is expected to
// hold, which its Content Credentials are reserved for: a fragment per
// FragmentDuration, a quarter more for fragments cut short by their size
// bound, and a few for the keyframe wait past MaxClip. A clip with more is
// still signed, by a copy at the seal.
func clipFragments(cfg Config) int {
	n := int((cfg.MaxClip + cfg.FragmentDuration - 1) / cfg.FragmentDuration)
	return n + n/4 + 4
}
