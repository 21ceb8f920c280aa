package fmp4

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"
)

// Codec is the video coding of a track.
type Codec uint8

// The codecs a Writer can store.
const (
	H264  Codec = iota + 1 // stored as avc1 + avcC
	MJPEG                  // stored as mp4v + esds with objectTypeIndication 0x6C
)

func (c Codec) String() string {
	switch c {
	case H264:
		return "H264"
	case MJPEG:
		return "MJPEG"
	}
	return fmt.Sprintf("Codec(%d)", uint8(c))
}

// DefaultTimescale is the track timescale (ticks per second) when Track.Timescale is 0.
const DefaultTimescale = 90000

// MaxTimescale is the largest Track.Timescale: nanoseconds.
const MaxTimescale = 1_000_000_000

// DefaultFrameDuration is the nominal duration given to the last sample of a
// fragment when no earlier sample tells its real one.
const DefaultFrameDuration = time.Second / 30

// Track describes the one video track of a clip.
type Track struct {
	Codec Codec
	// Width and Height are the picture size. For H.264 the SPS is
	// authoritative: they are filled in from it (a different value is
	// replaced). For MJPEG they are required.
	Width, Height int
	// SPS and PPS are the H.264 parameter set NAL units (header byte included,
	// no start code or length prefix), each at most MaxParamSetSize bytes; at
	// least one of each. The first SPS gives size, profile and level.
	SPS, PPS [][]byte
	// Timescale is the number of ticks per second of sample times; 0 means
	// DefaultTimescale.
	Timescale uint32
	// FrameDuration is the nominal frame interval, used as the duration of a
	// fragment's last sample when the clip has only one sample so far; 0
	// means DefaultFrameDuration.
	FrameDuration time.Duration
}

// Limits of a Writer's fragment buffer.
const (
	// DefaultMaxFragmentSize is the default bound on the sample bytes of one
	// fragment (the memory a Writer holds); see WithMaxFragmentSize.
	DefaultMaxFragmentSize = 4 << 20
	// MaxFragmentSizeLimit is the largest bound WithMaxFragmentSize accepts.
	MaxFragmentSizeLimit = 256 << 20
	// DefaultMaxFragmentSamples is the default bound on the samples of one
	// fragment; see WithMaxFragmentSamples.
	DefaultMaxFragmentSamples = 1024
	// MaxFragmentSamplesLimit is the largest bound WithMaxFragmentSamples
	// accepts (so that a moof stays below MaxMoofSize).
	MaxFragmentSamplesLimit = 32768
)

// Errors of the Writer. Test them with errors.Is.
var (
	// ErrConfig: the Track or an Option is invalid.
	ErrConfig = errors.New("fmp4: invalid configuration")
	// ErrState: a call out of order (AddSample or Flush before WriteInit,
	// WriteInit twice).
	ErrState = errors.New("fmp4: call out of order")
	// ErrNeedKeyframe: an H.264 fragment (and so a clip) must start with a
	// keyframe.
	ErrNeedKeyframe = errors.New("fmp4: fragment must start with a keyframe")
	// ErrTimestamp: a sample's time is negative or not after the previous one's.
	ErrTimestamp = errors.New("fmp4: sample time not increasing")
	// ErrFragmentFull: the sample does not fit in the current fragment; Flush
	// and add it again (for H.264 only if it is a keyframe).
	ErrFragmentFull = errors.New("fmp4: fragment full")
	// ErrSampleTooLarge: the sample alone exceeds the fragment size bound.
	ErrSampleTooLarge = errors.New("fmp4: sample larger than a fragment may be")
	// ErrWriteFailed: an earlier write to the underlying writer failed, so the
	// output may end in a torn fragment; the Writer accepts nothing more.
	ErrWriteFailed = errors.New("fmp4: earlier write failed")
)

// Option changes a Writer's limits.
type Option func(*Writer)

// WithMaxFragmentSize bounds the sample bytes of one fragment, which is the
// memory the Writer holds for samples (between 1 KiB and
// MaxFragmentSizeLimit; default DefaultMaxFragmentSize). H.264 samples count
// with their 4-byte length prefixes.
func WithMaxFragmentSize(n int) Option { return func(w *Writer) { w.maxBytes = n } }

// WithMaxFragmentSamples bounds the samples of one fragment (between 1 and
// MaxFragmentSamplesLimit; default DefaultMaxFragmentSamples).
func WithMaxFragmentSamples(n int) Option { return func(w *Writer) { w.maxSamples = n } }

