package recorder

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/jpegframe"
)

// Event is a motion event as the recorder needs it. Report it with Notify
// when it starts (End zero) and again when it ends.
type Event struct {
	ID    uint64
	Start time.Time // capture time of its first frame
	End   time.Time // capture time of its last frame; zero while it goes on
}

// maxSpans bounds the events the recorder tracks at once; beyond it the two
// oldest are merged into one (which records at least as much).
const maxSpans = 16

// slot is a raw picture on its way to the encoder.
type slot struct {
	pic jpegframe.Picture
	t   time.Time
	fps float64
}

// sampleBuf holds one encoded frame on its way to the writer.
type sampleBuf struct{ b bytes.Buffer }

// sample is one encoded frame (JPEG picture or H.264 access unit).
type sample struct {
	buf  *sampleBuf
	t    time.Time
	key  bool
	kind kind
	fps  float64
}

// Recorder records clips of motion events. Create it with New, run it with
// Run; Notify, Peak and Status may be called from any goroutine.
type Recorder struct {
	cfg   Config
	log   *slog.Logger
	store *storage.Store

	evMu   sync.Mutex
	spans  [maxSpans]Event
	nspans int

	peak peakState

	freeSlots chan *slot
	freeBufs  chan *sampleBuf

	// intake state (Run's goroutine)
	nextDue time.Time
	needKey bool
	rate    float64 // the clip rate noteRate saw last
	// warm is set once the writer handled its first sample of a Run: its
	// start-up work (card check, recovery) is done and the encoder has
	// made a picture. Until then the intake waits for a free picture or
	// buffer instead of dropping the frame as "behind" (see take).
	warm atomic.Bool

	w writer // the writer goroutine's state

	// encodeHook, when set (by tests), runs before each picture is
	// encoded: a stand-in for an encoder made slow by a busy CPU.
	encodeHook func()

	stMu      sync.Mutex
	clipName  string
	clipStart time.Time
	cardState string
	cardErr   string
	lastErr   string

	// Per-frame facts for Status, written by the intake without a lock.
	source  atomic.Uint32 // capture.PixelFormat of the first frame (0: none yet)
	clipFPS atomic.Uint64 // math.Float64bits of the clip rate

	frames, skippedRate, droppedBehind, badFrames atomic.Uint64
	encoded, recorded, recordedBytes, unrecorded  atomic.Uint64
	clips, events                                 atomic.Uint64
	ringFrames, ringBytes                         atomic.Int64
}

// New returns a recorder; it writes nothing before Run.
func New(cfg Config) (*Recorder, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	r := &Recorder{cfg: cfg, log: cfg.Logger, store: cfg.Store,
		freeSlots: make(chan *slot, cfg.EncodeQueue+1),
		freeBufs:  make(chan *sampleBuf, cfg.WriteQueue+2)}
	for range cfg.EncodeQueue + 1 {
		r.freeSlots <- new(slot)
	}
	for range cfg.WriteQueue + 2 {
		r.freeBufs <- new(sampleBuf)
	}
	r.w.init(r)
	return r, nil
}

// Notify reports a motion event: when it starts, and again (same ID) when
// it ends. Reporting the end of an event whose start was never seen records
// it as well. Notify never blocks for long.
func (r *Recorder) Notify(ev Event) {
	if ev.Start.IsZero() {
		ev.Start = ev.End
	}
	if ev.Start.IsZero() {
		return
	}
	r.evMu.Lock()
	defer r.evMu.Unlock()
	for i := range r.nspans {
		if r.spans[i].ID == ev.ID {
			if ev.Start.Before(r.spans[i].Start) {
				r.spans[i].Start = ev.Start
			}
			r.spans[i].End = ev.End
			return
		}
	}
	r.events.Add(1)
	if r.nspans == maxSpans {
		a, b := r.spans[0], r.spans[1]
		if b.Start.Before(a.Start) {
			a.Start = b.Start
		}
		if a.End.IsZero() || b.End.IsZero() {
			a.End = time.Time{}
		} else if b.End.After(a.End) {
			a.End = b.End
		}
		r.spans[0] = a
		copy(r.spans[1:], r.spans[2:r.nspans])
		r.nspans--
	}
	r.spans[r.nspans] = ev
	r.nspans++
}

