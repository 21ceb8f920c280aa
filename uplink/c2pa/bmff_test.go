package c2pa

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/fmp4/fmp4test"
)

// testClip is an MJPEG clip of frames 160x120 pictures at 10 fps, a
// fragment every perFrag frames.
func testClip(t testing.TB, frames, perFrag int) []byte {
	t.Helper()
	return testClipSized(t, frames, perFrag, 160, 120)
}

func testClipSized(t testing.TB, frames, perFrag, w, h int) []byte {
	t.Helper()
	var b bytes.Buffer
	mw, err := fmp4.NewWriter(&b, fmp4.Track{Codec: fmp4.MJPEG, Width: w, Height: h, FrameDuration: 100 * time.Millisecond})
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
		if (i+1)%perFrag == 0 {
			if _, err := mw.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if mw.PendingSamples() > 0 {
		if _, err := mw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func (s *Signer) signMP4(t testing.TB, clip []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	n, err := s.SignMP4(&out, bytes.NewReader(clip), int64(len(clip)), captured)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(out.Len()) {
		t.Fatalf("SignMP4 says %d bytes, wrote %d", n, out.Len())
	}
	return out.Bytes()
}

// TestOfficialReaderMP4: the CAI reader validates a signed clip (trusted with
// the dev CA as anchor), ffprobe still reads it, and a flipped byte in a
// fragment, a dropped fragment and two swapped fragments are reported.
func TestOfficialReaderMP4(t *testing.T) {
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
	clip := testClip(t, 25, 5)
	signed := r.signer.signMP4(t, clip)
	t.Logf("clip %d bytes, 5 fragments; signed %d bytes (+%d)", len(clip), len(signed), len(signed)-len(clip))
	if _, err := r.signer.SignMP4(&bytes.Buffer{}, bytes.NewReader(signed), int64(len(signed)), captured); !errors.Is(err, ErrSigned) {
		t.Errorf("signing a signed clip: %v, want ErrSigned", err)
	}
	file := write("signed.mp4", signed)
	p := fmp4test.ProbeFile(t, file)
	fmp4test.Check(t, p, "mjpeg", 160, 120, 25, 2500*time.Millisecond, 200*time.Millisecond)

	// Tampered copies: the signed file's boxes, rearranged.
	sl, err := splitSigned(signed)
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(signed)
	flipped[sl.frags[2][1].off+200] ^= 1 // a byte of the third fragment's mdat
	moov := slices.Clone(signed)
	moov[sl.box("moov").off+23] ^= 1   // a byte of the movie header's creation time
	cut := signed[:sl.frags[4][0].off] // the last fragment (and its Merkle box) dropped
	swapped := sl.join(signed, 0, 1, 3, 2, 4)
	// The manifest (and Merkle boxes) of this clip on another clip.
	other := r.signer.signMP4(t, testClip(t, 25, 4))
	ol, err := splitSigned(other)
	if err != nil {
		t.Fatal(err)
	}
	moved := slices.Concat(signed[:sl.box("moov").off], other[ol.box("moov").off:])
	jobs := []readJob{{file, "video/mp4", ""}, {file, "video/mp4", caPEM}, {file, "video/mp4", "none"},
		{write("flipped.mp4", flipped), "video/mp4", caPEM}, {write("moov.mp4", moov), "video/mp4", caPEM},
		{write("cut.mp4", cut), "video/mp4", caPEM}, {write("swapped.mp4", swapped), "video/mp4", caPEM},
		{write("moved.mp4", moved), "video/mp4", caPEM}}
	// Our own verifier agrees.
	if cr, err := VerifyMP4(bytes.NewReader(signed), int64(len(signed)), r.ca.Pool()); err != nil || !cr.Trusted ||
		cr.DeviceID != r.signer.DeviceID() || !cr.Captured.Equal(captured) {
		t.Fatalf("VerifyMP4: %v %+v", err, cr)
	}
	for _, j := range jobs[3:] {
		b, err := os.ReadFile(j.File)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VerifyMP4(bytes.NewReader(b), int64(len(b)), r.ca.Pool()); !errors.Is(err, ErrHashMismatch) {
			t.Errorf("VerifyMP4 %s: %v, want ErrHashMismatch", filepath.Base(j.File), err)
		} else {
			t.Logf("VerifyMP4 %s: %v", filepath.Base(j.File), err)
		}
	}
	if _, err := VerifyMP4(bytes.NewReader(clip), int64(len(clip)), nil); !errors.Is(err, ErrNoManifest) {
		t.Errorf("VerifyMP4 of the unsigned clip: %v", err)
	}
	reps := officialReader(t, jobs)
	if rep := reps[0]; rep.Error != "" || rep.ValidationState != "Valid" || len(rep.failures()) != 0 {
		t.Fatalf("no trust check: %+v", rep)
	}
	m := reps[0].Manifests[reps[0].ActiveLabel]
	if m.SignatureInfo.CommonName != r.signer.DeviceID() {
		t.Errorf("reader's signer %q, want %s", m.SignatureInfo.CommonName, r.signer.DeviceID())
	}
	if rep := reps[1]; rep.Error != "" || rep.ValidationState != "Trusted" || len(rep.failures()) != 0 ||
		!slices.Contains(codes(rep.Results.Active.Success), "assertion.bmffHash.match") {
		t.Fatalf("dev CA as anchor: %+v", rep)
	}
	t.Logf("signed clip, dev CA as anchor: %s, success %v", reps[1].ValidationState, codes(reps[1].Results.Active.Success))
	if f := reps[2].failures(); !slices.Equal(f, []string{"signingCredential.untrusted"}) {
		t.Errorf("no anchors: want only signingCredential.untrusted, got %+v", reps[2])
	}
	for i, rep := range reps[3:] {
		name := filepath.Base(jobs[3+i].File)
		if rep.Error != "" || rep.ValidationState != "Invalid" || !slices.Contains(rep.failures(), "assertion.bmffHash.mismatch") {
			t.Errorf("%s: want Invalid with assertion.bmffHash.mismatch, got %+v", name, rep)
			continue
		}
		t.Logf("%s: %s, %v: %s", name, rep.ValidationState, rep.failures(), rep.Results.Active.Failure[0].Explanation)
	}
}

// signedLayout is where the boxes of a signed clip are.
type signedLayout struct {
	init  []mp4Box
	frags [][]mp4Box // moof, mdat, Merkle box
}

func splitSigned(b []byte) (*signedLayout, error) {
	var l signedLayout
	for off := int64(0); off < int64(len(b)); {
		typ, n, _, err := readBoxHeader(bytes.NewReader(b), off, int64(len(b)))
		if err != nil {
			return nil, err
		}
		box := mp4Box{typ: typ, off: off, size: n}
		switch {
		case typ == "moof":
			l.frags = append(l.frags, []mp4Box{box})
		case len(l.frags) > 0:
			l.frags[len(l.frags)-1] = append(l.frags[len(l.frags)-1], box)
		default:
			l.init = append(l.init, box)
		}
		off += n
	}
	return &l, nil
}

func (l *signedLayout) box(typ string) mp4Box {
	for _, b := range l.init {
		if b.typ == typ {
			return b
		}
	}
	panic("no " + typ)
}

// join is b's init segment followed by its fragments in the order given.
func (l *signedLayout) join(b []byte, order ...int) []byte {
	out := slices.Clone(b[:l.frags[0][0].off])
	for _, i := range order {
		f := l.frags[i]
		out = append(out, b[f[0].off:f[len(f)-1].off+f[len(f)-1].size]...)
	}
	return out
}

// FuzzVerifyMP4: VerifyMP4 never panics or hangs on outside bytes.
func FuzzVerifyMP4(f *testing.F) {
	r := newRig(f)
	clip := testClip(f, 6, 2)
	signed := r.signer.signMP4(f, clip)
	f.Add(signed)
	f.Add(clip)
	f.Add(signed[:len(signed)-10])
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := VerifyMP4(bytes.NewReader(b), int64(len(b)), r.ca.Pool())
		if err == nil && cr.DeviceID != r.signer.DeviceID() {
			t.Fatalf("verified with device %s", cr.DeviceID)
		}
	})
}

// BenchmarkSignMP4 signs a 10 s 640x480 MJPEG clip at 10 fps in fragments
// of 2 s (about what the recorder writes), to io.Discard: the time is the
// two reads and the hashing, one ECDSA signature; bytes-added/op is what
// the manifest store and the Merkle boxes add.
func BenchmarkSignMP4(b *testing.B) {
	r := newRig(b)
	clip := testClipSized(b, 100, 20, 640, 480)
	src := bytes.NewReader(clip)
	b.SetBytes(int64(len(clip)))
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		var err error
		if n, err = r.signer.SignMP4(io.Discard, src, int64(len(clip)), captured); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n-int64(len(clip))), "bytes-added/op")
	b.ReportMetric(float64(len(clip)), "clip-bytes")
}