type sample struct {
	pts  int64 // ticks since clip start
	size uint32
	key  bool
}

// Writer muxes one video track into a fragmented MP4. It is not safe for
// concurrent use.
type Writer struct {
	w          io.Writer
	track      Track
	sps        SPS
	maxBytes   int
	maxSamples int
	nominal    int64 // ticks

	// buf holds, from headroom on, the pending samples' bytes; the moof and
	// the mdat header are built just before them so Flush writes once.
	buf      []byte
	headroom int
	n        int // pending sample bytes
	samples  []sample

	initDone bool
	seq      uint32 // last fragment's sequence number
	started  bool   // a sample was added
	lastPTS  int64  // ticks of the last sample added
	lastDur  int64  // ticks between the last two samples added, 0 if unknown
	written  int64
	err      error // sticky write error
}

// NewWriter returns a Writer of track t to w. Nothing is written until
// WriteInit.
func NewWriter(w io.Writer, t Track, opts ...Option) (*Writer, error) {
	mw := &Writer{w: w, maxBytes: DefaultMaxFragmentSize, maxSamples: DefaultMaxFragmentSamples}
	for _, o := range opts {
		o(mw)
	}
	if mw.maxBytes < 1<<10 || mw.maxBytes > MaxFragmentSizeLimit {
		return nil, fmt.Errorf("%w: max fragment size %d not in [1 KiB, %d]", ErrConfig, mw.maxBytes, MaxFragmentSizeLimit)
	}
	if mw.maxSamples < 1 || mw.maxSamples > MaxFragmentSamplesLimit {
		return nil, fmt.Errorf("%w: max fragment samples %d not in [1, %d]", ErrConfig, mw.maxSamples, MaxFragmentSamplesLimit)
	}
	if t.Timescale == 0 {
		t.Timescale = DefaultTimescale
	}
	if t.Timescale > MaxTimescale {
		return nil, fmt.Errorf("%w: timescale %d above %d", ErrConfig, t.Timescale, MaxTimescale)
	}
	if t.FrameDuration <= 0 {
		t.FrameDuration = DefaultFrameDuration
	}
	switch t.Codec {
	case H264:
		if len(t.SPS) == 0 || len(t.SPS) > 31 || len(t.PPS) == 0 || len(t.PPS) > 255 {
			return nil, fmt.Errorf("%w: H.264 needs 1-31 SPS and 1-255 PPS, got %d and %d", ErrConfig, len(t.SPS), len(t.PPS))
		}
		// Copy the parameter sets: the caller's buffers may be pooled.
		t.SPS, t.PPS = cloneAll(t.SPS), cloneAll(t.PPS)
		for _, p := range t.PPS {
			if len(p) < 2 || len(p) > MaxParamSetSize || p[0]&0x9f != nalPPS {
				return nil, fmt.Errorf("%w: PPS of %d bytes is not a PPS NAL unit", ErrConfig, len(p))
			}
		}
		for i, p := range t.SPS {
			s, err := ParseSPS(p)
			if err != nil {
				return nil, fmt.Errorf("%w: SPS %d: %w", ErrConfig, i, err)
			}
			if i == 0 {
				mw.sps = s
			}
		}
		t.Width, t.Height = mw.sps.Width, mw.sps.Height
	case MJPEG:
		t.SPS, t.PPS = nil, nil
		if t.Width <= 0 || t.Width > 0xffff || t.Height <= 0 || t.Height > 0xffff {
			return nil, fmt.Errorf("%w: MJPEG size %dx%d", ErrConfig, t.Width, t.Height)
		}
	default:
		return nil, fmt.Errorf("%w: codec %v", ErrConfig, t.Codec)
	}
	mw.track = t
	mw.nominal = max(1, ticks(t.FrameDuration, t.Timescale))
	mw.headroom = moofSize(mw.maxSamples) + 8
	mw.buf = make([]byte, mw.headroom, mw.headroom+min(mw.maxBytes, 64<<10))
	mw.samples = make([]sample, 0, mw.maxSamples)
	return mw, nil
}

func cloneAll(ps [][]byte) [][]byte {
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = append([]byte(nil), p...)
	}
	return out
}

// ticks converts d (not negative) to units of 1/timescale s, rounding to the
// nearest, without overflowing for any Duration and timescale up to
// MaxTimescale.
func ticks(d time.Duration, timescale uint32) int64 {
	ts, s := int64(timescale), int64(time.Second)
	return int64(d/time.Second)*ts + (int64(d%time.Second)*ts+s/2)/s
}

