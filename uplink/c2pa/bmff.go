package c2pa

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
)

// LabelBMFFHash labels the hash assertion of a signed MP4 clip.
const LabelBMFFHash = "c2pa.hash.bmff.v3"

// uuidProvenance is the extended type of the C2PA ContentProvenanceBox, the
// top-level 'uuid' box that carries a manifest store (purpose "manifest") or
// a fragment's Merkle proof (purpose "merkle") in an ISO BMFF file.
var uuidProvenance = [16]byte{0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81}

// ErrSigned: the MP4 already carries a C2PA manifest store.
var ErrSigned = errors.New("c2pa: the file already carries a manifest store")

// Limits of the MP4 signer and verifier.
const (
	maxMP4Boxes = 1 << 16 // top-level boxes
	maxMP4Box   = 1 << 40 // bytes in one box
)

// Wire forms of the BMFF hash assertion (C2PA 2.x, "BMFF-based hash").
type bmffExclusion struct {
	XPath string    `cbor:"xpath"`
	Data  []dataMap `cbor:"data,omitempty"`
}

type dataMap struct {
	Offset uint32 `cbor:"offset"`
	Value  []byte `cbor:"value"`
}

type merkleMap struct {
	UniqueID uint32   `cbor:"uniqueId"`
	LocalID  uint32   `cbor:"localId"`
	Count    uint32   `cbor:"count"`
	Alg      string   `cbor:"alg"`
	InitHash []byte   `cbor:"initHash"`
	Hashes   [][]byte `cbor:"hashes"`
}

type bmffHash struct {
	Exclusions []bmffExclusion `cbor:"exclusions"`
	Alg        string          `cbor:"alg"`
	Merkle     []merkleMap     `cbor:"merkle"`
	Name       string          `cbor:"name"`
}

// merkleProof is the CBOR in a fragment's "merkle" ContentProvenanceBox: the
// fragment's leaf index. The manifest's Merkle map holds the whole leaf row,
// so no proof hashes are needed.
type merkleProof struct {
	UniqueID uint32 `cbor:"uniqueId"`
	LocalID  uint32 `cbor:"localId"`
	Location uint32 `cbor:"location"`
}

// bmffExclusions are the boxes the BMFF hash leaves out: the C2PA boxes
// themselves, ftyp and mfra (the specification's mandatory exclusions).
func bmffExclusions() []bmffExclusion {
	return []bmffExclusion{
		{XPath: "/uuid", Data: []dataMap{{Offset: 8, Value: uuidProvenance[:]}}},
		{XPath: "/ftyp"},
		{XPath: "/mfra"},
	}
}

// mp4Box is one top-level box: from the source (size bytes at off) or made
// here (data).
type mp4Box struct {
	typ       string
	off, size int64
	data      []byte
	out       int64 // offset in the signed file
}

// mp4Layout is a fragmented MP4 split into what the BMFF hash covers.
type mp4Layout struct {
	ftyp  mp4Box
	init  []mp4Box   // moov and whatever else precedes the first moof
	frags [][]mp4Box // each fragment: its moof and the boxes up to the next moof
	mfra  []mp4Box   // excluded: an index at the end
}

// readBoxHeader reads the top-level box at off of a size-byte file.
func readBoxHeader(src io.ReaderAt, off, size int64) (typ string, n int64, hdr int, err error) {
	var b [16]byte
	if size-off < 8 {
		return "", 0, 0, fmt.Errorf("%w: %d bytes at %d, short of a box header", ErrMalformed, size-off, off)
	}
	if _, err := src.ReadAt(b[:8], off); err != nil {
		return "", 0, 0, err
	}
	n, typ, hdr = int64(binary.BigEndian.Uint32(b[:4])), string(b[4:8]), 8
	switch n {
	case 0:
		n = size - off
	case 1:
		if size-off < 16 {
			return "", 0, 0, fmt.Errorf("%w: short largesize header at %d", ErrMalformed, off)
		}
		if _, err := src.ReadAt(b[8:16], off+8); err != nil {
			return "", 0, 0, err
		}
		u := binary.BigEndian.Uint64(b[8:16])
		if u > maxMP4Box {
			return "", 0, 0, fmt.Errorf("%w: box %s of %d bytes at %d", ErrMalformed, printable(typ), u, off)
		}
		n, hdr = int64(u), 16
	}
	if n < int64(hdr) || n > size-off {
		return "", 0, 0, fmt.Errorf("%w: box %s of %d bytes at %d, %d left", ErrMalformed, printable(typ), n, off, size-off)
	}
	return typ, n, hdr, nil
}

