package motion

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The DC-only JPEG path. A baseline JPEG codes each 8x8 block as a DC
// coefficient (the block's mean, relative to the previous block's) followed by
// 63 AC coefficients. Motion detection needs only the means, so this decoder
// walks the Huffman stream, keeps the luma DC values and skips everything else:
// no IDCT, no chroma, no colour conversion, no allocation. The result is the
// picture's luma at 1/8 scale.

// ErrUnsupported marks input the detector cannot read by design: a pixel format
// without a luma path (H.264), or a JPEG coding other than baseline/extended
// Huffman with 8-bit samples (progressive, arithmetic, lossless, 12-bit), or one
// whose luma component is subsampled. Errors from Process wrap it together with
// capture.ErrBadFrame, so the caller counts the frame as skipped.
var ErrUnsupported = errors.New("motion: unsupported input")

var (
	errTruncated = errors.New("truncated entropy-coded data")
	errBadCode   = errors.New("bad Huffman code")
)

// huffTable is a canonical Huffman decoding table with a 9-bit lookahead.
type huffTable struct {
	// lut[v] for the next 9 bits v: code length << 8 | value, or 0 when the
	// code is longer than 9 bits.
	lut [1 << lutBits]uint16
	// For codes of length l (1..16): the largest code (-1 if none), and the
	// index into vals of the smallest one minus that code.
	maxcode [17]int32
	valoff  [17]int32
	vals    [256]uint8
	// spec is the DHT payload (16 counts then values) the table was built
	// from, to skip rebuilding when every frame repeats the same tables.
	spec    [16 + 256]byte
	specLen int
}

const lutBits = 9

// build fills t from a DHT table payload: 16 code counts then the values.
// dc limits the values to the DC size categories 0..11.
func (t *huffTable) build(spec []byte, dc bool) error {
	if len(spec) < 16 {
		return errors.New("short Huffman table")
	}
	if t.specLen == len(spec) && string(t.spec[:t.specLen]) == string(spec) {
		return nil
	}
	t.specLen = 0
	total := 0
	for _, c := range spec[:16] {
		total += int(c)
	}
	if total == 0 || total > 256 || len(spec) != 16+total {
		return errors.New("bad Huffman table size")
	}
	vals := spec[16:]
	if dc {
		for _, v := range vals {
			if v > 11 {
				return errors.New("bad DC Huffman value")
			}
		}
	}
	clear(t.lut[:])
	copy(t.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(spec[l-1])
		t.valoff[l] = k - code
		if n == 0 {
			t.maxcode[l] = -1
		} else {
			if code+n > 1<<l {
				return errors.New("Huffman table codes overflow")
			}
			for i := int32(0); i < n; i++ {
				if l <= lutBits {
					shift := lutBits - l
					base := (code + i) << shift
					e := uint16(l)<<8 | uint16(vals[k+i])
					for j := int32(0); j < 1<<shift; j++ {
						t.lut[base+j] = e
					}
				}
			}
			code += n
			k += n
			t.maxcode[l] = code - 1
		}
		code <<= 1
	}
	t.specLen = copy(t.spec[:], spec)
	return nil
}

// bitReader reads the entropy-coded segment MSB first, removing stuffed zero
// bytes. At a marker or the end of the data it feeds zero bits and counts them,
// so reading past the real data is detected afterwards rather than per bit.
type bitReader struct {
	data []byte
	pos  int
	acc  uint64 // bits, MSB aligned
	n    uint   // valid bits in acc (real and fake)
	fake uint   // fake zero bits at the bottom of acc
}

func (b *bitReader) reset(data []byte, pos int) {
	*b = bitReader{data: data, pos: pos}
}