// moofSize is the size of the moof of a fragment of n samples.
func moofSize(n int) int {
	const (
		mfhd = 8 + 4 + 4
		tfhd = 8 + 4 + 4
		tfdt = 8 + 4 + 8
		trun = 8 + 4 + 4 + 4 // + 12 per sample
	)
	return 8 + mfhd + 8 + tfhd + tfdt + trun + 12*n + checksumBoxSize
}

// Track returns the track as written: defaults filled in and, for H.264, the
// size from the SPS.
func (w *Writer) Track() Track { return w.track }

// Written returns the bytes written to the underlying writer so far.
func (w *Writer) Written() int64 { return w.written }

// WriteInit writes the init segment (ftyp and moov, with mvex so the samples
// come in fragments). It must be called once, before any sample.
func (w *Writer) WriteInit() error {
	if w.err != nil {
		return w.err
	}
	if w.initDone {
		return fmt.Errorf("fmp4: write init: %w", ErrState)
	}
	b := appendInit(nil, &w.track, &w.sps)
	if err := w.write(b); err != nil {
		return fmt.Errorf("fmp4: write init: %w", err)
	}
	w.initDone = true
	return nil
}

func (w *Writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.written += int64(n)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("%w: %w", ErrWriteFailed, err)
		return err
	}
	return nil
}

// AddSample adds one frame to the current fragment: for H.264 one access
// unit in Annex B form (converted to 4-byte length prefixes; access unit
// delimiters dropped) or already length-prefixed; for MJPEG one JPEG picture.
// pts is the frame's capture time since the start of the clip; it must
// increase from sample to sample. key marks an H.264 keyframe (IDR); every
// MJPEG frame is one. data is copied, so the caller may reuse it at once.
// An H.264 access unit must hold a slice: an encoder that hands over its
// parameter sets in a buffer of their own needs them joined to the next frame.
//
// The first sample of each fragment must be a keyframe (ErrNeedKeyframe). A
// sample that does not fit the fragment's bounds is refused with
// ErrFragmentFull, and one that could never fit with ErrSampleTooLarge;
// nothing is added then.
func (w *Writer) AddSample(data []byte, pts time.Duration, key bool) error {
	if w.err != nil {
		return w.err
	}
	if !w.initDone {
		return fmt.Errorf("fmp4: add sample: %w", ErrState)
	}
	if pts < 0 {
		return fmt.Errorf("fmp4: add sample at %v: %w", pts, ErrTimestamp)
	}
	t := ticks(pts, w.track.Timescale)
	if w.started && t <= w.lastPTS {
		return fmt.Errorf("fmp4: add sample at %v (tick %d after %d): %w", pts, t, w.lastPTS, ErrTimestamp)
	}
	var size int
	if w.track.Codec == MJPEG {
		key = true
		if len(data) < 4 || data[0] != 0xff || data[1] != 0xd8 {
			return fmt.Errorf("fmp4: add sample: %w: not a JPEG picture", ErrInvalidSample)
		}
		size = len(data)
	} else {
		if len(w.samples) == 0 && !key {
			return fmt.Errorf("fmp4: add sample at %v: %w", pts, ErrNeedKeyframe)
		}
		n, err := avccSize(data)
		if err != nil {
			return fmt.Errorf("fmp4: add sample: %w", err)
		}
		size = n
	}
	if size > w.maxBytes {
		return fmt.Errorf("fmp4: add sample of %d bytes (max %d): %w", size, w.maxBytes, ErrSampleTooLarge)
	}
	if len(w.samples) == w.maxSamples || w.n+size > w.maxBytes {
		return fmt.Errorf("fmp4: add sample to fragment of %d samples, %d bytes: %w", len(w.samples), w.n, ErrFragmentFull)
	}
	dst := w.grow(size)
	if w.track.Codec == MJPEG {
		copy(dst, data)
	} else {
		putAVCC(dst, data)
	}
	w.n += size
	w.samples = append(w.samples, sample{pts: t, size: uint32(size), key: key})
	if w.started {
		w.lastDur = t - w.lastPTS
	}
	w.started, w.lastPTS = true, t
	return nil
}

// grow extends the pending payload by n bytes (within maxBytes, so the buffer
// stops growing once it has held the largest fragment) and returns them.
func (w *Writer) grow(n int) []byte {
	end := w.headroom + w.n + n
	if end > cap(w.buf) {
		c := min(max(2*cap(w.buf), end), w.headroom+w.maxBytes)
		nb := make([]byte, end, c)
		copy(nb, w.buf[:w.headroom+w.n])
		w.buf = nb
	}
	w.buf = w.buf[:end]
	return w.buf[end-n : end]
}

