package c2pa

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
)

// Signing a clip in place (see "Signing in place" in the package doc): the
// clip is written with a reserved manifest box (ReserveMP4) after ftyp and
// each fragment's Merkle box (MerkleBox) after its mdat, so that the seal
// only writes the signed store into the reserved box (SealMP4, or
// SignMP4InPlace after a crash), over the same number of bytes. The store is
// brought to the reserved size with zero padding in the COSE signature's
// unprotected header ("pad", and "pad2" when one cannot hit the size), as
// c2pa-rs pads a signature into a box reserved for it.

// ErrNoSlot: the clip has no reserved manifest box, or one too small for its
// fragments; sign a copy (SignMP4) instead.
var ErrNoSlot = errors.New("c2pa: the clip has no manifest box reserved for its fragments")

// slotMargin is reserved beyond the worst case, so that the padding always
// has room for its own header.
const slotMargin = 32

// worstCaptured is the longest capture time the manifest may state.
var worstCaptured = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)

// ReserveMP4 returns the placeholder manifest box to write right after ftyp
// when a clip of at most maxFragments fragments is created: a C2PA
// ContentProvenanceBox of purpose "manifest" holding zeros, as large as the
// manifest store of such a clip (whatever its capture time) plus a margin.
func (s *Signer) ReserveMP4(maxFragments int) ([]byte, error) {
	if maxFragments < 1 || maxFragments > maxMP4Boxes {
		return nil, fmt.Errorf("c2pa: reserve mp4: %d fragments not in [1, %d]", maxFragments, maxMP4Boxes)
	}
	m, _ := s.mp4Manifest(maxFragments, worstCaptured)
	store, err := m.build(s, nil)
	if err != nil {
		return nil, fmt.Errorf("c2pa: reserve mp4: %w", err)
	}
	return provenanceBox("manifest", 0, make([]byte, len(store)+slotMargin)), nil
}

// MerkleBox returns the Merkle ContentProvenanceBox that follows the mdat of
// the clip's fragment i (from 0).
func (s *Signer) MerkleBox(i int) []byte { return merkleBox(i) }

func merkleBox(i int) []byte {
	proof, err := envelope.EncodeCanonical(merkleProof{UniqueID: 1, LocalID: 1, Location: uint32(i)})
	if err != nil { // three unsigned integers always encode
		panic(err)
	}
	return provenanceBox("merkle", 0, proof)
}

// BMFFLeaf returns the BMFF hash (v2/v3: each top-level box preceded by its
// 8-byte offset) of the whole top-level boxes in b, which sit at offset off
// of the file: the init hash of the boxes between the reserved manifest box
// and the first moof, or a fragment's leaf (its moof and mdat).
func (s *Signer) BMFFLeaf(off int64, b []byte) ([]byte, error) {
	h := sha256.New()
	r := bytes.NewReader(b)
	for at := int64(0); at < int64(len(b)); {
		_, n, _, err := readBoxHeader(r, at, int64(len(b)))
		if err != nil {
			return nil, fmt.Errorf("c2pa: hash: %w", err)
		}
		var o [8]byte
		binary.BigEndian.PutUint64(o[:], uint64(off+at))
		h.Write(o[:])
		h.Write(b[at : at+n])
		at += n
	}
	return h.Sum(nil), nil
}

