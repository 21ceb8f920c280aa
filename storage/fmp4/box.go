package fmp4

import "encoding/binary"

// builder appends big-endian box fields to a byte slice. Boxes are opened with
// start and closed with end, which patches the 32-bit size.
type builder struct {
	b []byte
}

func (w *builder) u8(v uint8) { w.b = append(w.b, v) }

func (w *builder) u16(v uint16) { w.b = binary.BigEndian.AppendUint16(w.b, v) }

func (w *builder) u24(v uint32) { w.b = append(w.b, byte(v>>16), byte(v>>8), byte(v)) }

func (w *builder) u32(v uint32) { w.b = binary.BigEndian.AppendUint32(w.b, v) }

func (w *builder) u64(v uint64) { w.b = binary.BigEndian.AppendUint64(w.b, v) }

func (w *builder) bytes(p []byte) { w.b = append(w.b, p...) }

func (w *builder) zeros(n int) {
	for range n {
		w.b = append(w.b, 0)
	}
}

// start opens a box of type typ and returns its offset for end.
func (w *builder) start(typ string) int {
	off := len(w.b)
	w.u32(0)
	w.b = append(w.b, typ[:4]...)
	return off
}

// full opens a full box (with version and flags).
func (w *builder) full(typ string, version uint8, flags uint32) int {
	off := w.start(typ)
	w.u32(uint32(version)<<24 | flags&0xffffff)
	return off
}

// end closes the box opened at off.
func (w *builder) end(off int) {
	binary.BigEndian.PutUint32(w.b[off:], uint32(len(w.b)-off))
}

// matrix writes the identity transformation of mvhd and tkhd.
func (w *builder) matrix() {
	for i := range 9 {
		switch i {
		case 0, 4:
			w.u32(0x00010000)
		case 8:
			w.u32(0x40000000)
		default:
			w.u32(0)
		}
	}
}

// checksumUUID is the usertype of camagent's fragment checksum box, a `uuid`
// box at the end of each moof holding version/flags (0) and the CRC-32 (IEEE)
// of the fragment's mdat payload.
const checksumUUID = "\x3c\x1f\x8a\x52\x6e\x0b\x4d\x39\x9a\x2e\x71\xc4\x05\xd6\xb8\x13"

// checksumBoxSize is the size of that box: header, usertype, version/flags, CRC.
const checksumBoxSize = 8 + 16 + 4 + 4

func (w *builder) str(s string) { w.b = append(w.b, s...) }
