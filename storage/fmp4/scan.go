package fmp4

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"time"
)

// Limits of Scan: it never holds more than these in memory, whatever the
// file claims.
const (
	// MaxInitBoxSize bounds the ftyp and the moov box, each.
	MaxInitBoxSize = 1 << 20
	// MaxMoofSize bounds each moof box (a moof of MaxFragmentSamplesLimit
	// samples is about 400 KiB).
	MaxMoofSize = 1 << 20
	// MaxFragments bounds the fragments reported: about 18 h of 1 s
	// fragments. Scan stops (ErrLimit) after that many.
	MaxFragments = 1 << 16
	// MaxTrunSamples bounds the samples of one trun (and so the work of
	// checking it, since a trun may give no per-sample fields).
	MaxTrunSamples = 1 << 18
	// scanChunk is the buffer through which mdat payloads are checksummed.
	scanChunk = 32 << 10
)

// Why a valid prefix ends. Report.Stop wraps one of them; test with errors.Is.
var (
	// ErrTruncated: the file ends inside a box.
	ErrTruncated = errors.New("fmp4: truncated")
	// ErrCorrupt: a box is malformed or inconsistent with the others.
	ErrCorrupt = errors.New("fmp4: corrupt")
	// ErrUnsupported: well-formed, but not a fragmented single-video-track
	// file such as a Writer makes.
	ErrUnsupported = errors.New("fmp4: unsupported structure")
	// ErrLimit: a box or the fragment count exceeds Scan's limits.
	ErrLimit = errors.New("fmp4: over a scan limit")
)

// TrackInfo describes the track found in the init segment.
type TrackInfo struct {
	ID          uint32
	Codec       Codec  // 0 when the sample entry is neither of the Writer's
	SampleEntry string // the sample entry's box type, e.g. "avc1" or "mp4v"
	Width       int
	Height      int
	Timescale   uint32
}

// Fragment is one whole moof + mdat pair.
type Fragment struct {
	Offset   int64 // of the moof
	Size     int64 // of the moof and the mdat together
	Seq      uint32
	Samples  int
	BaseTime uint64 // decode time of the first sample, in timescale ticks
	Duration uint64 // sum of the sample durations, in ticks
	Key      bool   // the first sample is a sync sample
	Checked  bool   // the mdat matched the checksum box in the moof
}

// End returns the offset just past the fragment.
func (f Fragment) End() int64 { return f.Offset + f.Size }

// Report is what Scan found.
type Report struct {
	// InitSize is the size of the init segment (ftyp + moov); 0 when it is
	// missing or invalid, and then nothing else is reported.
	InitSize  int64
	Track     TrackInfo
	Fragments []Fragment
	// ValidSize is the end of the valid prefix: the end of the last whole
	// fragment, or InitSize when there is none. Cutting the file there
	// leaves a playable clip.
	ValidSize int64
	// Trailing is the number of bytes after ValidSize: a torn fragment,
	// garbage, or free, skip or uuid boxes (a C2PA Merkle box) after the
	// last fragment (then Stop is nil).
	Trailing int64
	// Stop says why the valid prefix ends before the end of the file; nil
	// when the whole file is valid. It wraps ErrTruncated, ErrCorrupt,
	// ErrUnsupported or ErrLimit.
	Stop error
}

// Duration returns the media time the valid fragments span, from the first
// one's decode time to the end of the last.
func (r *Report) Duration() time.Duration {
	if len(r.Fragments) == 0 || r.Track.Timescale == 0 {
		return 0
	}
	first, last := r.Fragments[0], r.Fragments[len(r.Fragments)-1]
	d := last.BaseTime + last.Duration - first.BaseTime
	ts := uint64(r.Track.Timescale)
	return time.Duration(d/ts)*time.Second + time.Duration(d%ts*uint64(time.Second)/ts)
}

// Samples returns the number of samples in the valid fragments.
func (r *Report) Samples() int {
	n := 0
	for _, f := range r.Fragments {
		n += f.Samples
	}
	return n
}

