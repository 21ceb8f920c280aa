package fmp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// H.264 NAL unit types this package looks at.
const (
	nalSlice = 1
	nalIDR   = 5
	nalSEI   = 6
	nalSPS   = 7
	nalPPS   = 8
	nalAUD   = 9
)

// MaxParamSetSize is the largest SPS or PPS accepted, in bytes.
const MaxParamSetSize = 1024

// ErrInvalidSPS is returned by ParseSPS for a sequence parameter set it cannot
// read.
var ErrInvalidSPS = errors.New("fmp4: invalid H.264 SPS")

// ErrInvalidSample is returned by AddSample for data that is not one access
// unit (H.264) or one JPEG picture (MJPEG).
var ErrInvalidSample = errors.New("fmp4: invalid sample")

// nalReader iterates over the NAL units of one H.264 access unit given in
// Annex B (start codes) or AVCC (4-byte big-endian lengths) form, without
// allocating. The units it returns are subslices of the input.
type nalReader struct {
	b      []byte
	annexB bool
	err    error
}

func newNALReader(au []byte) nalReader {
	r := nalReader{b: au, annexB: isAnnexB(au)}
	if r.annexB {
		i := bytes.Index(au, []byte{0, 0, 1})
		r.b = au[i+3:] // isAnnexB found one
	}
	return r
}

// isAnnexB tells the two forms apart. Annex B starts with two or more zero
// bytes and a one; an AVCC unit of 256 to 511 bytes starts with 00 00 01 as
// well, so a three-byte prefix counts as Annex B only when the data does not
// parse exactly as AVCC. Four zero-led bytes ending in one would be an AVCC
// unit of one byte, which no encoder emits first, so they are Annex B.
func isAnnexB(au []byte) bool {
	z := 0
	for z < len(au) && au[z] == 0 {
		z++
	}
	if z < 2 || z >= len(au) || au[z] != 1 {
		return false
	}
	return z > 2 || !validAVCC(au)
}

func validAVCC(b []byte) bool {
	for len(b) > 0 {
		if len(b) < 4 {
			return false
		}
		n := binary.BigEndian.Uint32(b)
		if n == 0 || uint64(n) > uint64(len(b)-4) {
			return false
		}
		b = b[4+n:]
	}
	return true
}

// next returns the next NAL unit, or false at the end or on an error (r.err).
func (r *nalReader) next() ([]byte, bool) {
	for len(r.b) > 0 {
		var nal []byte
		if r.annexB {
			i := bytes.Index(r.b, []byte{0, 0, 1})
			if i < 0 {
				nal, r.b = r.b, nil
			} else {
				nal, r.b = r.b[:i], r.b[i+3:]
			}
			// Zero bytes before a start code are trailing_zero_8bits or the
			// first byte of a four-byte start code; a NAL unit never ends in 0.
			for len(nal) > 0 && nal[len(nal)-1] == 0 {
				nal = nal[:len(nal)-1]
			}
			if len(nal) == 0 {
				continue
			}
		} else {
			if len(r.b) < 4 {
				r.err, r.b = fmt.Errorf("%w: AVCC length cut short", ErrInvalidSample), nil
				return nil, false
			}
			n := binary.BigEndian.Uint32(r.b)
			if n == 0 || uint64(n) > uint64(len(r.b)-4) {
				r.err, r.b = fmt.Errorf("%w: AVCC NAL length %d exceeds the %d bytes left", ErrInvalidSample, n, len(r.b)-4), nil
				return nil, false
			}
			nal, r.b = r.b[4:4+n], r.b[4+n:]
		}
		if nal[0]&0x80 != 0 {
			r.err, r.b = fmt.Errorf("%w: NAL forbidden_zero_bit set", ErrInvalidSample), nil
			return nil, false
		}
		return nal, true
	}
	return nil, false
}

// avccSize returns the size of au once converted to 4-byte length-prefixed
// form without access unit delimiters, and whether it holds a slice.
func avccSize(au []byte) (int, error) {
	r := newNALReader(au)
	n, slices := 0, 0
	for nal, ok := r.next(); ok; nal, ok = r.next() {
		switch nal[0] & 0x1f {
		case nalAUD:
			continue
		case nalSlice, 2, 3, 4, nalIDR:
			slices++
		}
		n += 4 + len(nal)
	}
	if r.err != nil {
		return 0, r.err
	}
	if slices == 0 {
		return 0, fmt.Errorf("%w: access unit of %d bytes holds no slice", ErrInvalidSample, len(au))
	}
	return n, nil
}

