package storage_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/storagetest"
	"github.com/camagent/camagent/uplink/c2pa"
	"github.com/camagent/camagent/uplink/ingest/devca"
)

// credentials is a device's Content Credentials signer and its dev CA.
func credentials(t testing.TB) (*c2pa.Signer, *x509.CertPool) {
	t.Helper()
	ca, err := devca.New("storage test CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert, err := ca.IssueC2PA(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c2pa.New(c2pa.Config{Key: key, Chain: []*x509.Certificate{cert, ca.Certificate()}})
	if err != nil {
		t.Fatal(err)
	}
	return s, ca.Pool()
}

func verifyClip(t *testing.T, path string, roots *x509.CertPool) *c2pa.Credential {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := c2pa.VerifyMP4(bytes.NewReader(b), int64(len(b)), roots)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return cr
}

func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

// TestSealSignsClip: with StoreConfig.Credentials a sealed clip carries
// Content Credentials, and its size, SHA-256 and the OnSeal hook (our own
// manifest) are those of the signed file.
func TestSealSignsClip(t *testing.T) {
	signer, roots := credentials(t)
	var sealed storage.ClipInfo
	s, _ := newStore(t, storagetest.NewCard(t, 0), storage.StoreConfig{Credentials: signer,
		OnSeal: func(ci storage.ClipInfo) error { sealed = ci; return nil }})
	info := sealClip(t, s, t0, 1, 30)
	cr := verifyClip(t, info.Path, roots)
	if !cr.Trusted || cr.DeviceID != signer.DeviceID() || !cr.Captured.Equal(t0) {
		t.Errorf("credential %+v", cr)
	}
	st, err := os.Stat(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != st.Size() || info.SHA256 != fileHash(t, info.Path) || sealed.SHA256 != info.SHA256 {
		t.Errorf("info size %d sha %s, OnSeal sha %s; file %d bytes sha %s", info.Size, info.SHA256, sealed.SHA256, st.Size(), fileHash(t, info.Path))
	}
	if r := scanFile(t, info.Path); r.Stop != nil || len(r.Fragments) != 3 {
		t.Errorf("scan of the signed clip: %d fragments, stop %v", len(r.Fragments), r.Stop)
	}
	noTemps(t, filepath.Dir(info.Path))
}

// realClip writes a clip of real JPEG pictures (so Recover can make a
// thumbnail of it) and returns its bytes, unsigned.
func realClip(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 160, 120))
	for y := range 120 {
		for x := range 160 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y * 2), uint8(x ^ y), 255})
		}
	}
	var pic bytes.Buffer
	if err := jpeg.Encode(&pic, img, nil); err != nil {
		t.Fatal(err)
	}
	s, _ := newStore(t, storagetest.NewCard(t, 0), storage.StoreConfig{})
	cw, err := s.Create(storage.ClipSpec{Start: t0, Event: 1, Track: mjpeg, FragmentDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if err := cw.AddSample(pic.Bytes(), t0.Add(time.Duration(i)*100*time.Millisecond), true); err != nil {
			t.Fatal(err)
		}
	}
	info, err := cw.Seal(storage.ClipFinish{Events: []uint64{1}, EventTime: t0, Part: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecoverSignsClip: a .part torn by a power cut is cut back to its last
// whole fragment and signed, and its rebuilt thumbnail too; a .part already
// signed (a crash between signing and the seal's rename) is sealed as it is.
func TestRecoverSignsClip(t *testing.T) {
	signer, roots := credentials(t)
	clip := realClip(t)
	var signedClip bytes.Buffer
	if _, err := signer.SignMP4(&signedClip, bytes.NewReader(clip), int64(len(clip)), t0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		data      []byte
		fragments int
	}{
		{"torn", clip[:len(clip)-500], 2},
		{"signed already", signedClip.Bytes(), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, storagetest.NewCard(t, 0), storage.StoreConfig{Credentials: signer})
			dir := filepath.Join(s.Dir(), "2026", "05", "14")
			os.MkdirAll(dir, 0o755)
			if err := os.WriteFile(filepath.Join(dir, "153012-e1.mp4.part"), tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Recover()
			if err != nil || rep.Sealed != 1 {
				t.Fatalf("recover: %v %+v", err, rep)
			}
			final := filepath.Join(dir, "153012-e1.mp4")
			cr := verifyClip(t, final, roots)
			if cr.DeviceID != signer.DeviceID() {
				t.Errorf("credential %+v", cr)
			}
			if r := scanFile(t, final); len(r.Fragments) != tc.fragments || r.Stop != nil {
				t.Errorf("%d fragments, stop %v; want %d", len(r.Fragments), r.Stop, tc.fragments)
			}
			thumb, err := os.ReadFile(filepath.Join(dir, "153012-e1.jpg"))
			if err != nil {
				t.Fatal(err)
			}
			if cr, err := c2pa.Verify(thumb, roots); err != nil || cr.DeviceID != signer.DeviceID() {
				t.Errorf("rebuilt thumbnail: %v %+v", err, cr)
			}
			noTemps(t, dir)
		})
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// TestSealSignsInPlace: with a signer that signs in place, the seal writes
// the signed manifest into the box reserved at creation: the sealed video is
// the file the recorder wrote (same inode, no temporary copy), the bytes
// written for it are its size (not twice), and it verifies. A clip that
// outgrows its reservation is signed by a copy and verifies too.
func TestSealSignsInPlace(t *testing.T) {
	signer, roots := credentials(t)
	for _, tc := range []struct {
		name         string
		maxFragments int
		inPlace      bool
	}{{"in place", 0, true}, {"outgrown: a copy", 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, storagetest.NewCard(t, 0), storage.StoreConfig{Credentials: signer})
			cw, err := s.Create(storage.ClipSpec{Start: t0, Event: 1, Track: mjpeg, FragmentDuration: time.Second,
				MaxFragments: tc.maxFragments})
			if err != nil {
				t.Fatal(err)
			}
			part := filepath.Join(s.Dir(), "2026", "05", "14", "153012-e1.mp4.part")
			ino := inode(t, part)
			for i := range 30 {
				if err := cw.AddSample(fakeJPEG(1000, byte(i)), t0.Add(time.Duration(i)*100*time.Millisecond), true); err != nil {
					t.Fatal(err)
				}
			}
			before := s.Status().BytesWritten
			info, err := cw.Seal(storage.ClipFinish{Events: []uint64{1}, EventTime: t0, Part: 1})
			if err != nil {
				t.Fatal(err)
			}
			cr := verifyClip(t, info.Path, roots)
			if !cr.Trusted || !cr.Captured.Equal(t0) {
				t.Errorf("credential %+v", cr)
			}
			if info.Size != fileSize(t, info.Path) || info.SHA256 != fileHash(t, info.Path) {
				t.Errorf("info size %d sha %s; file %d bytes sha %s", info.Size, info.SHA256, fileSize(t, info.Path), fileHash(t, info.Path))
			}
			if r := scanFile(t, info.Path); r.Stop != nil || len(r.Fragments) != 3 {
				t.Errorf("scan: %d fragments, stop %v", len(r.Fragments), r.Stop)
			}
			// At the seal: the last fragment, the manifest (and with a copy,
			// the whole clip again), and the metadata sidecar.
			atSeal := s.Status().BytesWritten - before
			t.Logf("clip %d bytes; written at the seal %d bytes", info.Size, atSeal)
			if got := inode(t, info.Path) == ino; got != tc.inPlace {
				t.Errorf("sealed video is the file written: %v, want %v", got, tc.inPlace)
			}
			if tc.inPlace && atSeal >= uint64(info.Size)/2 || !tc.inPlace && atSeal < uint64(info.Size) {
				t.Errorf("%d bytes written at the seal of a clip of %d", atSeal, info.Size)
			}
			noTemps(t, filepath.Dir(info.Path))
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestRecoverSignsInPlace: a clip written with a reserved manifest box and
// cut by a power cut anywhere (after a whole fragment and its Merkle box,
// inside a Merkle box, inside a fragment, or after the seal's write of the
// manifest but before its rename) is cut back to its last whole fragment and
// signed in place (the same file), and verifies.
func TestRecoverSignsInPlace(t *testing.T) {
	signer, roots := credentials(t)
	s, _ := newStore(t, storagetest.NewCard(t, 0), storage.StoreConfig{Credentials: signer})
	cw := writeClip(t, s, t0, 1, 30)
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := cw.Abort(); err != nil { // three fragments, as a crash leaves them
		t.Fatal(err)
	}
	dir := filepath.Join(s.Dir(), "2026", "05", "14")
	whole, err := os.ReadFile(filepath.Join(dir, "153012-e1.mp4.part"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "153012-e1.mp4.part"))
	merkle := len(signer.MerkleBox(2))
	// The seal wrote the manifest, then the power went: sign a copy of
	// the .part in place to get that state.
	sealed := &memFile{b: bytes.Clone(whole)}
	if _, err := signer.SignMP4InPlace(sealed, int64(len(whole)), t0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		data      []byte
		fragments int
	}{
		{"whole", whole, 3},
		{"in the last Merkle box", whole[:len(whole)-merkle/2], 3},
		{"in a fragment", whole[:len(whole)-merkle-300], 2},
		{"after the seal's write", sealed.b, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t, storagetest.NewCard(t, 0), storage.StoreConfig{Credentials: signer})
			dir := filepath.Join(s.Dir(), "2026", "05", "14")
			os.MkdirAll(dir, 0o755)
			part := filepath.Join(dir, "153012-e1.mp4.part")
			if err := os.WriteFile(part, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			ino := inode(t, part)
			rep, err := s.Recover()
			if err != nil || rep.Sealed != 1 {
				t.Fatalf("recover: %v %+v", err, rep)
			}
			final := filepath.Join(dir, "153012-e1.mp4")
			verifyClip(t, final, roots)
			if inode(t, final) != ino {
				t.Error("recovery signed a copy, not the file in place")
			}
			if r := scanFile(t, final); len(r.Fragments) != tc.fragments || r.Stop != nil {
				t.Errorf("%d fragments, stop %v; want %d", len(r.Fragments), r.Stop, tc.fragments)
			}
			noTemps(t, dir)
		})
	}
}

// memFile is a file in memory that a signer writes into.
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