// Box types, as big-endian fourccs.
const (
	typFtyp = 'f'<<24 | 't'<<16 | 'y'<<8 | 'p'
	typMoov = 'm'<<24 | 'o'<<16 | 'o'<<8 | 'v'
	typTrak = 't'<<24 | 'r'<<16 | 'a'<<8 | 'k'
	typTkhd = 't'<<24 | 'k'<<16 | 'h'<<8 | 'd'
	typMdia = 'm'<<24 | 'd'<<16 | 'i'<<8 | 'a'
	typMdhd = 'm'<<24 | 'd'<<16 | 'h'<<8 | 'd'
	typHdlr = 'h'<<24 | 'd'<<16 | 'l'<<8 | 'r'
	typMinf = 'm'<<24 | 'i'<<16 | 'n'<<8 | 'f'
	typStbl = 's'<<24 | 't'<<16 | 'b'<<8 | 'l'
	typStsd = 's'<<24 | 't'<<16 | 's'<<8 | 'd'
	typAvc1 = 'a'<<24 | 'v'<<16 | 'c'<<8 | '1'
	typAvc3 = 'a'<<24 | 'v'<<16 | 'c'<<8 | '3'
	typAvcC = 'a'<<24 | 'v'<<16 | 'c'<<8 | 'C'
	typMp4v = 'm'<<24 | 'p'<<16 | '4'<<8 | 'v'
	typEsds = 'e'<<24 | 's'<<16 | 'd'<<8 | 's'
	typMvex = 'm'<<24 | 'v'<<16 | 'e'<<8 | 'x'
	typTrex = 't'<<24 | 'r'<<16 | 'e'<<8 | 'x'
	typMoof = 'm'<<24 | 'o'<<16 | 'o'<<8 | 'f'
	typMfhd = 'm'<<24 | 'f'<<16 | 'h'<<8 | 'd'
	typTraf = 't'<<24 | 'r'<<16 | 'a'<<8 | 'f'
	typTfhd = 't'<<24 | 'f'<<16 | 'h'<<8 | 'd'
	typTfdt = 't'<<24 | 'f'<<16 | 'd'<<8 | 't'
	typTrun = 't'<<24 | 'r'<<16 | 'u'<<8 | 'n'
	typUUID = 'u'<<24 | 'u'<<16 | 'i'<<8 | 'd'
	typMdat = 'm'<<24 | 'd'<<16 | 'a'<<8 | 't'
	typFree = 'f'<<24 | 'r'<<16 | 'e'<<8 | 'e'
	typSkip = 's'<<24 | 'k'<<16 | 'i'<<8 | 'p'
	typVide = 'v'<<24 | 'i'<<16 | 'd'<<8 | 'e'
)

func fourcc(t uint32) string {
	b := [4]byte{byte(t >> 24), byte(t >> 16), byte(t >> 8), byte(t)}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b[:])
}

// Scan checks the fragmented MP4 of size bytes in r and reports its valid
// prefix: the init segment (ftyp, then moov with one video track and mvex)
// and each following moof + mdat pair whose boxes are whole and consistent
// (one traf of the track with one trun, sample sizes summing to the mdat
// payload, the data offset pointing at it, sequence numbers and decode times
// increasing, and the payload matching the checksum box when there is one).
// free and skip boxes between fragments are passed over. The first thing that
// is truncated or corrupt ends the prefix; Report.Stop says what it was.
//
// Scan returns an error only when r fails to read (other than by ending
// early, which counts as truncation): then nothing is known about the file
// and it must not be cut. It reads only within [0, size) and holds at most
// MaxInitBoxSize, MaxMoofSize and scanChunk bytes of it at a time.
func Scan(r io.ReaderAt, size int64) (Report, error) {
	s := scanner{r: r, size: max(size, 0)}
	rep, err := s.scan()
	if err != nil {
		return Report{}, err
	}
	rep.Trailing = s.size - rep.ValidSize
	return rep, nil
}

type scanner struct {
	r     io.ReaderAt
	size  int64
	buf   []byte // the moov or moof being parsed
	chunk []byte // mdat payload being checksummed
	hdr   [16]byte
	trex  trex
	rep   Report
}

// ioError marks a read failure other than the data ending early.
type ioError struct{ err error }

func (e *ioError) Error() string { return e.err.Error() }
func (e *ioError) Unwrap() error { return e.err }

type trex struct {
	id, duration, size, flags uint32
}

type boxHeader struct {
	typ  uint32
	size int64 // whole box
	hdr  int64 // header bytes
}

// read fills p from off; a short file is ErrTruncated.
func (s *scanner) read(p []byte, off int64) error {
	n, err := s.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %d of %d bytes at %d readable", ErrTruncated, n, len(p), off)
	}
	return &ioError{fmt.Errorf("fmp4: scan: read %d bytes at %d: %w", len(p), off, err)}
}