func (b *bitReader) fill() {
	if b.fake == 0 && b.pos+8 <= len(b.data) {
		// Fast path: take whole bytes at once when none of the next eight
		// is 0xFF (no stuffing, no marker).
		w := binary.BigEndian.Uint64(b.data[b.pos:])
		if v := ^w; (v-0x0101010101010101)&^v&0x8080808080808080 == 0 {
			k := (64 - b.n) >> 3
			b.acc |= w >> (64 - 8*k) << (64 - b.n - 8*k)
			b.n += 8 * k
			b.pos += int(k)
			return
		}
	}
	for b.n <= 56 {
		var c byte
		if b.fake == 0 && b.pos < len(b.data) {
			c = b.data[b.pos]
			if c == 0xFF {
				if b.pos+1 < len(b.data) && b.data[b.pos+1] == 0x00 {
					b.pos += 2
				} else {
					// A marker (or the end): stop here, pad with zeros.
					b.fake += 8
					c = 0
				}
			} else {
				b.pos++
			}
		} else {
			b.fake += 8
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// overrun reports whether fake bits were consumed.
func (b *bitReader) overrun() bool { return b.n < b.fake }

func (b *bitReader) decode(t *huffTable) (uint8, error) {
	if b.n < 32 {
		b.fill()
	}
	if e := t.lut[b.acc>>(64-lutBits)]; e != 0 {
		l := uint(e >> 8)
		b.acc <<= l
		b.n -= l
		return uint8(e), nil
	}
	return b.decodeSlow(t)
}

// decodeSlow decodes a code longer than lutBits; the accumulator holds at
// least 16 bits.
func (b *bitReader) decodeSlow(t *huffTable) (uint8, error) {
	code := int32(b.acc >> 48)
	for l := lutBits + 1; l <= 16; l++ {
		c := code >> (16 - l)
		if c <= t.maxcode[l] {
			b.acc <<= uint(l)
			b.n -= uint(l)
			return t.vals[(c+t.valoff[l])&0xFF], nil
		}
	}
	return 0, errBadCode
}

// receive reads s (0..15) bits and sign-extends them as JPEG's EXTEND does.
// decode has left at least 16 bits in the accumulator.
func (b *bitReader) receive(s uint8) int32 {
	if s == 0 {
		return 0
	}
	if b.n < 16 {
		b.fill()
	}
	v := int32(b.acc >> (64 - uint(s)))
	b.acc <<= uint(s)
	b.n -= uint(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

// skipAC skips a block's 63 AC coefficients: the hot loop of the DC path,
// with the accumulator in locals.
func (b *bitReader) skipAC(t *huffTable) error {
	acc, n := b.acc, b.n
	for k := 1; k < 64; {
		if n < 32 {
			b.acc, b.n = acc, n
			b.fill()
			acc, n = b.acc, b.n
		}
		var rs uint8
		if e := t.lut[acc>>(64-lutBits)]; e != 0 {
			l := uint(e >> 8)
			acc <<= l
			n -= l
			rs = uint8(e)
		} else {
			b.acc, b.n = acc, n
			v, err := b.decodeSlow(t)
			if err != nil {
				return err
			}
			acc, n, rs = b.acc, b.n, v
		}
		r, sz := int(rs>>4), uint(rs&15)
		if sz == 0 {
			if r != 15 {
				break // end of block
			}
			k += 16
			continue
		}
		k += r + 1
		acc <<= sz // at least 16 bits were left after the code
		n -= sz
	}
	b.acc, b.n = acc, n
	return nil
}

type jpegComponent struct {
	id     uint8
	h, v   int
	tq     int
	td, ta int // scan tables
}

// jpegDC decodes the luma DC image of baseline JPEG frames of one fixed size.
type jpegDC struct {
	width, height int
	bw, bh        int      // luma blocks across and down: ceil(w/8), ceil(h/8)
	out           []uint16 // bw*bh block means, Q4 (luma*16)

	huff     [2][4]huffTable  // [0 DC, 1 AC][table id], as the last DHT defined them
	active   [2][4]*huffTable // the tables of this frame (nil: undefined)
	defaults [2][2]huffTable  // Annex K tables for MJPEG streams without DHT
	dcq      [4]int32         // the DC quantiser of each quantisation table
	dcqOK    [4]bool
	ri       int
	comps    [4]jpegComponent
	ncomp    int
	hmax     int
	vmax     int
	sof      bool
	br       bitReader
}

// maxJPEGDim bounds the picture size the DC path accepts.
const maxJPEGDim = 8192

func newJPEGDC(w, h int) (*jpegDC, error) {
	if w < 8 || h < 8 || w > maxJPEGDim || h > maxJPEGDim {
		return nil, fmt.Errorf("motion: MJPEG size %dx%d outside 8..%d: %w", w, h, maxJPEGDim, ErrUnsupported)
	}
	j := &jpegDC{width: w, height: h, bw: (w + 7) / 8, bh: (h + 7) / 8}
	j.out = make([]uint16, j.bw*j.bh)
	for class := range 2 {
		for id := range 2 {
			spec := annexK[class*2+id]
			buf := make([]byte, 0, 16+len(spec.vals))
			buf = append(buf, spec.counts[:]...)
			buf = append(buf, spec.vals...)
			if err := j.defaults[class][id].build(buf, class == 0); err != nil {
				return nil, fmt.Errorf("motion: default Huffman table: %w", err)
			}
		}
	}
	return j, nil
}

func u16(b []byte, i int) int { return int(b[i])<<8 | int(b[i+1]) }

// decode parses one JPEG and fills j.out. Errors are plain; the caller wraps
// them with capture.ErrBadFrame.
func (j *jpegDC) decode(data []byte) error {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return errors.New("no SOI marker")
	}
	j.sof, j.ri = false, 0
	// Start from the Annex K tables; a DHT segment replaces them.
	for class := range 2 {
		j.active[class] = [4]*huffTable{&j.defaults[class][0], &j.defaults[class][1]}
	}
	j.dcqOK = [4]bool{}
	pos := 2
	for {
		// Find the next marker, skipping fill bytes.
		for pos < len(data) && data[pos] != 0xFF {
			pos++ // tolerate garbage between segments
		}
		for pos < len(data) && data[pos] == 0xFF {
			pos++
		}
		if pos >= len(data) {
			return errors.New("missing scan")
		}
		m := data[pos]
		pos++
		switch {
		case m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			continue // no payload
		case m == 0xD9:
			return errors.New("EOI before scan")
		}
		if pos+2 > len(data) {
			return errors.New("truncated segment")
		}
		n := u16(data, pos)
		if n < 2 || pos+n > len(data) {
			return errors.New("bad segment length")
		}
		seg := data[pos+2 : pos+n]
		pos += n
		var err error
		switch {
		case m == 0xC0 || m == 0xC1:
			err = j.parseSOF(seg)
		case m == 0xC4:
			err = j.parseDHT(seg)
		case m == 0xDB:
			err = j.parseDQT(seg)
		case m == 0xDD:
			if len(seg) != 2 {
				return errors.New("bad DRI")
			}
			j.ri = u16(seg, 0)
		case m == 0xDA:
			done, next, err := j.scan(seg, data, pos)
			if err != nil || done {
				return err
			}
			pos = next
		case m >= 0xC2 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return fmt.Errorf("JPEG SOF%d coding: %w", m-0xC0, ErrUnsupported)
		}
		if err != nil {
			return err
		}
	}
}

func (j *jpegDC) parseSOF(seg []byte) error {
	if j.sof {
		return errors.New("second SOF")
	}
	if len(seg) < 6 {
		return errors.New("short SOF")
	}
	if seg[0] != 8 {
		return fmt.Errorf("%d-bit JPEG: %w", seg[0], ErrUnsupported)
	}
	h, w, nc := u16(seg, 1), u16(seg, 3), int(seg[5])
	if w != j.width || h != j.height {
		return fmt.Errorf("JPEG is %dx%d, want %dx%d", w, h, j.width, j.height)
	}
	if nc != 1 && nc != 3 && nc != 4 {
		return fmt.Errorf("JPEG with %d components", nc)
	}
	if len(seg) != 6+3*nc {
		return errors.New("bad SOF length")
	}
	j.ncomp, j.hmax, j.vmax = nc, 1, 1
	for i := range nc {
		c := seg[6+3*i:]
		hv, tq := c[1], int(c[2])
		ch, cv := int(hv>>4), int(hv&15)
		if ch < 1 || ch > 4 || cv < 1 || cv > 4 || tq > 3 {
			return errors.New("bad SOF component")
		}
		for k := range i {
			if j.comps[k].id == c[0] {
				return errors.New("duplicate component")
			}
		}
		j.comps[i] = jpegComponent{id: c[0], h: ch, v: cv, tq: tq}
		j.hmax, j.vmax = max(j.hmax, ch), max(j.vmax, cv)
	}
	if nc > 1 && (j.comps[0].h != j.hmax || j.comps[0].v != j.vmax) {
		return fmt.Errorf("subsampled luma: %w", ErrUnsupported)
	}
	j.sof = true
	return nil
}

func (j *jpegDC) parseDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return errors.New("short DHT")
		}
		class, id := int(seg[0]>>4), int(seg[0]&15)
		if class > 1 || id > 3 {
			return errors.New("bad DHT class or id")
		}
		total := 0
		for _, c := range seg[1:17] {
			total += int(c)
		}
		if 17+total > len(seg) {
			return errors.New("short DHT")
		}
		if err := j.huff[class][id].build(seg[1:17+total], class == 0); err != nil {
			return err
		}
		j.active[class][id] = &j.huff[class][id]
		seg = seg[17+total:]
	}
	return nil
}

func (j *jpegDC) parseDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, id := seg[0]>>4, int(seg[0]&15)
		if pq > 1 || id > 3 {
			return errors.New("bad DQT")
		}
		size := 1 + 64*(1+int(pq))
		if len(seg) < size {
			return errors.New("short DQT")
		}
		q := int32(seg[1])
		if pq == 1 {
			q = int32(u16(seg, 1))
		}
		if q == 0 {
			return errors.New("zero quantiser")
		}
		j.dcq[id], j.dcqOK[id] = q, true
		seg = seg[size:]
	}
	return nil
}

