package live

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage/jpegframe"
)

// picQueueDepth is each JPEG session's picture queue depth (drop-oldest).
const picQueueDepth = 2

// picture is one JPEG picture shared by every JPEG session: a pooled buffer
// with a reference count. The last holder to release it returns it to the
// pool; its buffer keeps its capacity, so steady state allocates nothing.
type picture struct {
	buf  bytes.Buffer
	time time.Time
	refs atomic.Int32
	pool chan *picture
}

func (p *picture) retain() { p.refs.Add(1) }

func (p *picture) release() {
	switch n := p.refs.Add(-1); {
	case n == 0:
		select {
		case p.pool <- p:
		default:
			panic("live: picture returned to a full pool")
		}
	case n < 0:
		panic("live: picture released more often than retained")
	}
}

// pictures turns captured frames into JPEG pictures once for all viewers:
// while at least one JPEG session is streaming it holds one capture queue
// (depth 1, drop-oldest), encodes a frame at most Config.FPS times a second
// (raw frames with storage/jpegframe; MJPEG frames are copied as they are)
// into a pooled picture and hands that picture to every session's picQueue.
// With no session streaming it holds no capture queue and encodes nothing.
type pictures struct {
	hub     *capture.Hub
	fps     float64
	quality int
	log     logger

	// free holds the pictures not in use. There are enough for every
	// session's queue and the one each is sending, plus the one being
	// encoded, so a picture is never missing in steady state.
	free chan *picture

	mu     sync.Mutex
	subs   []*picQueue
	stop   context.CancelFunc // ends the current intake; set while it runs
	demand chan struct{}      // capacity 1: the first subscriber arrived

	encoded, skipped atomic.Uint64
}

// logger is the part of *slog.Logger pictures uses.
type logger interface {
	Warn(msg string, args ...any)
}

func newPictures(hub *capture.Hub, maxViewers int, fps float64, quality int, log logger) *pictures {
	n := maxViewers*(picQueueDepth+1) + 1
	e := &pictures{hub: hub, fps: fps, quality: quality, log: log,
		free: make(chan *picture, n), demand: make(chan struct{}, 1)}
	for range n {
		e.free <- &picture{pool: e.free}
	}
	return e
}

// run encodes while sessions are subscribed, until ctx ends. When the last
// session leaves it lets go of its encoding buffers (release): a camera
// without viewers keeps none of live view's memory.
func (e *pictures) run(ctx context.Context) {
	var pic jpegframe.Picture // raw-to-planes buffers, kept while sessions stream
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.demand:
		}
		e.mu.Lock()
		if len(e.subs) == 0 {
			e.mu.Unlock()
			continue
		}
		ictx, cancel := context.WithCancel(ctx)
		e.stop = cancel
		e.mu.Unlock()
		q := e.hub.Subscribe("live-jpeg", 1)
		e.intake(ictx, q, &pic)
		cancel()
		pic = jpegframe.Picture{}
		e.release()
		e.hub.Unsubscribe(q)
	}
}

// release drops the buffers of the free pictures: all of them once the
// last session has left (unsubscribe drains a session's queue before it
// ends the intake). The next intake grows them again: a few allocations
// per first viewer, none per frame.
func (e *pictures) release() {
	for range cap(e.free) {
		select {
		case p := <-e.free:
			p.buf = bytes.Buffer{}
			e.free <- p
		default:
			return
		}
	}
}

func (e *pictures) intake(ctx context.Context, q *capture.Queue, pic *jpegframe.Picture) {
	interval := time.Duration(float64(time.Second) / e.fps)
	var last time.Time
	for {
		f, err := q.Next(ctx)
		if err != nil {
			return
		}
		if !last.IsZero() && f.Time.Sub(last) < interval*9/10 && f.Time.After(last) {
			f.Release() // above the configured rate: not encoded, not counted
			continue
		}
		var p *picture
		select {
		case p = <-e.free:
		default:
		}
		if p == nil {
			f.Release()
			e.skipped.Add(1)
			continue
		}
		p.refs.Store(1)
		p.buf.Reset()
		p.time = f.Time
		err = e.encode(&p.buf, pic, f)
		f.Release()
		if err != nil {
			p.release()
			e.skipped.Add(1)
			e.log.Warn("live: encode picture", "err", err)
			continue
		}
		last = p.time
		e.encoded.Add(1)
		e.mu.Lock()
		for _, s := range e.subs {
			s.push(p)
		}
		e.mu.Unlock()
		p.release()
	}
}

func (e *pictures) encode(dst *bytes.Buffer, pic *jpegframe.Picture, f *capture.Frame) error {
	if f.Pixel == capture.FormatMJPEG {
		dst.Write(f.Data)
		return nil
	}
	if err := pic.Load(f.Format, f.Data); err != nil {
		return err
	}
	return pic.Encode(dst, e.quality)
}

// subscribe adds a session's picture queue; the first one starts the intake.
func (e *pictures) subscribe() *picQueue {
	q := &picQueue{ready: make(chan struct{}, 1)}
	e.mu.Lock()
	e.subs = append(e.subs, q)
	first := len(e.subs) == 1
	e.mu.Unlock()
	if first {
		select {
		case e.demand <- struct{}{}:
		default:
		}
	}
	return q
}

// unsubscribe removes q and releases what it holds; the last one then ends
// the intake (the capture queue is given back, and with every picture back
// in the pool the intake drops their buffers).
func (e *pictures) unsubscribe(q *picQueue) {
	var stop context.CancelFunc
	e.mu.Lock()
	for i, x := range e.subs {
		if x == q {
			e.subs = append(e.subs[:i], e.subs[i+1:]...)
			break
		}
	}
	if len(e.subs) == 0 {
		stop, e.stop = e.stop, nil
	}
	e.mu.Unlock()
	q.drain()
	if stop != nil {
		stop()
	}
}

// picQueue is one session's bounded picture queue: a ring that drops its
// oldest picture when full, so a slow viewer never holds up the others.
type picQueue struct {
	mu    sync.Mutex
	ring  [picQueueDepth]*picture
	head  int
	n     int
	ready chan struct{}

	dropped atomic.Uint64
}

func (q *picQueue) push(p *picture) {
	p.retain()
	var old *picture
	q.mu.Lock()
	if q.n == len(q.ring) {
		old = q.ring[q.head]
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		q.dropped.Add(1)
	}
	q.ring[(q.head+q.n)%len(q.ring)] = p
	q.n++
	q.mu.Unlock()
	if old != nil {
		old.release()
	}
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *picQueue) tryNext() *picture {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil
	}
	p := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return p
}

// next waits for a picture or for ctx to end; the caller releases it.
func (q *picQueue) next(ctx context.Context) (*picture, error) {
	for {
		if p := q.tryNext(); p != nil {
			return p, nil
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (q *picQueue) drain() {
	for p := q.tryNext(); p != nil; p = q.tryNext() {
		p.release()
	}
}