// SealMP4 returns the signed manifest box, exactly slotSize bytes (the size
// of ReserveMP4's box), for a clip whose init segment hashes to initHash and
// whose fragments to leaves (BMFFLeaf), the first Merkle box at firstMerkle.
// ErrNoSlot when the store does not fit the slot.
func (s *Signer) SealMP4(slotSize int, firstMerkle int64, initHash []byte, leaves [][]byte, captured time.Time) ([]byte, error) {
	if len(leaves) == 0 || len(initHash) != sha256.Size {
		return nil, fmt.Errorf("c2pa: seal mp4: %w: no fragment", ErrMalformed)
	}
	m, mm := s.mp4Manifest(len(leaves), captured)
	mm.InitHash = initHash
	for i, l := range leaves {
		if len(l) != sha256.Size {
			return nil, fmt.Errorf("c2pa: seal mp4: %w: leaf %d of %d bytes", ErrMalformed, i, len(l))
		}
		mm.Hashes[i] = l
	}
	m.setMerkle(mm)
	store, err := m.build(s, nil)
	if err != nil {
		return nil, fmt.Errorf("c2pa: seal mp4: %w", err)
	}
	want := slotSize - len(provenanceBox("manifest", 0, nil))
	m.unprot = padUnprotected(want - len(store))
	if m.unprot == nil {
		return nil, fmt.Errorf("c2pa: seal mp4: %w: a store of %d bytes, %d reserved", ErrNoSlot, len(store), want)
	}
	if store, err = m.build(s, s.sign); err != nil {
		return nil, fmt.Errorf("c2pa: seal mp4: %w", err)
	}
	box := provenanceBox("manifest", firstMerkle, store)
	if len(box) != slotSize {
		return nil, fmt.Errorf("c2pa: seal mp4: a box of %d bytes for a slot of %d", len(box), slotSize)
	}
	return box, nil
}

// padUnprotected returns a COSE unprotected header map of exactly 1+gap
// bytes: {} for 0, else zero padding under "pad" (and "pad2"); nil when no
// such map exists (gap 1 to 4).
func padUnprotected(gap int) []byte {
	if gap == 0 {
		return []byte{0xA0}
	}
	// cost of "pad" with k bytes: 1+3 (text key) + bstr header + k.
	hdr := func(k int) int {
		switch {
		case k < 24:
			return 1
		case k < 256:
			return 2
		case k < 65536:
			return 3
		}
		return 5
	}
	entry := func(key string, k int) []byte {
		b := []byte{0x60 | byte(len(key))}
		b = append(b, key...)
		return appendBstr(b, make([]byte, k))
	}
	for _, h := range []int{1, 2, 3, 5} {
		if k := gap - 4 - h; k >= 0 && hdr(k) == h {
			return append([]byte{0xA1}, entry("pad", k)...)
		}
	}
	// No single length fits (a bstr header growing at 24, 256, 65536):
	// a second, short pad takes the rest.
	for k2 := 0; k2 < 24; k2++ {
		rest := gap - (5 + 1 + k2)
		for _, h := range []int{1, 2, 3, 5} {
			if k := rest - 4 - h; k >= 0 && hdr(k) == h {
				b := append([]byte{0xA2}, entry("pad", k)...)
				return append(b, entry("pad2", k2)...)
			}
		}
	}
	return nil
}

// ReadWriterAt is a clip file signed in place (an alias, so that an
// interface elsewhere can name the same method without this package).
type ReadWriterAt = interface {
	io.ReaderAt
	io.WriterAt
}

