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
	format, n := f.Format, len(f.Data)
	half := halvable(f.Format, len(f.Data), r.cfg.ThumbnailWidth)
	if half {
		format = capture.Format{Pixel: capture.FormatYUYV, Width: f.Width / 2, Height: f.Height / 2, FPS: f.FPS}
		n = format.FrameSize()
	}
	if cap(p.buf) < n {
		size := n
		if !half {
			size = max(n, f.FrameSize())
		}
		p.buf = make([]byte, n, size)
	}
	p.buf = p.buf[:n]
	if half {
		halveYUYV(p.buf, f.Data, f.Format)
	} else {
		copy(p.buf, f.Data)
	}
	p.valid, p.score, p.boxes, p.t, p.format = true, score, boxes, f.Time, format
}

// halvable says a YUYV frame may be kept at half its width and height for
// the thumbnail: the half picture is still at least the thumbnail's width
// (so the thumbnail loses nothing a box filter would have kept), its width
// is even, and the data holds the whole frame. The copy is a quarter of the
// frame (150 KiB instead of 600 at 640x480).
func halvable(f capture.Format, n, thumbWidth int) bool {
	return f.Pixel == capture.FormatYUYV && f.Width/2 >= thumbWidth && f.Width%4 == 0 && f.Height >= 2 &&
		n >= f.FrameSize()
}

// halveYUYV writes into dst (len (w/2)*2*(h/2)) the YUYV frame src of format
// f at half its width and height: every other line, and of each two
// macropixels (Y0 U Y1 V, four pixels) one macropixel made of the first
// luma of each and the chroma of the first. It is a nearest-neighbour
// decimation; the thumbnail's box filter smooths the rest.
func halveYUYV(dst, src []byte, f capture.Format) {
	stride := f.Stride
	if stride == 0 {
		stride = f.Width * 2
	}
	out := f.Width // bytes per half line: (w/2) pixels * 2
	for y := 0; y < f.Height/2; y++ {
		s := src[2*y*stride : 2*y*stride+f.Width*2]
		d := dst[y*out : (y+1)*out]
		for x := 0; x+3 < len(d); x += 4 {
			m := s[2*x : 2*x+8]
			d[x], d[x+1], d[x+2], d[x+3] = m[0], m[1], m[4], m[3]
		}
	}
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