// scan decodes one scan whose header is hdr and whose entropy-coded data
// starts at data[pos]. It reports done once the luma has been read; for a scan
// without luma it returns the position of the next marker.
func (j *jpegDC) scan(hdr, data []byte, pos int) (done bool, next int, err error) {
	if !j.sof {
		return false, 0, errors.New("scan before SOF")
	}
	if len(hdr) < 1 {
		return false, 0, errors.New("short SOS")
	}
	ns := int(hdr[0])
	if ns < 1 || ns > j.ncomp || len(hdr) != 4+2*ns {
		return false, 0, errors.New("bad SOS")
	}
	if ss, se, a := hdr[1+2*ns], hdr[2+2*ns], hdr[3+2*ns]; ss != 0 || se != 63 || a != 0 {
		return false, 0, fmt.Errorf("non-baseline scan: %w", ErrUnsupported)
	}
	var sc [4]*jpegComponent
	hasLuma := false
	for i := range ns {
		id, t := hdr[1+2*i], hdr[2+2*i]
		var c *jpegComponent
		for k := range j.ncomp {
			if j.comps[k].id == id {
				c = &j.comps[k]
			}
		}
		if c == nil {
			return false, 0, errors.New("scan names an unknown component")
		}
		c.td, c.ta = int(t>>4), int(t&15)
		if c.td > 3 || c.ta > 3 || j.active[0][c.td] == nil || j.active[1][c.ta] == nil {
			return false, 0, errors.New("scan uses an undefined Huffman table")
		}
		if c == &j.comps[0] {
			hasLuma = true
			if !j.dcqOK[c.tq] {
				return false, 0, errors.New("luma uses an undefined quantisation table")
			}
		}
		sc[i] = c
	}
	if !hasLuma {
		// Skip to the next marker that is not a restart.
		for p := pos; p+1 < len(data); p++ {
			if data[p] == 0xFF && data[p+1] != 0 && data[p+1] != 0xFF && (data[p+1] < 0xD0 || data[p+1] > 0xD7) {
				return false, p, nil
			}
		}
		return false, 0, errors.New("truncated scan")
	}
	return true, 0, j.decodeLuma(sc[:ns], data, pos)
}