// isProvenance reports whether the box at off is a C2PA ContentProvenanceBox.
func isProvenance(src io.ReaderAt, off int64, typ string, n int64, hdr int) (bool, error) {
	if typ != "uuid" || n < int64(hdr)+16 {
		return false, nil
	}
	var u [16]byte
	if _, err := src.ReadAt(u[:], off+int64(hdr)); err != nil {
		return false, err
	}
	return u == uuidProvenance, nil
}

// provenanceKind reads the purpose of the ContentProvenanceBox at off and,
// for a manifest box, whether it is an unsigned placeholder (its store
// starts with a zero box size: ReserveMP4's zeros, or a seal cut short
// before its first bytes reached the card).
func provenanceKind(src io.ReaderAt, off, n int64, hdr int) (purpose string, placeholder bool, err error) {
	body := n - int64(hdr) - 16
	var p [4 + 9 + 8 + 4]byte
	k := min(body, int64(len(p)))
	if _, err := src.ReadAt(p[:k], off+int64(hdr)+16); err != nil {
		return "", false, err
	}
	switch q := p[:k]; {
	case bytes.HasPrefix(q[min(4, k):], []byte("merkle\x00")):
		return "merkle", false, nil
	case bytes.HasPrefix(q[min(4, k):], []byte("manifest\x00")):
		return "manifest", k < int64(len(p)) || binary.BigEndian.Uint32(q[4+9+8:]) == 0, nil
	}
	return "", false, nil
}

// splitMP4 walks the top-level boxes of an unsigned fragmented MP4: C2PA
// Merkle boxes and an unsigned manifest placeholder are left out.
func splitMP4(src io.ReaderAt, size int64) (*mp4Layout, error) {
	var l mp4Layout
	for off, i := int64(0), 0; off < size; i++ {
		if i == maxMP4Boxes {
			return nil, fmt.Errorf("%w: over %d top-level boxes", ErrMalformed, maxMP4Boxes)
		}
		typ, n, hdr, err := readBoxHeader(src, off, size)
		if err != nil {
			return nil, err
		}
		prov, err := isProvenance(src, off, typ, n, hdr)
		if err != nil {
			return nil, err
		}
		b := mp4Box{typ: typ, off: off, size: n}
		if prov {
			// A clip written with a reserved slot (ReserveMP4) carries its
			// Merkle boxes and an unsigned placeholder: both are made anew.
			purpose, placeholder, err := provenanceKind(src, off, n, hdr)
			if err != nil {
				return nil, err
			}
			if purpose == "merkle" || (purpose == "manifest" && placeholder) {
				off += n
				continue
			}
			return nil, ErrSigned
		}
		switch {
		case i == 0:
			if typ != "ftyp" {
				return nil, fmt.Errorf("%w: starts with %s, not ftyp", ErrMalformed, printable(typ))
			}
			l.ftyp = b
		case typ == "ftyp":
			return nil, fmt.Errorf("%w: a second ftyp at %d", ErrMalformed, off)
		case typ == "mfra":
			l.mfra = append(l.mfra, b)
		case typ == "moof":
			l.frags = append(l.frags, []mp4Box{b})
		case len(l.frags) == 0:
			l.init = append(l.init, b)
		default:
			l.frags[len(l.frags)-1] = append(l.frags[len(l.frags)-1], b)
		}
		off += n
	}
	if len(l.frags) == 0 {
		return nil, fmt.Errorf("%w: no fragment (moof) in the file", ErrMalformed)
	}
	return &l, nil
}

