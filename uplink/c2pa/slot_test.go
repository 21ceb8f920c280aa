package c2pa

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/fmp4/fmp4test"
)

// slotWriter lays a clip out as package storage writes one: ftyp, the
// reserved manifest box, moov, then each fragment followed by its Merkle
// box, hashing as it goes.
type slotWriter struct {
	s        *Signer
	slot     []byte
	out      bytes.Buffer
	slotOff  int64
	initHash []byte
	leaves   [][]byte
	first    int64
	t        testing.TB
}

func (w *slotWriter) Write(p []byte) (int, error) {
	off := int64(w.out.Len())
	if w.initHash == nil {
		ftyp := int64(binary.BigEndian.Uint32(p))
		w.out.Write(p[:ftyp])
		w.slotOff = ftyp
		w.out.Write(w.slot)
		h, err := w.s.BMFFLeaf(ftyp+int64(len(w.slot)), p[ftyp:])
		if err != nil {
			w.t.Fatal(err)
		}
		w.initHash = h
		w.out.Write(p[ftyp:])
		return len(p), nil
	}
	h, err := w.s.BMFFLeaf(off, p)
	if err != nil {
		w.t.Fatal(err)
	}
	w.out.Write(p)
	if len(w.leaves) == 0 {
		w.first = int64(w.out.Len())
	}
	w.out.Write(w.s.MerkleBox(len(w.leaves)))
	w.leaves = append(w.leaves, h)
	return len(p), nil
}