// header reads the box header at off; the box must lie within the file.
func (s *scanner) header(off int64) (boxHeader, error) {
	left := s.size - off
	if left < 8 {
		return boxHeader{}, fmt.Errorf("%w: box header at %d", ErrTruncated, off)
	}
	if err := s.read(s.hdr[:8], off); err != nil {
		return boxHeader{}, err
	}
	h := boxHeader{typ: binary.BigEndian.Uint32(s.hdr[4:]), hdr: 8}
	switch n := binary.BigEndian.Uint32(s.hdr[:]); n {
	case 0:
		h.size = left
	case 1:
		if left < 16 {
			return h, fmt.Errorf("%w: %s largesize at %d", ErrTruncated, fourcc(h.typ), off)
		}
		if err := s.read(s.hdr[8:16], off+8); err != nil {
			return h, err
		}
		ls := binary.BigEndian.Uint64(s.hdr[8:])
		if ls < 16 || ls > math.MaxInt64 {
			return h, fmt.Errorf("%w: %s largesize %d at %d", ErrCorrupt, fourcc(h.typ), ls, off)
		}
		h.size, h.hdr = int64(ls), 16
	default:
		if n < 8 {
			return h, fmt.Errorf("%w: %s size %d at %d", ErrCorrupt, fourcc(h.typ), n, off)
		}
		h.size = int64(n)
	}
	if h.size > left {
		return h, fmt.Errorf("%w: %s of %d bytes at %d, %d left", ErrTruncated, fourcc(h.typ), h.size, off, left)
	}
	return h, nil
}

// body reads the payload of box h at off, which must not exceed limit.
func (s *scanner) body(h boxHeader, off, limit int64) ([]byte, error) {
	if h.size > limit {
		return nil, fmt.Errorf("%w: %s of %d bytes at %d exceeds %d", ErrLimit, fourcc(h.typ), h.size, off, limit)
	}
	n := int(h.size - h.hdr)
	if cap(s.buf) < n {
		s.buf = make([]byte, n, max(n, 2*cap(s.buf)))
	}
	s.buf = s.buf[:n]
	if err := s.read(s.buf, off+h.hdr); err != nil {
		return nil, err
	}
	return s.buf, nil
}

// stop ends the valid prefix with err, or returns err when it is an I/O error.
func (s *scanner) stop(err error) (Report, error) {
	if ie, ok := errors.AsType[*ioError](err); ok {
		return Report{}, ie.err
	}
	s.rep.Stop = err
	return s.rep, nil
}

func (s *scanner) scan() (Report, error) {
	off := int64(0)
	seenFtyp := false
	// The init segment: ftyp, then moov; free, skip and uuid boxes (e.g. a
	// C2PA manifest store) may sit between.
	for s.rep.InitSize == 0 {
		h, err := s.header(off)
		if err != nil {
			return s.stop(fmt.Errorf("fmp4: init segment: %w", err))
		}
		switch {
		case h.typ == typFtyp && !seenFtyp && off == 0:
			b, err := s.body(h, off, MaxInitBoxSize)
			if err != nil {
				return s.stop(fmt.Errorf("fmp4: ftyp: %w", err))
			}
			if len(b) < 8 || len(b)%4 != 0 {
				return s.stop(fmt.Errorf("fmp4: ftyp: %w: %d bytes", ErrCorrupt, len(b)))
			}
			seenFtyp = true
		case (h.typ == typFree || h.typ == typSkip || h.typ == typUUID) && seenFtyp:
		case h.typ == typMoov && seenFtyp:
			b, err := s.body(h, off, MaxInitBoxSize)
			if err != nil {
				return s.stop(fmt.Errorf("fmp4: moov: %w", err))
			}
			t, x, err := parseMoov(b)
			if err != nil {
				return s.stop(fmt.Errorf("fmp4: moov: %w", err))
			}
			s.rep.Track, s.trex = t, x
			s.rep.InitSize = off + h.size
		default:
			return s.stop(fmt.Errorf("fmp4: init segment: %w: %s box at %d", ErrCorrupt, fourcc(h.typ), off))
		}
		off += h.size
	}
	s.rep.ValidSize = off

	for off < s.size {
		h, err := s.header(off)
		if err != nil {
			return s.stop(err)
		}
		switch h.typ {
		case typFree, typSkip, typUUID: // uuid: e.g. a fragment's C2PA Merkle box
			off += h.size
			continue
		case typMoof:
		default:
			return s.stop(fmt.Errorf("%w: %s box at %d where a moof belongs", ErrCorrupt, fourcc(h.typ), off))
		}
		if len(s.rep.Fragments) == MaxFragments {
			return s.stop(fmt.Errorf("%w: more than %d fragments", ErrLimit, MaxFragments))
		}
		f, err := s.fragment(h, off)
		if err != nil {
			return s.stop(fmt.Errorf("fmp4: fragment at %d: %w", off, err))
		}
		s.rep.Fragments = append(s.rep.Fragments, f)
		off = f.End()
		s.rep.ValidSize = off
	}
	return s.rep, nil
}