// provenanceBox builds a ContentProvenanceBox: FullBox version 0, flags 0,
// the purpose, then (for a manifest) the offset of the first Merkle box.
func provenanceBox(purpose string, merkleOffset int64, data []byte) []byte {
	var p []byte
	p = append(p, uuidProvenance[:]...)
	p = append(p, 0, 0, 0, 0)
	p = append(p, purpose...)
	p = append(p, 0)
	if purpose == "manifest" {
		p = binary.BigEndian.AppendUint64(p, uint64(merkleOffset))
	}
	p = append(p, data...)
	return appendBox(nil, "uuid", p)
}

// SignMP4 writes to dst a copy of the fragmented MP4 in src (size bytes)
// signed with Content Credentials: a manifest store in a C2PA
// ContentProvenanceBox right after ftyp, whose BMFF hash assertion holds a
// Merkle tree over the fragments (one leaf per moof and the boxes up to the
// next moof) and the hash of the init segment, and after each fragment a
// ContentProvenanceBox naming its leaf. Each fragment can so be checked on
// its own. captured is the clip's start. It reads src twice (hash, copy),
// keeps only the layout and the hashes in memory, and returns the bytes
// written. ErrSigned if src carries a manifest store already.
func (s *Signer) SignMP4(dst io.Writer, src io.ReaderAt, size int64, captured time.Time) (int64, error) {
	l, err := splitMP4(src, size)
	if err != nil {
		return 0, fmt.Errorf("c2pa: sign mp4: %w", err)
	}
	n := len(l.frags)
	// A Merkle box per fragment, after its last box.
	for i := range l.frags {
		proof, err := envelope.EncodeCanonical(merkleProof{UniqueID: 1, LocalID: 1, Location: uint32(i)})
		if err != nil {
			return 0, fmt.Errorf("c2pa: sign mp4: %w", err)
		}
		box := provenanceBox("merkle", 0, proof)
		l.frags[i] = append(l.frags[i], mp4Box{typ: "uuid", data: box, size: int64(len(box))})
	}
	m, mm := s.mp4Manifest(n, captured)
	// The store's size does not depend on the hash values: lay the file
	// out with a store of zero hashes, then hash at the final offsets.
	store, err := m.build(s, nil)
	if err != nil {
		return 0, fmt.Errorf("c2pa: sign mp4: %w", err)
	}
	manifestSize := int64(len(provenanceBox("manifest", 0, store)))
	pos := l.ftyp.size + manifestSize
	for i := range l.init {
		l.init[i].out, pos = pos, pos+l.init[i].size
	}
	firstMerkle := int64(0)
	for _, f := range l.frags {
		for j := range f {
			f[j].out, pos = pos, pos+f[j].size
		}
		if firstMerkle == 0 {
			firstMerkle = f[len(f)-1].out
		}
	}
	for i := range l.mfra {
		l.mfra[i].out, pos = pos, pos+l.mfra[i].size
	}
	buf := make([]byte, 64<<10)
	h := sha256.New()
	if err := hashBoxes(h, src, l.init, buf); err != nil {
		return 0, fmt.Errorf("c2pa: sign mp4: hash: %w", err)
	}
	mm.InitHash = h.Sum(nil)
	for i, f := range l.frags {
		h.Reset()
		if err := hashBoxes(h, src, f, buf); err != nil {
			return 0, fmt.Errorf("c2pa: sign mp4: hash: %w", err)
		}
		mm.Hashes[i] = h.Sum(nil)
	}
	m.setMerkle(mm)
	store, err = m.build(s, s.sign)
	if err != nil {
		return 0, fmt.Errorf("c2pa: sign mp4: %w", err)
	}
	manifest := provenanceBox("manifest", firstMerkle, store)
	if int64(len(manifest)) != manifestSize {
		return 0, errors.New("c2pa: sign mp4: the signed store changed size")
	}
	w := &countWriter{w: dst}
	copyBox := func(b mp4Box) error {
		if b.data != nil {
			_, err := w.Write(b.data)
			return err
		}
		_, err := io.CopyBuffer(w, io.NewSectionReader(src, b.off, b.size), buf)
		return err
	}
	err = copyBox(l.ftyp)
	if err == nil {
		_, err = w.Write(manifest)
	}
	for _, b := range l.init {
		if err == nil {
			err = copyBox(b)
		}
	}
	for _, f := range l.frags {
		for _, b := range f {
			if err == nil {
				err = copyBox(b)
			}
		}
	}
	for _, b := range l.mfra {
		if err == nil {
			err = copyBox(b)
		}
	}
	if err != nil {
		return w.n, fmt.Errorf("c2pa: sign mp4: write: %w", err)
	}
	return w.n, nil
}