func (j *jpegDC) decodeLuma(sc []*jpegComponent, data []byte, pos int) error {
	var mcux, mcuy int
	if len(sc) == 1 {
		// Non-interleaved: one block per MCU, over the component's own size.
		c := sc[0]
		cw := (j.width*c.h + j.hmax - 1) / j.hmax
		ch := (j.height*c.v + j.vmax - 1) / j.vmax
		mcux, mcuy = (cw+7)/8, (ch+7)/8
	} else {
		mcux = (j.width + 8*j.hmax - 1) / (8 * j.hmax)
		mcuy = (j.height + 8*j.vmax - 1) / (8 * j.vmax)
	}
	luma := &j.comps[0]
	q := j.dcq[luma.tq] * 2 // DC*q/8 is the mean; *16 for Q4
	var pred [4]int32
	br := &j.br
	br.reset(data, pos)
	mcus := 0
	for my := range mcuy {
		for mx := range mcux {
			if j.ri > 0 && mcus > 0 && mcus%j.ri == 0 {
				if err := j.restart(); err != nil {
					return err
				}
				pred = [4]int32{}
			}
			for ci, c := range sc {
				bh, bv := c.h, c.v
				if len(sc) == 1 {
					bh, bv = 1, 1
				}
				dct, act := j.active[0][c.td], j.active[1][c.ta]
				for v := range bv {
					for h := range bh {
						s, err := br.decode(dct)
						if err != nil {
							return err
						}
						pred[ci] += br.receive(s)
						if err := br.skipAC(act); err != nil {
							return err
						}
						if c == luma {
							bx, by := mx*bh+h, my*bv+v
							if bx < j.bw && by < j.bh {
								m := pred[ci]*q + 128*16
								j.out[by*j.bw+bx] = uint16(min(max(m, 0), 255*16))
							}
						}
					}
				}
			}
			if br.overrun() {
				return errTruncated
			}
			mcus++
		}
	}
	return nil
}