// boxIter walks the boxes inside a payload held in memory.
type boxIter struct {
	b   []byte
	err error
}

func (it *boxIter) next() (typ uint32, payload []byte, ok bool) {
	if len(it.b) == 0 || it.err != nil {
		return 0, nil, false
	}
	if len(it.b) < 8 {
		it.err = fmt.Errorf("%w: %d stray bytes inside a box", ErrCorrupt, len(it.b))
		return 0, nil, false
	}
	typ = binary.BigEndian.Uint32(it.b[4:])
	size, hdr := uint64(binary.BigEndian.Uint32(it.b)), uint64(8)
	if size == 1 {
		if len(it.b) < 16 {
			it.err = fmt.Errorf("%w: %s largesize cut short", ErrCorrupt, fourcc(typ))
			return 0, nil, false
		}
		size, hdr = binary.BigEndian.Uint64(it.b[8:]), 16
	}
	if size < hdr || size > uint64(len(it.b)) {
		it.err = fmt.Errorf("%w: %s size %d with %d bytes left in its parent", ErrCorrupt, fourcc(typ), size, len(it.b))
		return 0, nil, false
	}
	payload, it.b = it.b[hdr:size], it.b[size:]
	return typ, payload, true
}

// fullBox splits a full box payload into version, flags and the rest.
func fullBox(p []byte, typ uint32) (uint8, uint32, []byte, error) {
	if len(p) < 4 {
		return 0, 0, nil, fmt.Errorf("%w: %s of %d bytes", ErrCorrupt, fourcc(typ), len(p))
	}
	return p[0], binary.BigEndian.Uint32(p) & 0xffffff, p[4:], nil
}

func short(typ uint32, p []byte, need int) error {
	if len(p) < need {
		return fmt.Errorf("%w: %s body of %d bytes, need %d", ErrCorrupt, fourcc(typ), len(p), need)
	}
	return nil
}

// parseMoov finds the one video track and its trex. Only the boxes on the
// paths moov/trak/mdia/minf/stbl/stsd/<entry>/{avcC,esds} and moov/mvex/trex
// are descended, so nesting is bounded by construction.
func parseMoov(b []byte) (TrackInfo, trex, error) {
	var t TrackInfo
	var x trex
	traks, trexFound := 0, false
	it := boxIter{b: b}
	for typ, p, ok := it.next(); ok; typ, p, ok = it.next() {
		switch typ {
		case typTrak:
			traks++
			if traks > 1 {
				return t, x, fmt.Errorf("%w: more than one track", ErrUnsupported)
			}
			var err error
			if t, err = parseTrak(p); err != nil {
				return t, x, err
			}
		case typMvex:
			mit := boxIter{b: p}
			for typ, p, ok := mit.next(); ok; typ, p, ok = mit.next() {
				if typ != typTrex {
					continue
				}
				_, _, p, err := fullBox(p, typ)
				if err != nil {
					return t, x, err
				}
				if err := short(typ, p, 20); err != nil {
					return t, x, err
				}
				if trexFound {
					return t, x, fmt.Errorf("%w: more than one trex", ErrUnsupported)
				}
				trexFound = true
				x = trex{
					id:       binary.BigEndian.Uint32(p),
					duration: binary.BigEndian.Uint32(p[8:]),
					size:     binary.BigEndian.Uint32(p[12:]),
					flags:    binary.BigEndian.Uint32(p[16:]),
				}
			}
			if mit.err != nil {
				return t, x, mit.err
			}
		}
	}
	if it.err != nil {
		return t, x, it.err
	}
	if traks == 0 {
		return t, x, fmt.Errorf("%w: no track", ErrUnsupported)
	}
	if !trexFound {
		return t, x, fmt.Errorf("%w: no mvex/trex: not a fragmented file", ErrUnsupported)
	}
	if x.id != t.ID {
		return t, x, fmt.Errorf("%w: trex for track %d, track is %d", ErrCorrupt, x.id, t.ID)
	}
	return t, x, nil
}

