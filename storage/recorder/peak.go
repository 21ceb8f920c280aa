package recorder

import (
	"bytes"
	"sync"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage/jpegframe"
)

// peakState is the copy of the best frame offered through Peak.
type peakState struct {
	mu     sync.Mutex
	valid  bool
	score  float64
	boxes  int // motion boxes in the frame
	t      time.Time
	format capture.Format
	buf    []byte
	// floor: offers before it belong to clips already sealed, or to no clip.
	floor time.Time
}

// Peak offers a frame with its motion score and the number of motion boxes
// found in it as the thumbnail of the event in progress: the recorder copies
// its pixels (into a buffer it reuses) when the score beats the best offer
// since the clip started, and makes the clip's thumbnail from the best one
// when it seals the clip (its score and box count go into the clip's
// metadata, and from there into the manifest). The caller keeps its
// hold on f. Offer every frame with motion; a lower score costs only a
// comparison. H.264 frames cannot be made into thumbnails and are ignored.
func (r *Recorder) Peak(f *capture.Frame, score float64, boxes int) {
	if f.Pixel == capture.FormatH264 {
		return
	}
	p := &r.peak
	p.mu.Lock()
	defer p.mu.Unlock()
	if f.Time.Before(p.floor) {
		return
	}
	if p.valid && p.t.Before(p.floor) {
		p.valid = false
	}
	if p.valid && score <= p.score {
		return
	}
	if cap(p.buf) < len(f.Data) {
		p.buf = make([]byte, len(f.Data), max(len(f.Data), f.FrameSize()))
	}
	p.buf = p.buf[:len(f.Data)]
	copy(p.buf, f.Data)
	p.valid, p.score, p.boxes, p.t, p.format = true, score, boxes, f.Time, f.Format
}

// setFloor forgets offers made before t (a clip starts at t).
func (p *peakState) setFloor(t time.Time) {
	p.mu.Lock()
	if t.After(p.floor) {
		p.floor = t
	}
	p.mu.Unlock()
}

// thumbnail appends to dst the thumbnail of the best offer made for a clip
// spanning [from, to], forgets it, and makes later offers count only after
// to. ok is false when there was no such offer.
func (p *peakState) thumbnail(th *jpegframe.Thumbnailer, dst *bytes.Buffer, from, to time.Time) (ok bool, score float64, boxes int, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.valid && !p.t.Before(from) && !p.t.After(to) {
		var err error
		if p.format.Pixel == capture.FormatMJPEG {
			err = th.FromJPEG(dst, p.buf)
		} else {
			err = th.FromFrame(dst, p.format, p.buf)
		}
		ok, score, boxes, at = err == nil, p.score, p.boxes, p.t
		p.valid = false
	}
	if next := to.Add(time.Nanosecond); next.After(p.floor) {
		p.floor = next
	}
	return ok, score, boxes, at
}