// mp4Manifest is the manifest of a clip of n fragments with zero hashes.
func (s *Signer) mp4Manifest(n int, captured time.Time) (*manifestParts, merkleMap) {
	label := "urn:c2pa:" + newUUID()
	mm := merkleMap{UniqueID: 1, LocalID: 1, Count: uint32(n), Alg: "sha256", InitHash: make([]byte, sha256.Size),
		Hashes: make([][]byte, n)}
	for i := range mm.Hashes {
		mm.Hashes[i] = make([]byte, sha256.Size)
	}
	m := &manifestParts{
		label:     label,
		hashLabel: LabelBMFFHash,
		hash:      bmffHash{Exclusions: bmffExclusions(), Alg: "sha256", Merkle: []merkleMap{mm}, Name: "fragmented mp4"},
		actions: actions{Actions: []action{{Action: "c2pa.created", DigitalSourceType: SourceCapture,
			SoftwareAgent: &generatorInfo{Name: Generator, Version: s.version}}}},
		capture: capture{Device: s.deviceID, Captured: captured.UTC().Format(time.RFC3339Nano)},
		claim: claimV2{InstanceID: "xmp:iid:" + newUUID(), Generator: generatorInfo{Name: Generator, Version: s.version},
			Signature: "self#jumbf=/" + labelStore + "/" + label + "/" + labelSig, Alg: "sha256"},
	}
	return m, mm
}

// setMerkle puts the Merkle map (with its hashes) into the hash assertion.
func (m *manifestParts) setMerkle(mm merkleMap) {
	bh := m.hash.(bmffHash)
	bh.Merkle = []merkleMap{mm}
	m.hash = bh
}