func parseTrak(b []byte) (TrackInfo, error) {
	var t TrackInfo
	var haveTkhd, haveMdhd, video, haveEntry bool
	it := boxIter{b: b}
	for typ, p, ok := it.next(); ok; typ, p, ok = it.next() {
		switch typ {
		case typTkhd:
			v, _, p, err := fullBox(p, typ)
			if err != nil {
				return t, err
			}
			at := 8
			if v == 1 {
				at = 16
			}
			if err := short(typ, p, at+4); err != nil {
				return t, err
			}
			t.ID, haveTkhd = binary.BigEndian.Uint32(p[at:]), true
		case typMdia:
			mit := boxIter{b: p}
			for typ, p, ok := mit.next(); ok; typ, p, ok = mit.next() {
				switch typ {
				case typMdhd:
					v, _, p, err := fullBox(p, typ)
					if err != nil {
						return t, err
					}
					at := 8
					if v == 1 {
						at = 16
					}
					if err := short(typ, p, at+4); err != nil {
						return t, err
					}
					t.Timescale, haveMdhd = binary.BigEndian.Uint32(p[at:]), true
				case typHdlr:
					_, _, p, err := fullBox(p, typ)
					if err != nil {
						return t, err
					}
					if err := short(typ, p, 8); err != nil {
						return t, err
					}
					video = binary.BigEndian.Uint32(p[4:]) == typVide
				case typMinf:
					var err error
					if haveEntry, err = parseMinf(p, &t); err != nil {
						return t, err
					}
				}
			}
			if mit.err != nil {
				return t, mit.err
			}
		}
	}
	switch {
	case it.err != nil:
		return t, it.err
	case !haveTkhd || !haveMdhd || !haveEntry:
		return t, fmt.Errorf("%w: track lacks tkhd, mdhd or a sample entry", ErrCorrupt)
	case !video:
		return t, fmt.Errorf("%w: not a video track", ErrUnsupported)
	case t.Timescale == 0:
		return t, fmt.Errorf("%w: timescale 0", ErrCorrupt)
	}
	return t, nil
}

// parseMinf reads the first sample entry of minf/stbl/stsd into t.
func parseMinf(b []byte, t *TrackInfo) (bool, error) {
	var stbl, stsd []byte
	it := boxIter{b: b}
	for typ, p, ok := it.next(); ok; typ, p, ok = it.next() {
		if typ == typStbl {
			stbl = p
		}
	}
	if it.err != nil {
		return false, it.err
	}
	it = boxIter{b: stbl}
	for typ, p, ok := it.next(); ok; typ, p, ok = it.next() {
		if typ == typStsd {
			stsd = p
		}
	}
	if it.err != nil {
		return false, it.err
	}
	if stsd == nil {
		return false, nil
	}
	_, _, p, err := fullBox(stsd, typStsd)
	if err != nil {
		return false, err
	}
	if err := short(typStsd, p, 4); err != nil {
		return false, err
	}
	if binary.BigEndian.Uint32(p) == 0 {
		return false, nil
	}
	it = boxIter{b: p[4:]}
	typ, e, ok := it.next()
	if !ok {
		if it.err != nil {
			return false, it.err
		}
		return false, fmt.Errorf("%w: stsd without its entry", ErrCorrupt)
	}
	// VisualSampleEntry: 78 bytes of fields, then boxes.
	if err := short(typ, e, 78); err != nil {
		return false, err
	}
	t.SampleEntry = fourcc(typ)
	t.Width = int(binary.BigEndian.Uint16(e[24:]))
	t.Height = int(binary.BigEndian.Uint16(e[26:]))
	cit := boxIter{b: e[78:]}
	for ctyp, c, ok := cit.next(); ok; ctyp, c, ok = cit.next() {
		switch {
		case ctyp == typAvcC && (typ == typAvc1 || typ == typAvc3):
			if len(c) < 7 || c[0] != 1 {
				return false, fmt.Errorf("%w: avcC of %d bytes", ErrCorrupt, len(c))
			}
			t.Codec = H264
		case ctyp == typEsds && typ == typMp4v:
			ot, err := esdsObjectType(c)
			if err != nil {
				return false, err
			}
			if ot == objectTypeJPEG {
				t.Codec = MJPEG
			}
		}
	}
	if cit.err != nil {
		return false, cit.err
	}
	return true, nil
}