// putAVCC writes au to dst (which avccSize sized) as 4-byte length-prefixed
// NAL units, without access unit delimiters.
func putAVCC(dst, au []byte) {
	r := newNALReader(au)
	for nal, ok := r.next(); ok; nal, ok = r.next() {
		if nal[0]&0x1f == nalAUD {
			continue
		}
		binary.BigEndian.PutUint32(dst, uint32(len(nal)))
		copy(dst[4:], nal)
		dst = dst[4+len(nal):]
	}
}

// IsKeyframe reports whether the H.264 access unit au (Annex B or AVCC) holds
// an IDR slice, so decoding can start there.
func IsKeyframe(au []byte) bool {
	r := newNALReader(au)
	for nal, ok := r.next(); ok; nal, ok = r.next() {
		if nal[0]&0x1f == nalIDR {
			return true
		}
	}
	return false
}

// ParameterSets returns the SPS and PPS NAL units carried in the H.264 access
// unit au (Annex B or AVCC), as subslices of au. A camera's keyframe normally
// carries them; they are what a Track needs.
func ParameterSets(au []byte) (sps, pps [][]byte) {
	r := newNALReader(au)
	for nal, ok := r.next(); ok; nal, ok = r.next() {
		switch nal[0] & 0x1f {
		case nalSPS:
			sps = append(sps, nal)
		case nalPPS:
			pps = append(pps, nal)
		}
	}
	return sps, pps
}

// SPS holds what the muxer needs from an H.264 sequence parameter set.
type SPS struct {
	Profile        uint8 // profile_idc
	Constraints    uint8 // constraint_set flags byte (profile_compatibility)
	Level          uint8 // level_idc
	ID             uint32
	ChromaFormat   uint8 // chroma_format_idc: 0 mono, 1 4:2:0, 2 4:2:2, 3 4:4:4
	BitDepthLuma   uint8
	BitDepthChroma uint8
	Width, Height  int // displayed size, after cropping
}

// highProfile reports whether profile_idc carries the chroma and bit-depth
// fields in the SPS (and the avcC extension).
func highProfile(p uint8) bool {
	switch p {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		return true
	}
	return false
}