// hashBoxes feeds the BMFF v2/v3 hash of boxes into h: for each box not
// excluded, its offset in the signed file (8 bytes, big-endian), then its
// bytes. The C2PA boxes made here are excluded.
func hashBoxes(h hash.Hash, src io.ReaderAt, boxes []mp4Box, buf []byte) error {
	for _, b := range boxes {
		if b.data != nil {
			continue
		}
		var o [8]byte
		binary.BigEndian.PutUint64(o[:], uint64(b.out))
		h.Write(o[:])
		if _, err := io.CopyBuffer(h, io.NewSectionReader(src, b.off, b.size), buf); err != nil {
			return err
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// maxManifestBox bounds the manifest store VerifyMP4 reads into memory.
const maxManifestBox = 1 << 20

// VerifyMP4 reads the C2PA manifest store of a fragmented MP4 (size bytes)
// signed as SignMP4 signs, and checks it as Verify checks a picture's; the
// BMFF hash: the init segment's hash and each fragment's leaf in the Merkle
// map, one Merkle box per fragment naming its leaf in order. A fragment
// changed, dropped, added or moved is ErrHashMismatch. Only the layout
// SignMP4 writes is read (exclusions /uuid, /ftyp, /mfra; one Merkle map
// holding the leaf row); other C2PA MP4s are ErrMalformed.
func VerifyMP4(src io.ReaderAt, size int64, roots *x509.CertPool) (*Credential, error) {
	var (
		l        mp4Layout
		manifest []byte
		proofs   []mp4Box
	)
	for off, i := int64(0), 0; off < size; i++ {
		if i == maxMP4Boxes {
			return nil, fmt.Errorf("%w: over %d top-level boxes", ErrMalformed, maxMP4Boxes)
		}
		typ, n, hdr, err := readBoxHeader(src, off, size)
		if err != nil && manifest == nil {
			return nil, fmt.Errorf("%w (the file is not a readable MP4: %v)", ErrNoManifest, err)
		}
		if err != nil {
			return nil, err
		}
		prov, err := isProvenance(src, off, typ, n, hdr)
		if err != nil {
			return nil, err
		}
		b := mp4Box{typ: typ, off: off, size: n, out: off}
		switch {
		case i == 0 && typ != "ftyp":
			return nil, fmt.Errorf("%w: starts with %s, not ftyp", ErrMalformed, printable(typ))
		case i == 0:
			l.ftyp = b
		case prov:
			body := n - int64(hdr) - 16
			if body < 4+7 || body > maxManifestBox {
				return nil, fmt.Errorf("%w: C2PA box of %d bytes at %d", ErrMalformed, n, off)
			}
			p := make([]byte, body)
			if _, err := src.ReadAt(p, off+int64(hdr)+16); err != nil {
				return nil, err
			}
			switch {
			case bytes.HasPrefix(p[4:], []byte("manifest\x00")) && len(p) >= 4+9+8:
				if manifest != nil {
					return nil, fmt.Errorf("%w: two manifest stores", ErrMalformed)
				}
				manifest = p[4+9+8:]
			case bytes.HasPrefix(p[4:], []byte("merkle\x00")):
				b.data = p[4+7:]
				proofs = append(proofs, b)
			default:
				return nil, fmt.Errorf("%w: C2PA box at %d with a purpose this package does not read", ErrMalformed, off)
			}
			if len(l.frags) > 0 {
				l.frags[len(l.frags)-1] = append(l.frags[len(l.frags)-1], b)
			}
		case typ == "mfra":
		case typ == "moof":
			l.frags = append(l.frags, []mp4Box{b})
		case len(l.frags) == 0:
			l.init = append(l.init, b)
		default:
			l.frags[len(l.frags)-1] = append(l.frags[len(l.frags)-1], b)
		}
		off += n
	}
	if manifest == nil {
		return nil, ErrNoManifest
	}
	var bh bmffHash
	return verifyStore(manifest, LabelBMFFHash, &bh, func() error {
		want, _ := envelope.EncodeCanonical(bmffExclusions())
		got, _ := envelope.EncodeCanonical(bh.Exclusions)
		if bh.Alg != "sha256" || !bytes.Equal(got, want) || len(bh.Merkle) != 1 {
			return fmt.Errorf("%w: %s: not the sha256 Merkle form this package reads", ErrMalformed, LabelBMFFHash)
		}
		mm := bh.Merkle[0]
		if (mm.Alg != "" && mm.Alg != "sha256") || int(mm.Count) != len(mm.Hashes) {
			return fmt.Errorf("%w: %s: the Merkle map does not hold its leaf row", ErrMalformed, LabelBMFFHash)
		}
		if len(l.frags) != int(mm.Count) || len(proofs) != int(mm.Count) {
			return fmt.Errorf("%w: %s: %d fragments and %d Merkle boxes, signed %d", ErrHashMismatch, LabelBMFFHash,
				len(l.frags), len(proofs), mm.Count)
		}
		buf := make([]byte, 64<<10)
		h := sha256.New()
		if err := hashBoxes(h, src, l.init, buf); err != nil {
			return err
		}
		if !bytes.Equal(h.Sum(nil), mm.InitHash) {
			return fmt.Errorf("%w: %s: the init segment changed after signing", ErrHashMismatch, LabelBMFFHash)
		}
		for i, f := range l.frags {
			var p merkleProof
			if err := decMode.Unmarshal(proofs[i].data, &p); err != nil {
				return fmt.Errorf("%w: Merkle box %d: %v", ErrMalformed, i, err)
			}
			if p.Location != uint32(i) || p.UniqueID != mm.UniqueID || p.LocalID != mm.LocalID {
				return fmt.Errorf("%w: %s: fragment %d carries leaf %d", ErrHashMismatch, LabelBMFFHash, i, p.Location)
			}
			h.Reset()
			if err := hashBoxes(h, src, f, buf); err != nil {
				return err
			}
			if !bytes.Equal(h.Sum(nil), mm.Hashes[i]) {
				return fmt.Errorf("%w: %s: fragment %d (at %d) changed after signing", ErrHashMismatch, LabelBMFFHash, i, f[0].off)
			}
		}
		return nil
	}, roots)
}