// esdsObjectType returns the objectTypeIndication of an esds box's
// DecoderConfigDescriptor (ISO/IEC 14496-1 7.2.6.5-6).
func esdsObjectType(b []byte) (uint8, error) {
	_, _, p, err := fullBox(b, typEsds)
	if err != nil {
		return 0, err
	}
	bad := fmt.Errorf("%w: esds descriptors", ErrCorrupt)
	descr := func(p []byte, tag byte) ([]byte, bool) {
		if len(p) < 2 || p[0] != tag {
			return nil, false
		}
		n, i := 0, 1
		for ; i <= 4 && i < len(p); i++ { // expandable size, at most 4 bytes
			n = n<<7 | int(p[i]&0x7f)
			if p[i]&0x80 == 0 {
				break
			}
		}
		if i > 4 || i >= len(p) || n > len(p)-i-1 {
			return nil, false
		}
		return p[i+1 : i+1+n], true
	}
	es, ok := descr(p, 0x03)
	if !ok || len(es) < 3 {
		return 0, bad
	}
	flags := es[2]
	es = es[3:]
	if flags&0x80 != 0 { // streamDependenceFlag
		if len(es) < 2 {
			return 0, bad
		}
		es = es[2:]
	}
	if flags&0x40 != 0 { // URL_Flag
		if len(es) < 1 || len(es) < 1+int(es[0]) {
			return 0, bad
		}
		es = es[1+int(es[0]):]
	}
	if flags&0x20 != 0 { // OCRstreamFlag
		if len(es) < 2 {
			return 0, bad
		}
		es = es[2:]
	}
	dc, ok := descr(es, 0x04)
	if !ok || len(dc) < 13 {
		return 0, bad
	}
	return dc[0], nil
}

// fragment checks the moof h at off and the mdat after it, in steps: find
// the moof's boxes, then check mfhd (sequence), tfhd (track and defaults),
// tfdt (decode time), trun (samples), and the mdat (place, size, checksum).
func (s *scanner) fragment(h boxHeader, off int64) (Fragment, error) {
	f := Fragment{Offset: off}
	b, err := s.body(h, off, MaxMoofSize)
	if err != nil {
		return f, fmt.Errorf("moof: %w", err)
	}
	boxes, err := splitMoof(b)
	if err != nil {
		return f, err
	}
	var prev *Fragment
	if n := len(s.rep.Fragments); n > 0 {
		prev = &s.rep.Fragments[n-1]
	}
	if f.Seq, err = parseMfhd(boxes.mfhd, prev); err != nil {
		return f, err
	}
	tf, err := parseTfhd(boxes.tfhd, s.rep.Track.ID, uint64(off), s.trex)
	if err != nil {
		return f, err
	}
	if f.BaseTime, err = parseTfdt(boxes.tfdt, prev); err != nil {
		return f, err
	}
	run, err := parseTrun(boxes.trun, tf)
	if err != nil {
		return f, err
	}
	f.Samples, f.Duration, f.Key = int(run.count), run.duration, run.key
	if err := s.checkMdat(&f, off+h.size, tf.base, run, boxes.sum); err != nil {
		return f, err
	}
	return f, nil
}

// moofBoxes are the payloads of the boxes of a moof that fragment reads.
type moofBoxes struct {
	mfhd, tfhd, tfdt, trun []byte
	sum                    []byte // the checksum uuid box after its UUID, or nil
}

// splitMoof finds the boxes of a moof's payload: mfhd, exactly one traf with
// tfhd, trun (one) and an optional tfdt, and the optional checksum box.
func splitMoof(b []byte) (moofBoxes, error) {
	var (
		m     moofBoxes
		trafs int
	)
	it := boxIter{b: b}
	for typ, p, ok := it.next(); ok; typ, p, ok = it.next() {
		switch typ {
		case typMfhd:
			m.mfhd = p
		case typTraf:
			trafs++
			tit := boxIter{b: p}
			for typ, p, ok := tit.next(); ok; typ, p, ok = tit.next() {
				switch typ {
				case typTfhd:
					m.tfhd = p
				case typTfdt:
					m.tfdt = p
				case typTrun:
					if m.trun != nil {
						return m, fmt.Errorf("%w: more than one trun", ErrUnsupported)
					}
					m.trun = p
				}
			}
			if tit.err != nil {
				return m, tit.err
			}
		case typUUID:
			if len(p) >= 16 && string(p[:16]) == checksumUUID {
				if len(p) != 16+8 {
					return m, fmt.Errorf("%w: checksum box of %d bytes", ErrCorrupt, len(p))
				}
				m.sum = p[16:]
			}
		}
	}
	if it.err != nil {
		return m, it.err
	}
	if trafs != 1 || m.mfhd == nil || m.tfhd == nil || m.trun == nil {
		return m, fmt.Errorf("%w: moof needs mfhd and one traf with tfhd and trun, has %d trafs", ErrUnsupported, trafs)
	}
	return m, nil
}

