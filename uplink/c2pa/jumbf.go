package c2pa

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// JUMBF (ISO/IEC 19566-5) description-box types the manifest store uses: the
// four ASCII bytes name the C2PA part, the rest is the ISO suffix.
var (
	uuidStore      = c2paUUID("c2pa")
	uuidManifest   = c2paUUID("c2ma")
	uuidAssertions = c2paUUID("c2as")
	uuidClaim      = c2paUUID("c2cl")
	uuidSignature  = c2paUUID("c2cs")
	uuidCBOR       = c2paUUID("cbor")
)

func c2paUUID(s string) (u [16]byte) {
	copy(u[:4], s)
	copy(u[4:], []byte{0x00, 0x11, 0x00, 0x10, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71})
	return u
}

// Parser limits: a manifest store from outside is refused beyond these.
const (
	maxDepth    = 6
	maxChildren = 64
	maxLabel    = 256
)

// ErrMalformed: the bytes are not a manifest store this package can read.
var ErrMalformed = errors.New("c2pa: malformed manifest store")

// appendBox appends an ISO BMFF-style box (32-bit size, 4-byte type).
func appendBox(dst []byte, typ string, payload ...[]byte) []byte {
	n := 8
	for _, p := range payload {
		n += len(p)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, typ...)
	for _, p := range payload {
		dst = append(dst, p...)
	}
	return dst
}

// superbox returns a JUMBF superbox: a description box (requestable, with a
// label) followed by children (whole boxes).
func superbox(typ [16]byte, label string, children ...[]byte) []byte {
	jumd := make([]byte, 0, 17+len(label)+1)
	jumd = append(jumd, typ[:]...)
	jumd = append(jumd, 0x03) // toggles: requestable, label present
	jumd = append(jumd, label...)
	jumd = append(jumd, 0)
	parts := append([][]byte{appendBox(nil, "jumd", jumd)}, children...)
	return appendBox(nil, "jumb", parts...)
}

// cborBox is a JUMBF superbox of CBOR type holding one "cbor" content box.
func cborBox(typ [16]byte, label string, data []byte) []byte {
	return superbox(typ, label, appendBox(nil, "cbor", data))
}

// jbox is a parsed JUMBF superbox.
type jbox struct {
	uuid     [16]byte
	label    string
	payload  []byte // everything after the superbox header: what a hashed URI hashes
	children []*jbox
	content  []rawBox // content (non-superbox) boxes after the description
}

type rawBox struct {
	typ  string
	data []byte
}

// nextBox splits b into its first box and the rest.
func nextBox(b []byte) (typ string, payload, rest []byte, err error) {
	if len(b) < 8 {
		return "", nil, nil, fmt.Errorf("%w: %d bytes left, short of a box header", ErrMalformed, len(b))
	}
	size := uint64(binary.BigEndian.Uint32(b))
	typ = string(b[4:8])
	hdr := uint64(8)
	switch size {
	case 0:
		size = uint64(len(b))
	case 1:
		if len(b) < 16 {
			return "", nil, nil, fmt.Errorf("%w: short large box header", ErrMalformed)
		}
		size, hdr = binary.BigEndian.Uint64(b[8:]), 16
	}
	if size < hdr || size > uint64(len(b)) {
		return "", nil, nil, fmt.Errorf("%w: box %s of %d bytes in %d", ErrMalformed, printable(typ), size, len(b))
	}
	return typ, b[hdr:size], b[size:], nil
}

// parseSuperbox parses one whole "jumb" box (header included).
func parseSuperbox(b []byte, depth int) (*jbox, []byte, error) {
	typ, payload, rest, err := nextBox(b)
	if err != nil {
		return nil, nil, err
	}
	if typ != "jumb" {
		return nil, nil, fmt.Errorf("%w: box %s where a JUMBF superbox belongs", ErrMalformed, printable(typ))
	}
	if depth > maxDepth {
		return nil, nil, fmt.Errorf("%w: nested deeper than %d", ErrMalformed, maxDepth)
	}
	jb := &jbox{payload: payload}
	dtyp, desc, inner, err := nextBox(payload)
	if err != nil {
		return nil, nil, err
	}
	if dtyp != "jumd" || len(desc) < 17 {
		return nil, nil, fmt.Errorf("%w: superbox without a description box", ErrMalformed)
	}
	copy(jb.uuid[:], desc)
	if desc[16]&0x02 != 0 { // label present
		end := bytes.IndexByte(desc[17:], 0)
		if end < 0 || end > maxLabel {
			return nil, nil, fmt.Errorf("%w: description label not terminated within %d bytes", ErrMalformed, maxLabel)
		}
		jb.label = string(desc[17 : 17+end])
	}
	for len(inner) > 0 {
		if len(jb.children)+len(jb.content) >= maxChildren {
			return nil, nil, fmt.Errorf("%w: over %d boxes in %s", ErrMalformed, maxChildren, printable(jb.label))
		}
		if len(inner) >= 8 && string(inner[4:8]) == "jumb" {
			c, r, err := parseSuperbox(inner, depth+1)
			if err != nil {
				return nil, nil, err
			}
			jb.children, inner = append(jb.children, c), r
			continue
		}
		t, p, r, err := nextBox(inner)
		if err != nil {
			return nil, nil, err
		}
		jb.content, inner = append(jb.content, rawBox{t, p}), r
	}
	return jb, rest, nil
}

func (j *jbox) child(label string) *jbox {
	for _, c := range j.children {
		if c.label == label {
			return c
		}
	}
	return nil
}

// cbor returns the data of the box's single "cbor" content box.
func (j *jbox) cbor() ([]byte, error) {
	for _, c := range j.content {
		if c.typ == "cbor" {
			return c.data, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no CBOR content box", ErrMalformed, printable(j.label))
}

// printable quotes outside text (at most 64 bytes of it) for error messages.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strconv.Quote(s)
}