// ParseSPS reads the sequence parameter set NAL unit nal (with its one-byte
// header, without a start code) far enough to know the picture size, profile,
// level, chroma format and bit depth. It reads at most MaxParamSetSize bytes.
func ParseSPS(nal []byte) (SPS, error) {
	var s SPS
	if len(nal) < 4 {
		return s, fmt.Errorf("%w: %d bytes", ErrInvalidSPS, len(nal))
	}
	if len(nal) > MaxParamSetSize {
		return s, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidSPS, len(nal), MaxParamSetSize)
	}
	if nal[0]&0x9f != nalSPS {
		return s, fmt.Errorf("%w: NAL header %#02x is not an SPS", ErrInvalidSPS, nal[0])
	}
	s.Profile, s.Constraints, s.Level = nal[1], nal[2], nal[3]
	r := bitReader{b: unescapeRBSP(nal[4:])}
	s.ID = r.ue()
	s.ChromaFormat, s.BitDepthLuma, s.BitDepthChroma = 1, 8, 8
	separatePlanes := false
	if highProfile(s.Profile) {
		cf := r.ue()
		if cf > 3 {
			return s, fmt.Errorf("%w: chroma_format_idc %d", ErrInvalidSPS, cf)
		}
		s.ChromaFormat = uint8(cf)
		if cf == 3 {
			separatePlanes = r.u(1) == 1
		}
		bl, bc := r.ue(), r.ue()
		if bl > 6 || bc > 6 {
			return s, fmt.Errorf("%w: bit depth %d/%d", ErrInvalidSPS, bl+8, bc+8)
		}
		s.BitDepthLuma, s.BitDepthChroma = uint8(bl+8), uint8(bc+8)
		r.u(1)           // qpprime_y_zero_transform_bypass_flag
		if r.u(1) == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if cf == 3 {
				lists = 12
			}
			for i := range lists {
				if r.u(1) == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					skipScalingList(&r, size)
				}
			}
		}
	}
	if r.ue() > 12 { // log2_max_frame_num_minus4
		return s, fmt.Errorf("%w: log2_max_frame_num", ErrInvalidSPS)
	}
	switch r.ue() { // pic_order_cnt_type
	case 0:
		r.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		r.u(1) // delta_pic_order_always_zero_flag
		r.se() // offset_for_non_ref_pic
		r.se() // offset_for_top_to_bottom_field
		n := r.ue()
		if n > 255 {
			return s, fmt.Errorf("%w: num_ref_frames_in_pic_order_cnt_cycle %d", ErrInvalidSPS, n)
		}
		for range n {
			r.se()
		}
	case 2:
	default:
		return s, fmt.Errorf("%w: pic_order_cnt_type", ErrInvalidSPS)
	}
	r.ue() // max_num_ref_frames
	r.u(1) // gaps_in_frame_num_value_allowed_flag
	wmb := r.ue() + 1
	hmap := r.ue() + 1
	frameMBsOnly := r.u(1)
	if frameMBsOnly == 0 {
		r.u(1) // mb_adaptive_frame_field_flag
	}
	r.u(1) // direct_8x8_inference_flag
	var cl, cr, ct, cb uint32
	if r.u(1) == 1 {
		cl, cr, ct, cb = r.ue(), r.ue(), r.ue(), r.ue()
	}
	if r.err != nil {
		return s, fmt.Errorf("%w: %w", ErrInvalidSPS, r.err)
	}
	if wmb > 1024 || hmap > 1024 { // 16384 pixels, beyond level 6.2
		return s, fmt.Errorf("%w: %dx%d macroblocks", ErrInvalidSPS, wmb, hmap)
	}
	// Crop units, from the H.264 spec's equations 7-19 to 7-22.
	cropX, cropY := uint32(1), 2-frameMBsOnly
	if !separatePlanes && s.ChromaFormat != 0 {
		subW, subH := uint32(2), uint32(2)
		switch s.ChromaFormat {
		case 2:
			subH = 1
		case 3:
			subW, subH = 1, 1
		}
		cropX, cropY = subW, subH*(2-frameMBsOnly)
	}
	w := wmb * 16
	h := hmap * 16 * (2 - frameMBsOnly)
	if cl > w || cr > w || ct > h || cb > h || cropX*(cl+cr) >= w || cropY*(ct+cb) >= h {
		return s, fmt.Errorf("%w: cropping %d,%d,%d,%d of %dx%d", ErrInvalidSPS, cl, cr, ct, cb, w, h)
	}
	s.Width = int(w - cropX*(cl+cr))
	s.Height = int(h - cropY*(ct+cb))
	return s, nil
}

func skipScalingList(r *bitReader, size int) {
	last, next := int32(8), int32(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}

// unescapeRBSP removes the emulation prevention bytes (00 00 03 -> 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
		out = append(out, c)
	}
	return out
}

var errBitsExhausted = errors.New("bitstream ends early")

// bitReader reads bits MSB first; after the data runs out it returns zeros and
// records errBitsExhausted.
type bitReader struct {
	b   []byte
	pos int
	err error
}

func (r *bitReader) u(n int) uint32 {
	var v uint32
	for range n {
		if r.pos >= len(r.b)*8 {
			r.err = errBitsExhausted
			return 0
		}
		v = v<<1 | uint32(r.b[r.pos/8]>>(7-r.pos%8))&1
		r.pos++
	}
	return v
}

// ue reads an unsigned Exp-Golomb code of at most 32 bits of value.
func (r *bitReader) ue() uint32 {
	zeros := 0
	for r.u(1) == 0 {
		if r.err != nil {
			return 0
		}
		zeros++
		if zeros > 31 {
			r.err = errors.New("Exp-Golomb code longer than 32 bits")
			return 0
		}
	}
	return uint32((uint64(1)<<zeros - 1) + uint64(r.u(zeros)))
}

func (r *bitReader) se() int32 {
	v := r.ue()
	if v&1 == 1 {
		return int32(v/2 + 1)
	}
	return -int32(v / 2)
}