// restart consumes a restart marker at the next marker position.
func (j *jpegDC) restart() error {
	br := &j.br
	if br.overrun() {
		return errTruncated
	}
	// The reader stopped filling at the marker (fake bits) or has read ahead
	// of real data that should not be there; either way resynchronise on the
	// next marker and require it to be a restart.
	p := br.pos
	for p+1 < len(br.data) && !(br.data[p] == 0xFF && br.data[p+1] != 0 && br.data[p+1] != 0xFF) {
		p++
	}
	for p+1 < len(br.data) && br.data[p] == 0xFF && br.data[p+1] == 0xFF {
		p++
	}
	if p+1 >= len(br.data) {
		return errTruncated
	}
	if m := br.data[p+1]; m < 0xD0 || m > 0xD7 {
		return fmt.Errorf("missing restart marker (found 0x%02X)", m)
	}
	br.reset(br.data, p+2)
	return nil
}

type huffSpec struct {
	counts [16]byte
	vals   []byte
}

// annexK holds the example tables of ITU-T T.81 Annex K.3, which MJPEG
// cameras leave out of their frames (luma DC, chroma DC, luma AC, chroma AC
// in [class*2+id] order). Read-only.
var annexK = [4]huffSpec{
	{[16]byte{0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	{[16]byte{0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
	{[16]byte{0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125}, []byte{
		0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
		0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
		0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
		0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
		0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
		0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
		0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
		0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
		0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
		0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}},
	{[16]byte{0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119}, []byte{
		0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
		0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
		0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
		0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
		0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
		0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
		0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
		0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
		0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
		0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
		0xf9, 0xfa,
	}},
}