// slotClip writes an MJPEG clip with a slot for maxFragments fragments, a
// fragment every perFrag frames, and returns it unsigned and its writer.
func slotClip(t testing.TB, s *Signer, frames, perFrag, w, h, maxFragments int) *slotWriter {
	t.Helper()
	slot, err := s.ReserveMP4(maxFragments)
	if err != nil {
		t.Fatal(err)
	}
	sw := &slotWriter{s: s, slot: slot, t: t}
	mw, err := fmp4.NewWriter(sw, fmp4.Track{Codec: fmp4.MJPEG, Width: w, Height: h, FrameDuration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := mw.WriteInit(); err != nil {
		t.Fatal(err)
	}
	pic := testJPEG(t, w, h)
	for i := range frames {
		if err := mw.AddSample(pic, time.Duration(i)*100*time.Millisecond, true); err != nil {
			t.Fatal(err)
		}
		if (i+1)%perFrag == 0 || i == frames-1 {
			if _, err := mw.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sw
}

// seal writes the signed store into the slot, as the seal does.
func (w *slotWriter) seal(t testing.TB) []byte {
	t.Helper()
	box, err := w.s.SealMP4(len(w.slot), w.first, w.initHash, w.leaves, captured)
	if err != nil {
		t.Fatal(err)
	}
	b := slices.Clone(w.out.Bytes())
	copy(b[w.slotOff:], box)
	return b
}

// memFile is a ReadWriterAt over a growing byte slice.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m.b).ReadAt(p, off)
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

// TestPadUnprotected: every gap but 1 to 4 has a header of exactly that
// many bytes more than {}, and it decodes as a CBOR map.
func TestPadUnprotected(t *testing.T) {
	for gap := range 70000 {
		u := padUnprotected(gap)
		if gap >= 1 && gap <= 4 {
			if u != nil {
				t.Fatalf("gap %d: %x", gap, u)
			}
			continue
		}
		if len(u) != 1+gap {
			t.Fatalf("gap %d: %d bytes", gap, len(u))
		}
		if gap%997 == 0 || gap < 300 {
			var m map[string][]byte
			if err := decMode.Unmarshal(u, &m); err != nil {
				t.Fatalf("gap %d: %v", gap, err)
			}
		}
	}
}

// TestSealInPlace: a clip sealed in its slot, whatever its number of
// fragments up to the reservation, verifies; the file keeps its size; too
// many fragments is ErrNoSlot; SignMP4InPlace signs a clip cut by a crash,
// with or without its last Merkle box; SignMP4 signs a copy of a slotted clip.
func TestSealInPlace(t *testing.T) {
	r := newRig(t)
	for _, n := range []int{1, 2, 23, 24, 25, 40} {
		sw := slotClip(t, r.signer, n, 1, 32, 24, 40)
		signed := sw.seal(t)
		if len(signed) != sw.out.Len() {
			t.Fatalf("%d fragments: %d bytes signed, %d written", n, len(signed), sw.out.Len())
		}
		if cr, err := VerifyMP4(bytes.NewReader(signed), int64(len(signed)), r.ca.Pool()); err != nil || !cr.Trusted {
			t.Fatalf("%d fragments: %v", n, err)
		}
	}
	sw := slotClip(t, r.signer, 8, 1, 32, 24, 4)
	if _, err := r.signer.SealMP4(len(sw.slot), sw.first, sw.initHash, sw.leaves, captured); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("8 fragments in a slot for 4: %v", err)
	}
	// Too many fragments: SignMP4 signs a copy, its own boxes made anew.
	unsigned := sw.out.Bytes()
	var cp bytes.Buffer
	if _, err := r.signer.SignMP4(&cp, bytes.NewReader(unsigned), int64(len(unsigned)), captured); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyMP4(bytes.NewReader(cp.Bytes()), int64(cp.Len()), r.ca.Pool()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.signer.SignMP4InPlace(&memFile{b: slices.Clone(unsigned)}, int64(len(unsigned)), captured); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("in place, 8 fragments in a slot for 4: %v", err)
	}
	// A clip without a slot.
	plain := testClip(t, 6, 2)
	if _, err := r.signer.SignMP4InPlace(&memFile{b: plain}, int64(len(plain)), captured); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("in place, no slot: %v", err)
	}

	sw = slotClip(t, r.signer, 10, 2, 32, 24, 8)
	full := sw.out.Bytes()
	lastMerkle := int64(len(full)) - int64(len(r.signer.MerkleBox(4)))
	for name, cut := range map[string][]byte{"whole": full, "last Merkle box cut": full[:lastMerkle]} {
		m := &memFile{b: slices.Clone(cut)}
		size, err := r.signer.SignMP4InPlace(m, int64(len(cut)), captured)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if size != int64(len(full)) || int64(len(m.b)) != size {
			t.Fatalf("%s: size %d, file %d, want %d", name, size, len(m.b), len(full))
		}
		if _, err := VerifyMP4(bytes.NewReader(m.b), size, r.ca.Pool()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Signing again (a crash after the seal's write, before its rename)
		// overwrites the slot.
		if _, err := r.signer.SignMP4InPlace(m, size, captured); err != nil {
			t.Fatalf("%s, again: %v", name, err)
		}
		if _, err := VerifyMP4(bytes.NewReader(m.b), size, r.ca.Pool()); err != nil {
			t.Fatalf("%s, again: %v", name, err)
		}
	}
	// A Merkle box with the wrong leaf is refused.
	bad := slices.Clone(full)
	copy(bad[lastMerkle:], r.signer.MerkleBox(3))
	if _, err := r.signer.SignMP4InPlace(&memFile{b: bad}, int64(len(bad)), captured); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong Merkle box: %v", err)
	}
}

// TestOfficialReaderInPlace: the CAI reader judges a clip sealed in its
// slot, and one signed in place after a crash, Valid and Trusted; a flipped
// mdat byte, a dropped or swapped fragment and a moved manifest are Invalid.
func TestOfficialReaderInPlace(t *testing.T) {
	r := newRig(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caPEM := write("ca.pem", r.ca.CertPEM())
	sw := slotClip(t, r.signer, 25, 5, 160, 120, 150)
	signed := sw.seal(t)
	file := write("sealed.mp4", signed)
	p := fmp4test.ProbeFile(t, file)
	fmp4test.Check(t, p, "mjpeg", 160, 120, 25, 2500*time.Millisecond, 200*time.Millisecond)
	full := sw.out.Bytes()
	cut := full[:int64(len(full))-int64(len(r.signer.MerkleBox(4)))-100] // a torn last fragment
	rep, err := fmp4.Scan(bytes.NewReader(cut), int64(len(cut)))
	if err != nil || len(rep.Fragments) != 4 {
		t.Fatalf("scan of the cut clip: %v %d", err, len(rep.Fragments))
	}
	m := &memFile{b: slices.Clone(cut[:rep.ValidSize])}
	size, err := r.signer.SignMP4InPlace(m, rep.ValidSize, captured)
	if err != nil {
		t.Fatal(err)
	}
	recovered := write("recovered.mp4", m.b[:size])

	sl, err := splitSigned(signed)
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(signed)
	flipped[sl.frags[2][1].off+200] ^= 1
	dropped := signed[:sl.frags[4][0].off]
	swapped := sl.join(signed, 0, 1, 3, 2, 4)
	other := slotClip(t, r.signer, 25, 4, 160, 120, 150).seal(t)
	ol, err := splitSigned(other)
	if err != nil {
		t.Fatal(err)
	}
	moved := slices.Concat(signed[:sl.box("moov").off], other[ol.box("moov").off:])
	jobs := []readJob{{file, "video/mp4", caPEM}, {recovered, "video/mp4", caPEM}, {file, "video/mp4", ""}}
	for i, b := range [][]byte{flipped, dropped, swapped, moved} {
		jobs = append(jobs, readJob{write(fmt.Sprintf("tampered%d.mp4", i), b), "video/mp4", caPEM})
		if _, err := VerifyMP4(bytes.NewReader(b), int64(len(b)), r.ca.Pool()); !errors.Is(err, ErrHashMismatch) {
			t.Errorf("VerifyMP4 tampered %d: %v", i, err)
		}
	}
	reps := officialReader(t, jobs)
	for i, rep := range reps[:2] {
		if rep.Error != "" || rep.ValidationState != "Trusted" || len(rep.failures()) != 0 ||
			!slices.Contains(codes(rep.Results.Active.Success), "assertion.bmffHash.match") {
			t.Fatalf("%s: %+v", filepath.Base(jobs[i].File), rep)
		}
		t.Logf("%s: %s, success %v", filepath.Base(jobs[i].File), rep.ValidationState, codes(rep.Results.Active.Success))
	}
	if rep := reps[2]; rep.Error != "" || rep.ValidationState != "Valid" {
		t.Fatalf("no trust check: %+v", rep)
	}
	for i, rep := range reps[3:] {
		if rep.Error != "" || rep.ValidationState != "Invalid" || !slices.Contains(rep.failures(), "assertion.bmffHash.mismatch") {
			t.Errorf("tampered %d: want Invalid with assertion.bmffHash.mismatch, got %+v", i, rep)
			continue
		}
		t.Logf("tampered %d: %s, %v: %s", i, rep.ValidationState, rep.failures(), rep.Results.Active.Failure[0].Explanation)
	}
}

// FuzzSignMP4InPlace: signing in place a clip read back from the card never
// panics or hangs, writes only inside the file or right after it, and what
// it signs verifies.
func FuzzSignMP4InPlace(f *testing.F) {
	r := newRig(f)
	sw := slotClip(f, r.signer, 6, 2, 32, 24, 4)
	f.Add(sw.out.Bytes())
	f.Add(sw.out.Bytes()[:sw.out.Len()-10])
	f.Add(sw.seal(f))
	f.Add(testClip(f, 6, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &memFile{b: slices.Clone(b)}
		size, err := r.signer.SignMP4InPlace(m, int64(len(b)), captured)
		if err != nil {
			if !bytes.Equal(m.b, b) {
				t.Fatal("a failed signing changed the file")
			}
			return
		}
		if size != int64(len(m.b)) || size < int64(len(b)) {
			t.Fatalf("size %d, file %d, was %d", size, len(m.b), len(b))
		}
		if _, err := VerifyMP4(bytes.NewReader(m.b), size, r.ca.Pool()); err != nil {
			t.Fatalf("signed in place, then: %v", err)
		}
	})
}