// parseMfhd returns the fragment's sequence number, which must be above the
// previous fragment's.
func parseMfhd(mfhd []byte, prev *Fragment) (uint32, error) {
	_, _, p, err := fullBox(mfhd, typMfhd)
	if err != nil {
		return 0, err
	}
	if err := short(typMfhd, p, 4); err != nil {
		return 0, err
	}
	seq := binary.BigEndian.Uint32(p)
	if prev != nil && seq <= prev.Seq {
		return seq, fmt.Errorf("%w: sequence number %d after %d", ErrCorrupt, seq, prev.Seq)
	}
	return seq, nil
}

// trackFragment is what a tfhd says: where the sample data is counted from
// and the sample defaults (the trex's unless the tfhd overrides them).
type trackFragment struct {
	base                  uint64
	duration, size, flags uint32
}

// parseTfhd reads a tfhd of track trackID in a moof at moofOff.
func parseTfhd(tfhd []byte, trackID uint32, moofOff uint64, defaults trex) (trackFragment, error) {
	_, tflags, p, err := fullBox(tfhd, typTfhd)
	if err != nil {
		return trackFragment{}, err
	}
	need := 4
	for _, fl := range []struct {
		bit  uint32
		size int
	}{{0x01, 8}, {0x02, 4}, {0x08, 4}, {0x10, 4}, {0x20, 4}} {
		if tflags&fl.bit != 0 {
			need += fl.size
		}
	}
	if err := short(typTfhd, p, need); err != nil {
		return trackFragment{}, err
	}
	if id := binary.BigEndian.Uint32(p); id != trackID {
		return trackFragment{}, fmt.Errorf("%w: traf of track %d, track is %d", ErrCorrupt, id, trackID)
	}
	p = p[4:]
	tf := trackFragment{base: moofOff, // default-base-is-moof, or the first traf's rule
		duration: defaults.duration, size: defaults.size, flags: defaults.flags}
	if tflags&0x01 != 0 {
		tf.base, p = binary.BigEndian.Uint64(p), p[8:]
	}
	if tflags&0x02 != 0 {
		p = p[4:]
	}
	if tflags&0x08 != 0 {
		tf.duration, p = binary.BigEndian.Uint32(p), p[4:]
	}
	if tflags&0x10 != 0 {
		tf.size, p = binary.BigEndian.Uint32(p), p[4:]
	}
	if tflags&0x20 != 0 {
		tf.flags = binary.BigEndian.Uint32(p)
	}
	return tf, nil
}

// parseTfdt returns the fragment's decode time, which must be above the
// previous fragment's; without a tfdt it follows the previous fragment.
func parseTfdt(tfdt []byte, prev *Fragment) (uint64, error) {
	if tfdt == nil {
		if prev != nil {
			return prev.BaseTime + prev.Duration, nil
		}
		return 0, nil
	}
	v, _, p, err := fullBox(tfdt, typTfdt)
	if err != nil {
		return 0, err
	}
	var t uint64
	if v == 1 {
		if err := short(typTfdt, p, 8); err != nil {
			return 0, err
		}
		t = binary.BigEndian.Uint64(p)
	} else {
		if err := short(typTfdt, p, 4); err != nil {
			return 0, err
		}
		t = uint64(binary.BigEndian.Uint32(p))
	}
	if prev != nil && t <= prev.BaseTime {
		return t, fmt.Errorf("%w: decode time %d after %d", ErrCorrupt, t, prev.BaseTime)
	}
	return t, nil
}

// trackRun is what a trun says about the fragment's samples.
type trackRun struct {
	count    uint32
	dataOff  int64  // from the tfhd's base to the first sample
	dataSize uint64 // of all samples
	duration uint64 // of all samples, in the track's timescale
	key      bool   // the first sample is a sync sample
}