// need reports whether a sample at t belongs in a clip: some event started
// at or before t and is going on or ended less than PostRoll before t. Events
// over before t are forgotten. The IDs of the events that want t are added
// to the open clip's list, and first is the earliest start among them.
func (r *Recorder) need(t time.Time, ids *[]uint64) (need bool, first time.Time) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	j := 0
	for i := range r.nspans {
		sp := r.spans[i]
		if !sp.End.IsZero() && t.Sub(sp.End) > r.cfg.PostRoll {
			continue
		}
		r.spans[j] = sp
		j++
		if sp.Start.After(t) {
			continue
		}
		need = true
		if first.IsZero() || sp.Start.Before(first) {
			first = sp.Start
		}
		if ids != nil && len(*ids) < storage.MaxClipEvents && !containsID(*ids, sp.ID) {
			*ids = append(*ids, sp.ID)
		}
	}
	r.nspans = j
	return need, first
}

func containsID(ids []uint64, id uint64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Run records until ctx ends (or the frames end), then seals the open clip
// and returns the error that stopped it once its goroutines are done. Run
// may be called again after it returned.
func (r *Recorder) Run(ctx context.Context) error {
	r.warm.Store(false)
	encCh := make(chan *slot, r.cfg.EncodeQueue+1)
	writeCh := make(chan sample, r.cfg.WriteQueue+2)
	var wg sync.WaitGroup
	wg.Go(func() {
		r.encode(encCh, writeCh)
		close(writeCh)
	})
	wg.Go(func() { r.w.run(writeCh) })
	err := r.intake(ctx, encCh, writeCh)
	close(encCh)
	wg.Wait()
	return err
}

// intake takes frames from the queue until ctx ends.
func (r *Recorder) intake(ctx context.Context, encCh chan<- *slot, writeCh chan<- sample) error {
	for {
		f, err := r.cfg.Queue.Next(ctx)
		if err != nil {
			return err
		}
		r.take(ctx, f, encCh, writeCh)
		f.Release()
	}
}

// take handles one frame; the caller releases it.
func (r *Recorder) take(ctx context.Context, f *capture.Frame, encCh chan<- *slot, writeCh chan<- sample) {
	r.frames.Add(1)
	r.noteSource(f.Pixel)
	switch f.Pixel {
	case capture.FormatH264:
		key := fmp4.IsKeyframe(f.Data)
		if r.needKey && !key {
			r.droppedBehind.Add(1)
			return
		}
		b := r.getBuf(ctx, frameInterval(f.FPS))
		if b == nil {
			r.droppedBehind.Add(1)
			r.needKey = true
			return
		}
		r.needKey = false
		b.b.Reset()
		b.b.Write(f.Data)
		writeCh <- sample{buf: b, t: f.Time, key: key, kind: kind{codec: fmp4.H264}, fps: f.FPS}
	case capture.FormatMJPEG:
		r.noteRate(f.FPS)
		data, ok := jpegPicture(f.Data)
		if !ok {
			r.badFrames.Add(1)
			return
		}
		if !r.due(f.Time, f.FPS) {
			return
		}
		b := r.getBuf(ctx, r.clipInterval())
		if b == nil {
			r.droppedBehind.Add(1)
			return
		}
		b.b.Reset()
		b.b.Write(data)
		writeCh <- sample{buf: b, t: f.Time, key: true, kind: kind{codec: fmp4.MJPEG, width: f.Width, height: f.Height}, fps: r.cfg.FPS}
	default:
		r.noteRate(f.FPS)
		if !r.due(f.Time, f.FPS) {
			return
		}
		s := waitFree(ctx, r.freeSlots, r.cfg.Lossless || !r.warm.Load(), r.clipInterval())
		if s == nil {
			r.droppedBehind.Add(1)
			return
		}
		if err := s.pic.Load(f.Format, f.Data); err != nil {
			r.freeSlots <- s
			r.badFrames.Add(1)
			r.noteError("frame", err)
			return
		}
		s.t, s.fps = f.Time, r.cfg.FPS
		encCh <- s
	}
}

// due reports whether a frame at t is wanted at the clip frame rate. Due
// times lie on an even grid at the clip rate, and each one takes the source
// frame nearest to it (within half a source frame interval, srcFPS being the
// source's rate, 0 if unknown), so that 25 fps becomes 4 fps by taking
// frames 6 or 7 apart (4.00 fps on average, never 5), and 30 fps becomes
// 10 fps by taking every third frame. A source slower than the clip rate
// gives every frame (the nearest the source allows; see Status.ClipFPS).
func (r *Recorder) due(t time.Time, srcFPS float64) bool {
	interval := time.Duration(float64(time.Second) / r.cfg.FPS)
	slack := interval / 4
	if srcFPS > 0 {
		slack = min(slack, time.Duration(float64(time.Second)/srcFPS/2))
	}
	switch {
	case r.nextDue.IsZero(), t.Sub(r.nextDue) >= interval, r.nextDue.Sub(t) > interval+slack:
		// The first frame, a gap in the frames, or the clock went back:
		// start the grid over from this frame.
		r.nextDue = t.Add(interval)
		return true
	case t.Before(r.nextDue.Add(-slack)):
		r.skippedRate.Add(1)
		return false
	}
	r.nextDue = r.nextDue.Add(interval)
	return true
}

// noteRate records the clip rate the source allows: the configured one, or
// the source's own when that is slower. A change is logged once. It runs
// for every frame on the intake goroutine, which owns r.rate: no lock.
func (r *Recorder) noteRate(srcFPS float64) {
	eff := r.cfg.FPS
	if srcFPS > 0 && srcFPS < eff {
		eff = srcFPS
	}
	if eff == r.rate {
		return
	}
	r.rate = eff
	r.clipFPS.Store(math.Float64bits(eff))
	if eff != r.cfg.FPS {
		r.log.Warn("recorder: clip frame rate limited by the source", "clip_fps", r.cfg.FPS, "source_fps", srcFPS, "recording_fps", eff)
	}
}

// getBuf returns a free sample buffer, or nil when none is free within
// limit (the writer is behind). Lossless, or before the pipeline is warm, it
// waits for one.
func (r *Recorder) getBuf(ctx context.Context, limit time.Duration) *sampleBuf {
	return waitFree(ctx, r.freeBufs, r.cfg.Lossless || !r.warm.Load(), limit)
}

// waitFree takes a free picture or buffer from free. It waits without a
// limit when always is set (lossless, or before the pipeline is warm), and
// otherwise up to limit: the time until the next frame of the clip rate is
// due. A frame that waits no longer than that costs nothing (the capture
// queue holds the frames meanwhile), so the encoder or the writer is behind,
// and the frame dropped, only when a newer frame would be due before
// anything is free: a stall of the encoder longer than the pipeline's
// pictures cover (start-up's busy CPU on a slow camera) is not counted as a
// drop. It returns nil when nothing came (or ctx ended). The timer is made
// only when nothing is free at once.
func waitFree[T any](ctx context.Context, free chan *T, always bool, limit time.Duration) *T {
	select {
	case x := <-free:
		return x
	default:
	}
	if always {
		select {
		case x := <-free:
			return x
		case <-ctx.Done():
			return nil
		}
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case x := <-free:
		return x
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

// clipInterval is the time between two frames at the clip rate.
func (r *Recorder) clipInterval() time.Duration {
	return time.Duration(float64(time.Second) / r.cfg.FPS)
}

// frameInterval is the time between two frames at a source's rate (25 fps
// when unknown).
func frameInterval(fps float64) time.Duration {
	if !(fps > 0) {
		fps = 25
	}
	return time.Duration(float64(time.Second) / fps)
}

// jpegPicture checks that data is one JPEG picture (SOI at the start, EOI
// at the end, allowing the zero padding some cameras add) and returns it
// without the padding.
func jpegPicture(data []byte) ([]byte, bool) {
	if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
		return nil, false
	}
	end := len(data)
	for lim := max(2, end-4096); end > lim && data[end-1] == 0; end-- {
	}
	if end < 4 || data[end-2] != 0xff || data[end-1] != 0xd9 {
		return nil, false
	}
	return data[:end], true
}

// encode JPEG-encodes raw pictures until encCh is closed.
func (r *Recorder) encode(encCh <-chan *slot, writeCh chan<- sample) {
	for s := range encCh {
		if r.encodeHook != nil {
			r.encodeHook()
		}
		b := <-r.freeBufs // the writer always gives buffers back
		b.b.Reset()
		err := s.pic.Encode(&b.b, r.cfg.Quality)
		bounds := s.pic.Bounds()
		t, fps := s.t, s.fps
		r.freeSlots <- s
		if err != nil {
			r.freeBufs <- b
			r.badFrames.Add(1)
			r.noteError("encode", err)
			continue
		}
		r.encoded.Add(1)
		writeCh <- sample{buf: b, t: t, key: true, kind: kind{codec: fmp4.MJPEG, width: bounds.Dx(), height: bounds.Dy()}, fps: fps}
	}
}

// noteSource records the pixel format of the first frame (for every frame,
// without a lock).
func (r *Recorder) noteSource(p capture.PixelFormat) {
	if r.source.Load() == 0 {
		r.source.CompareAndSwap(0, uint32(p))
	}
}

// noteError keeps the last error for Status and logs it.
func (r *Recorder) noteError(op string, err error) {
	r.stMu.Lock()
	changed := r.lastErr != err.Error()
	r.lastErr = err.Error()
	r.stMu.Unlock()
	if changed {
		r.log.Warn("recorder", "op", op, "err", err)
	}
}

// Status is the recorder's part of `camagent ctl status`.
type Status struct {
	// State is "recording", "idle" (waiting for an event) or "no-card"
	// (an event would not be recorded: see Card).
	State     string    `json:"state"`
	Card      string    `json:"card"` // the card's state as last seen
	CardError string    `json:"card_error,omitempty"`
	Clip      string    `json:"clip,omitempty"` // the clip being written
	ClipStart time.Time `json:"clip_start,omitzero"`
	Source    string    `json:"source,omitempty"` // pixel format of the frames
	// ClipFPS is the rate raw and MJPEG frames are recorded at: the
	// configured clip rate, or the source's when it is slower (0 before
	// the first frame, and for H.264, which keeps every frame).
	ClipFPS float64 `json:"clip_fps,omitempty"`
	// Frame counters since the recorder was made: taken from the queue;
	// skipped for the clip frame rate; dropped because the encoder or the
	// writer was behind; malformed; JPEG-encoded; written into clips;
	// wanted by an event while the card could not take them.
	Frames        uint64 `json:"frames"`
	SkippedRate   uint64 `json:"skipped_rate"`
	DroppedBehind uint64 `json:"dropped_behind"`
	BadFrames     uint64 `json:"bad_frames"`
	Encoded       uint64 `json:"encoded"`
	Recorded      uint64 `json:"recorded"`
	RecordedBytes uint64 `json:"recorded_bytes"` // of the frames written into clips
	Unrecorded    uint64 `json:"unrecorded"`
	PreRollFrames int64  `json:"preroll_frames"`
	PreRollBytes  int64  `json:"preroll_bytes"`
	Events        uint64 `json:"events"`
	Clips         uint64 `json:"clips"` // sealed by this recorder
	LastError     string `json:"last_error,omitempty"`
}

// Status returns the recorder's counters and state.
func (r *Recorder) Status() Status {
	r.stMu.Lock()
	st := Status{Clip: r.clipName, ClipStart: r.clipStart, Card: r.cardState, CardError: r.cardErr,
		LastError: r.lastErr, ClipFPS: math.Float64frombits(r.clipFPS.Load())}
	r.stMu.Unlock()
	if p := capture.PixelFormat(r.source.Load()); p != 0 {
		st.Source = p.String()
	}
	st.Frames, st.SkippedRate, st.DroppedBehind = r.frames.Load(), r.skippedRate.Load(), r.droppedBehind.Load()
	st.BadFrames, st.Encoded, st.Recorded = r.badFrames.Load(), r.encoded.Load(), r.recorded.Load()
	st.RecordedBytes = r.recordedBytes.Load()
	st.Unrecorded, st.Events, st.Clips = r.unrecorded.Load(), r.events.Load(), r.clips.Load()
	st.PreRollFrames, st.PreRollBytes = r.ringFrames.Load(), r.ringBytes.Load()
	switch {
	case st.Clip != "":
		st.State = "recording"
	case st.Card != storage.StateWritable:
		st.State = "no-card"
	default:
		st.State = "idle"
	}
	if st.Card == "" {
		st.Card = "unknown"
	}
	return st
}

var errNoParams = errors.New("recorder: no H.264 parameter sets seen yet")
