package c2pa

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// APP11 (JPEG XT) framing of the manifest store.
const (
	markerAPP11   = 0xEB
	boxInstance   = 0x0211             // En: the instance number C2PA writers use
	segHeader     = 2 + 2 + 2 + 4      // Lp, CI "JP", En, Z (what Lp counts besides the box bytes)
	maxSegPayload = 0xFFFF - segHeader // box bytes in one segment: 65,525
)

// ErrNoManifest: the JPEG carries no C2PA manifest store.
var ErrNoManifest = errors.New("c2pa: no manifest store in the file")

// ErrNotJPEG: the bytes are not a JPEG this package can sign or read.
var ErrNotJPEG = errors.New("c2pa: not a JPEG")

// segment is a JPEG marker segment before the scan data.
type segment struct {
	marker byte
	start  int // offset of the 0xFF of the marker
	end    int // offset after the segment
	data   []byte
}

// segments lists the marker segments from SOI up to (not including) SOS.
func segments(img []byte) ([]segment, error) {
	if len(img) < 4 || img[0] != 0xFF || img[1] != 0xD8 {
		return nil, fmt.Errorf("%w: no SOI marker", ErrNotJPEG)
	}
	var segs []segment
	for i := 2; ; {
		if i+4 > len(img) {
			return nil, fmt.Errorf("%w: ends inside the headers (at %d)", ErrNotJPEG, i)
		}
		if img[i] != 0xFF {
			return nil, fmt.Errorf("%w: no marker at %d", ErrNotJPEG, i)
		}
		m := img[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0xDA || m == 0xD9 { // SOS, EOI: headers end
			return segs, nil
		}
		if m == 0x01 || (m >= 0xD0 && m <= 0xD7) {
			return nil, fmt.Errorf("%w: stray marker %#02x at %d", ErrNotJPEG, m, i)
		}
		n := int(binary.BigEndian.Uint16(img[i+2:]))
		if n < 2 || i+2+n > len(img) {
			return nil, fmt.Errorf("%w: segment %#02x at %d runs past the end", ErrNotJPEG, m, i)
		}
		segs = append(segs, segment{marker: m, start: i, end: i + 2 + n, data: img[i+4 : i+2+n]})
		i += 2 + n
	}
}

func isJUMBF(s segment) bool {
	return s.marker == markerAPP11 && len(s.data) >= 8 && s.data[0] == 'J' && s.data[1] == 'P'
}

// insertAt returns where the manifest segments go: after SOI, and after an
// APP0 (JFIF) that follows it. A JPEG that already holds JUMBF segments is
// refused: this package makes a picture's first manifest, it does not
// append to another's.
func insertAt(img []byte) (int, error) {
	segs, err := segments(img)
	if err != nil {
		return 0, err
	}
	for _, s := range segs {
		if isJUMBF(s) {
			return 0, fmt.Errorf("c2pa: sign: the JPEG already has JUMBF (APP11) segments at %d", s.start)
		}
	}
	if len(segs) > 0 && segs[0].marker == 0xE0 {
		return segs[0].end, nil
	}
	return 2, nil
}

// app11Size is the number of bytes the APP11 segments for a store of n bytes
// take.
func app11Size(n int) int {
	if n <= maxSegPayload {
		return 2 + segHeader + n
	}
	rest := n - maxSegPayload
	per := maxSegPayload - 8
	k := (rest + per - 1) / per
	return 2 + segHeader + maxSegPayload + k*(2+segHeader+8) + rest
}

// appendAPP11 appends store (one whole JUMBF superbox) as APP11 segments.
func appendAPP11(dst, store []byte) []byte {
	hdr := store[:8]
	seq := uint32(1)
	for off := 0; off < len(store); seq++ {
		var lead []byte
		room := maxSegPayload
		if off > 0 {
			lead, room = hdr, maxSegPayload-8
		}
		n := min(room, len(store)-off)
		dst = append(dst, 0xFF, markerAPP11)
		dst = binary.BigEndian.AppendUint16(dst, uint16(segHeader+len(lead)+n))
		dst = append(dst, 'J', 'P')
		dst = binary.BigEndian.AppendUint16(dst, boxInstance)
		dst = binary.BigEndian.AppendUint32(dst, seq)
		dst = append(dst, lead...)
		dst = append(dst, store[off:off+n]...)
		off += n
	}
	return dst
}

// extractStore reassembles the C2PA manifest store from a JPEG's APP11
// segments. It returns the store and the span [start, end) of the file the
// segments occupy (the span must be contiguous: nothing else between them).
func extractStore(img []byte) (store []byte, start, end int, err error) {
	segs, err := segments(img)
	if err != nil {
		return nil, 0, 0, err
	}
	var (
		en   uint16
		seq  uint32
		size uint64
	)
	for _, s := range segs {
		if !isJUMBF(s) {
			continue // a segment between the store's segments is caught below
		}
		sEn := binary.BigEndian.Uint16(s.data[2:])
		sSeq := binary.BigEndian.Uint32(s.data[4:])
		body := s.data[8:]
		if seq == 0 {
			if sSeq != 1 || len(body) < 8 || string(body[4:8]) != "jumb" {
				continue // not the start of a store; another JUMBF user
			}
			st, _, _, err := nextBoxHeader(body)
			if err != nil {
				return nil, 0, 0, err
			}
			if st > 1<<26 {
				return nil, 0, 0, fmt.Errorf("%w: store of %d bytes", ErrMalformed, st)
			}
			en, seq, size, start, end = sEn, 1, st, s.start, s.end
			store = append(make([]byte, 0, st), body...)
			continue
		}
		if sEn != en {
			continue
		}
		if s.start != end {
			return nil, 0, 0, fmt.Errorf("%w: APP11 segments of the store are not adjacent (gap at %d)", ErrMalformed, end)
		}
		if sSeq != seq+1 || len(body) < 8 || string(body[:8]) != string(store[:8]) {
			return nil, 0, 0, fmt.Errorf("%w: APP11 segment %d out of order or with another box header", ErrMalformed, sSeq)
		}
		seq, end = sSeq, s.end
		store = append(store, body[8:]...)
	}
	if seq == 0 {
		return nil, 0, 0, ErrNoManifest
	}
	if uint64(len(store)) != size {
		return nil, 0, 0, fmt.Errorf("%w: store says %d bytes, segments hold %d", ErrMalformed, size, len(store))
	}
	return store, start, end, nil
}

// nextBoxHeader reads a box's declared size.
func nextBoxHeader(b []byte) (size uint64, typ string, hdr int, err error) {
	size = uint64(binary.BigEndian.Uint32(b))
	if size == 1 {
		if len(b) < 16 {
			return 0, "", 0, fmt.Errorf("%w: short large box header", ErrMalformed)
		}
		return binary.BigEndian.Uint64(b[8:]), string(b[4:8]), 16, nil
	}
	if size < 8 {
		return 0, "", 0, fmt.Errorf("%w: box size %d", ErrMalformed, size)
	}
	return size, string(b[4:8]), 8, nil
}