// PendingSamples returns the number of samples in the current fragment.
func (w *Writer) PendingSamples() int { return len(w.samples) }

// PendingBytes returns the sample bytes in the current fragment.
func (w *Writer) PendingBytes() int { return w.n }

// FragmentDuration returns the duration of the current fragment: from its
// first sample's time to the end of its last, the last lasting as long as the
// interval before it (or Track.FrameDuration if the clip has one sample).
func (w *Writer) FragmentDuration() time.Duration {
	if len(w.samples) == 0 {
		return 0
	}
	d := w.lastPTS - w.samples[0].pts + w.lastDuration()
	ts := int64(w.track.Timescale)
	return time.Duration(d/ts)*time.Second + time.Duration(d%ts)*time.Second/time.Duration(ts)
}

func (w *Writer) lastDuration() int64 {
	if w.lastDur > 0 {
		return w.lastDur
	}
	return w.nominal
}

// WouldStartFragment reports whether a sample with this key flag may begin a
// fragment: every MJPEG frame may, an H.264 frame only if it is a keyframe. A
// cutting policy flushes before such a sample once FragmentDuration reaches
// its target:
//
//	if w.PendingSamples() > 0 && w.FragmentDuration() >= target && w.WouldStartFragment(key) {
//		w.Flush() // then Sync the file
//	}
//	w.AddSample(data, pts, key)
func (w *Writer) WouldStartFragment(key bool) bool {
	return key || w.track.Codec == MJPEG
}

// Flush writes the pending samples as one fragment (moof + mdat) in a single
// Write call and returns the number of bytes written; with no pending sample
// it writes nothing. Each sample lasts until the next one's time; the last
// one as long as the one before it. The caller syncs the file after Flush
// returns, so that the fragment is durable. After a failed write the output
// may end in a torn fragment: the Writer then refuses every call with
// ErrWriteFailed.
func (w *Writer) Flush() (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.initDone {
		return 0, fmt.Errorf("fmp4: flush: %w", ErrState)
	}
	if len(w.samples) == 0 {
		return 0, nil
	}
	ms := moofSize(len(w.samples))
	start := w.headroom - ms - 8
	b := builder{b: w.buf[start:start:w.headroom]}

	moof := b.start("moof")
	mfhd := b.full("mfhd", 0, 0)
	b.u32(w.seq + 1)
	b.end(mfhd)
	traf := b.start("traf")
	tfhd := b.full("tfhd", 0, tfhdDefaultBaseIsMoof)
	b.u32(trackID)
	b.end(tfhd)
	tfdt := b.full("tfdt", 1, 0)
	b.u64(uint64(w.samples[0].pts))
	b.end(tfdt)
	trun := b.full("trun", 0, trunDataOffset|trunSampleDuration|trunSampleSize|trunSampleFlags)
	b.u32(uint32(len(w.samples)))
	b.u32(uint32(ms + 8)) // data_offset: the mdat payload, from the moof start
	last := len(w.samples) - 1
	for i, s := range w.samples {
		d := w.lastDuration()
		if i < last {
			d = w.samples[i+1].pts - s.pts
		}
		b.u32(uint32(min(d, 0xffffffff)))
		b.u32(s.size)
		if s.key {
			b.u32(flagsSync)
		} else {
			b.u32(flagsNonSync)
		}
	}
	b.end(trun)
	b.end(traf)
	sum := b.start("uuid")
	b.str(checksumUUID)
	b.u32(0)
	b.u32(crc32.ChecksumIEEE(w.buf[w.headroom : w.headroom+w.n]))
	b.end(sum)
	b.end(moof)
	b.u32(uint32(8 + w.n))
	b.str("mdat")
	if len(b.b) != ms+8 {
		// The layout above and moofSize disagree: a bug, not bad input.
		return 0, fmt.Errorf("fmp4: flush: moof of %d bytes, expected %d", len(b.b)-8, ms)
	}
	out := w.buf[start : w.headroom+w.n]
	if err := w.write(out); err != nil {
		return 0, fmt.Errorf("fmp4: flush fragment %d: %w", w.seq+1, err)
	}
	w.seq++
	w.samples = w.samples[:0]
	w.n = 0
	w.buf = w.buf[:w.headroom]
	return len(out), nil
}