// parseTrun reads a trun, with the tfhd's defaults for what it leaves out.
func parseTrun(trun []byte, tf trackFragment) (trackRun, error) {
	var run trackRun
	_, rflags, p, err := fullBox(trun, typTrun)
	if err != nil {
		return run, err
	}
	if err := short(typTrun, p, 4); err != nil {
		return run, err
	}
	run.count = binary.BigEndian.Uint32(p)
	p = p[4:]
	if rflags&trunDataOffset != 0 {
		if err := short(typTrun, p, 4); err != nil {
			return run, err
		}
		run.dataOff, p = int64(int32(binary.BigEndian.Uint32(p))), p[4:]
	}
	firstFlags, haveFirst := uint32(0), rflags&trunFirstFlags != 0
	if haveFirst {
		if err := short(typTrun, p, 4); err != nil {
			return run, err
		}
		firstFlags, p = binary.BigEndian.Uint32(p), p[4:]
	}
	per := 4 * bits.OnesCount32(rflags&(trunSampleDuration|trunSampleSize|trunSampleFlags|trunSampleCTS))
	if run.count == 0 {
		return run, fmt.Errorf("%w: trun without samples", ErrCorrupt)
	}
	if uint64(run.count)*uint64(per) > uint64(len(p)) {
		return run, fmt.Errorf("%w: trun of %d samples in %d bytes", ErrCorrupt, run.count, len(p))
	}
	if run.count > MaxTrunSamples {
		return run, fmt.Errorf("%w: trun of %d samples, over %d", ErrLimit, run.count, MaxTrunSamples)
	}
	for i := range run.count {
		d, sz, fl := tf.duration, tf.size, tf.flags
		if rflags&trunSampleDuration != 0 {
			d, p = binary.BigEndian.Uint32(p), p[4:]
		}
		if rflags&trunSampleSize != 0 {
			sz, p = binary.BigEndian.Uint32(p), p[4:]
		}
		if rflags&trunSampleFlags != 0 {
			fl, p = binary.BigEndian.Uint32(p), p[4:]
		}
		if rflags&trunSampleCTS != 0 {
			p = p[4:]
		}
		if i == 0 {
			if haveFirst {
				fl = firstFlags
			}
			run.key = fl&0x10000 == 0
		}
		run.dataSize += uint64(sz)
		run.duration += uint64(d)
	}
	return run, nil
}

// checkMdat checks the mdat right after the moof (which ends at moofEnd):
// its payload holds exactly the trun's samples, where the tfhd and trun say,
// and matches the moof's checksum (sum, when there is one). It sets f.Size
// and f.Checked.
func (s *scanner) checkMdat(f *Fragment, moofEnd int64, base uint64, run trackRun, sum []byte) error {
	mh, err := s.header(moofEnd)
	if err != nil {
		return fmt.Errorf("mdat: %w", err)
	}
	if mh.typ != typMdat {
		return fmt.Errorf("%w: %s box after the moof, not mdat", ErrCorrupt, fourcc(mh.typ))
	}
	payload := moofEnd + mh.hdr
	if int64(base)+run.dataOff != payload || int64(base) < 0 {
		return fmt.Errorf("%w: data offset %d from %d points at %d, the mdat payload is at %d",
			ErrCorrupt, run.dataOff, base, int64(base)+run.dataOff, payload)
	}
	if plen := mh.size - mh.hdr; run.dataSize != uint64(plen) {
		return fmt.Errorf("%w: samples of %d bytes in an mdat payload of %d", ErrCorrupt, run.dataSize, plen)
	}
	if sum != nil {
		_, _, c, err := fullBox(sum, typUUID)
		if err != nil {
			return err
		}
		want := binary.BigEndian.Uint32(c)
		got, err := s.checksum(payload, int64(run.dataSize))
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%w: mdat checksum %08x, moof says %08x", ErrCorrupt, got, want)
		}
		f.Checked = true
	}
	f.Size = moofEnd + mh.size - f.Offset
	return nil
}

// checksum returns the CRC-32 (IEEE) of n bytes at off.
func (s *scanner) checksum(off, n int64) (uint32, error) {
	if s.chunk == nil {
		s.chunk = make([]byte, scanChunk)
	}
	buf := s.chunk
	var c uint32
	for n > 0 {
		k := int(min(n, int64(len(buf))))
		if err := s.read(buf[:k], off); err != nil {
			return 0, err
		}
		c = crc32.Update(c, crc32.IEEETable, buf[:k])
		off += int64(k)
		n -= int64(k)
	}
	return c, nil
}