// SignMP4InPlace signs a clip written with a reserved manifest box
// (ReserveMP4) and Merkle boxes, as a crash left it cut back to its last
// whole fragment (package storage's recovery): it checks the layout, appends
// the last fragment's Merkle box when the cut took it, hashes the clip, and
// writes the signed store into the reserved box. It returns the file's new
// size. ErrNoSlot when the clip has no such box or too small a one (sign a
// copy with SignMP4 then; nothing was written).
func (s *Signer) SignMP4InPlace(f ReadWriterAt, size int64, captured time.Time) (int64, error) {
	var (
		l       mp4Layout
		slot    mp4Box
		merkles []int64 // offset of each fragment's Merkle box, -1: none
	)
	for off, i := int64(0), 0; off < size; i++ {
		if i == maxMP4Boxes {
			return 0, fmt.Errorf("c2pa: sign in place: %w: over %d top-level boxes", ErrMalformed, maxMP4Boxes)
		}
		typ, n, hdr, err := readBoxHeader(f, off, size)
		if err != nil {
			return 0, fmt.Errorf("c2pa: sign in place: %w", err)
		}
		var sz [4]byte
		if _, err := f.ReadAt(sz[:], off); err != nil {
			return 0, fmt.Errorf("c2pa: sign in place: %w", err)
		}
		if binary.BigEndian.Uint32(sz[:]) == 0 { // a box up to the end would swallow a Merkle box added
			return 0, fmt.Errorf("c2pa: sign in place: %w: a %s box to the end of the file at %d", ErrMalformed, printable(typ), off)
		}
		prov, err := isProvenance(f, off, typ, n, hdr)
		if err != nil {
			return 0, fmt.Errorf("c2pa: sign in place: %w", err)
		}
		b := mp4Box{typ: typ, off: off, size: n, out: off}
		purpose := ""
		if prov {
			if purpose, _, err = provenanceKind(f, off, n, hdr); err != nil {
				return 0, fmt.Errorf("c2pa: sign in place: %w", err)
			}
		}
		switch {
		case i == 0 && typ != "ftyp":
			return 0, fmt.Errorf("c2pa: sign in place: %w: starts with %s, not ftyp", ErrMalformed, printable(typ))
		case i == 0:
			l.ftyp = b
		case i == 1 && purpose == "manifest":
			slot = b
		case i == 1:
			return 0, fmt.Errorf("c2pa: sign in place: %w", ErrNoSlot)
		case purpose == "merkle" && len(l.frags) > 0 && merkles[len(l.frags)-1] < 0:
			want := merkleBox(len(l.frags) - 1)
			got := make([]byte, n)
			if int64(len(want)) != n {
				return 0, fmt.Errorf("c2pa: sign in place: %w: Merkle box at %d is not fragment %d's", ErrMalformed, off, len(l.frags)-1)
			}
			if _, err := f.ReadAt(got, off); err != nil {
				return 0, fmt.Errorf("c2pa: sign in place: %w", err)
			}
			if !bytes.Equal(got, want) {
				return 0, fmt.Errorf("c2pa: sign in place: %w: Merkle box at %d is not fragment %d's", ErrMalformed, off, len(l.frags)-1)
			}
			merkles[len(l.frags)-1] = off
		case prov:
			return 0, fmt.Errorf("c2pa: sign in place: %w: a C2PA %s box at %d", ErrMalformed, printable(purpose), off)
		case typ == "ftyp":
			return 0, fmt.Errorf("c2pa: sign in place: %w: a second ftyp at %d", ErrMalformed, off)
		case typ == "mfra":
		case typ == "moof":
			if len(l.frags) > 0 && merkles[len(l.frags)-1] < 0 {
				return 0, fmt.Errorf("c2pa: sign in place: %w: fragment %d has no Merkle box", ErrMalformed, len(l.frags)-1)
			}
			l.frags = append(l.frags, []mp4Box{b})
			merkles = append(merkles, -1)
		case len(l.frags) == 0:
			l.init = append(l.init, b)
		case merkles[len(l.frags)-1] >= 0:
			return 0, fmt.Errorf("c2pa: sign in place: %w: a %s box after fragment %d's Merkle box", ErrMalformed, printable(typ), len(l.frags)-1)
		default:
			l.frags[len(l.frags)-1] = append(l.frags[len(l.frags)-1], b)
		}
		off += n
	}
	if len(l.frags) == 0 {
		return 0, fmt.Errorf("c2pa: sign in place: %w: no fragment (moof) in the file", ErrMalformed)
	}
	buf := make([]byte, 64<<10)
	h := sha256.New()
	if err := hashBoxes(h, f, l.init, buf); err != nil {
		return 0, fmt.Errorf("c2pa: sign in place: hash: %w", err)
	}
	initHash := h.Sum(nil)
	leaves := make([][]byte, len(l.frags))
	for i, fr := range l.frags {
		h.Reset()
		if err := hashBoxes(h, f, fr, buf); err != nil {
			return 0, fmt.Errorf("c2pa: sign in place: hash: %w", err)
		}
		leaves[i] = h.Sum(nil)
	}
	last := len(l.frags) - 1
	tail := []byte(nil)
	if merkles[last] < 0 { // cut with the torn fragment after it
		tail = merkleBox(last)
		merkles[last] = size
	}
	box, err := s.SealMP4(int(slot.size), merkles[0], initHash, leaves, captured)
	if err != nil {
		return 0, err
	}
	if tail != nil {
		if _, err := f.WriteAt(tail, size); err != nil {
			return 0, fmt.Errorf("c2pa: sign in place: %w", err)
		}
		size += int64(len(tail))
	}
	if _, err := f.WriteAt(box, slot.off); err != nil {
		return 0, fmt.Errorf("c2pa: sign in place: %w", err)
	}
	return size, nil
}
