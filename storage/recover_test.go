package storage_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/storagetest"
)

// goodClip returns the bytes of a sealed clip of 30 frames in 3 fragments and
// the offsets where its fragments end.
func goodClip(t *testing.T) ([]byte, []int64) {
	t.Helper()
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	info := sealClip(t, s, t0, 1, 30)
	data, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	r := scanFile(t, info.Path)
	var ends []int64
	for _, f := range r.Fragments {
		ends = append(ends, f.End())
	}
	return data, append([]int64{r.InitSize}, ends...)
}

func TestRecoverParts(t *testing.T) {
	clip, ends := goodClip(t) // ends: init, fragment 1, 2, 3
	zeros := make([]byte, 4096)
	for _, tc := range []struct {
		name      string
		data      []byte
		sealed    bool
		fragments int
	}{
		{"whole", clip, true, 3},
		{"cut inside the last fragment", clip[:ends[3]-100], true, 2},
		{"cut just after a fragment", clip[:ends[2]], true, 2},
		{"cut inside the first moof", clip[:ends[0]+20], false, 0},
		{"only the init segment", clip[:ends[0]], false, 0},
		{"cut inside the init segment", clip[:ends[0]-10], false, 0},
		{"empty", nil, false, 0},
		{"zeros after the data (blocks never written)", append(bytes.Clone(clip[:ends[2]]), zeros...), true, 2},
		{"garbage after the data", append(bytes.Clone(clip), "garbage!"...), true, 3},
		{"a flipped byte in the last mdat", flip(clip, int(ends[3])-50), true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := storagetest.NewCard(t, 0)
			s, _ := newStore(t, card, storage.StoreConfig{})
			dir := filepath.Join(s.Dir(), "2026", "05", "14")
			os.MkdirAll(dir, 0o755)
			part := filepath.Join(dir, "153012-e1.mp4.part")
			if err := os.WriteFile(part, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := s.Recover()
			if err != nil {
				t.Fatal(err)
			}
			final := filepath.Join(dir, "153012-e1.mp4")
			if exists(part) {
				t.Error(".part left behind")
			}
			if !tc.sealed {
				if rep.Removed != 1 || rep.Sealed != 0 || exists(final) {
					t.Errorf("report %+v, clip exists %v; want removed", rep, exists(final))
				}
				return
			}
			if rep.Sealed != 1 || rep.Clips != 1 {
				t.Fatalf("report %+v", rep)
			}
			r := scanFile(t, final)
			if r.Stop != nil || r.Trailing != 0 || len(r.Fragments) != tc.fragments {
				t.Errorf("recovered: %d fragments, trailing %d, stop %v", len(r.Fragments), r.Trailing, r.Stop)
			}
			if wantCut := int64(len(tc.data)) - r.ValidSize; rep.CutBytes != wantCut {
				t.Errorf("cut %d bytes, want %d", rep.CutBytes, wantCut)
			}
			clips, _ := s.Clips()
			if len(clips) != 1 || clips[0].State != storage.ClipSealed || !clips[0].Recovered || clips[0].Frames != 10*tc.fragments ||
				clips[0].Duration != time.Duration(tc.fragments)*time.Second || clips[0].Thumbnail != "" {
				t.Errorf("listing %+v", clips)
			}
		})
	}
}

func flip(b []byte, at int) []byte {
	c := bytes.Clone(b)
	c[at] ^= 0xff
	return c
}

func TestRecoverLeavesSealedClipsAlone(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	a := sealClip(t, s, t0, 1, 20)
	b := sealClip(t, s, t0.Add(time.Minute), 2, 20)
	// b's video is torn after sealing (it cannot happen, but recovery must
	// still not touch a sealed video).
	data, _ := os.ReadFile(b.Path)
	os.WriteFile(b.Path, data[:len(data)-30], 0o644)
	hashA, hashB := fileHash(t, a.Path), fileHash(t, b.Path)
	dir := filepath.Dir(a.Path)
	extra := map[string]string{
		"153012-e1.mp4.part":   "a stale part next to a sealed clip",
		"160000-e9.jpg":        "thumbnail of a deleted clip",
		"160000-e9.uploaded":   "marker of a deleted clip",
		".153112-e2.json.tmp5": "temporary file",
		"notes.txt":            "not ours",
	}
	for name, content := range extra {
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	rep, err := s.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orphans != 4 || rep.Sealed != 0 || rep.Removed != 0 || rep.Completed != 0 || rep.Clips != 2 {
		t.Errorf("report %+v", rep)
	}
	if fileHash(t, a.Path) != hashA || fileHash(t, b.Path) != hashB {
		t.Error("a sealed clip changed")
	}
	for name := range extra {
		if exists(filepath.Join(dir, name)) != (name == "notes.txt") {
			t.Errorf("%s: exists %v", name, exists(filepath.Join(dir, name)))
		}
	}
}

func TestRecoverCompletesAClipSealedWithoutMetadata(t *testing.T) {
	// A crash between the rename and the metadata: the video is sealed,
	// there is a thumbnail but no metadata.
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	info := sealClip(t, s, t0, 4, 20)
	os.Remove(info.Metadata)
	rep, err := s.Recover()
	if err != nil || rep.Completed != 1 {
		t.Fatalf("Recover = %+v, %v", rep, err)
	}
	clips, _ := s.Clips()
	if len(clips) != 1 || clips[0].State != storage.ClipSealed || clips[0].Recovered || clips[0].Thumbnail != info.Thumbnail ||
		clips[0].ThumbnailSHA256 != info.ThumbnailSHA256 || clips[0].SHA256 != info.SHA256 {
		t.Errorf("completed %+v, was %+v", clips, info)
	}
}

// FuzzRecoverPart feeds any bytes as a .part left by a crash: Recover must
// seal a clip that scans cleanly, or remove the file, and never fail.
func FuzzRecoverPart(f *testing.F) {
	clip, ends := goodClipBytes(f)
	f.Add(clip)
	for _, e := range ends {
		f.Add(clip[:e])
		f.Add(clip[:e-1])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		card := storagetest.NewCard(t, 0)
		s, _ := newStore(t, card, storage.StoreConfig{})
		dir := filepath.Join(s.Dir(), "2026", "05", "14")
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, "153012-e1.mp4.part"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := s.Recover()
		if err != nil {
			t.Fatalf("Recover: %v", err)
		}
		final := filepath.Join(dir, "153012-e1.mp4")
		switch {
		case rep.Sealed == 1:
			r := scanFile(t, final)
			if r.Stop != nil || r.Trailing != 0 || len(r.Fragments) == 0 || rep.CutBytes != int64(len(data))-r.ValidSize {
				t.Fatalf("sealed clip: stop %v, trailing %d, %d fragments, cut %d", r.Stop, r.Trailing, len(r.Fragments), rep.CutBytes)
			}
			if clips, _ := s.Clips(); len(clips) != 1 || clips[0].State != storage.ClipSealed {
				t.Fatalf("listing %+v", clips)
			}
		case rep.Removed == 1:
			if exists(final) {
				t.Fatal("removed and sealed")
			}
		default:
			t.Fatalf("report %+v", rep)
		}
	})
}

// goodClipBytes is goodClip for a fuzz target's seeds.
func goodClipBytes(tb testing.TB) ([]byte, []int64) {
	tb.Helper()
	var buf bytes.Buffer
	w, err := fmp4.NewWriter(&buf, mjpeg)
	if err != nil {
		tb.Fatal(err)
	}
	w.WriteInit()
	ends := []int64{int64(buf.Len())}
	for i := range 30 {
		if i > 0 && i%10 == 0 {
			w.Flush()
			ends = append(ends, int64(buf.Len()))
		}
		w.AddSample(fakeJPEG(200, byte(i)), time.Duration(i)*100*time.Millisecond, true)
	}
	w.Flush()
	ends = append(ends, int64(buf.Len()))
	return buf.Bytes(), ends
}

// TestRecoverSealCutInTheRename: on vfat a power cut in the seal's rename
// leaves the .part and the sealed name on the same clusters, and the card
// check at boot truncates one of them (seen in the QEMU power-cut test:
// fsck.vfat "share clusters. Truncating second to 0 bytes." on the .mp4).
// The clip must survive whichever name kept the data, and a sealed video
// emptied by a repair must not make every start fail.
func TestRecoverSealCutInTheRename(t *testing.T) {
	clip, _ := goodClip(t)
	for _, tc := range []struct {
		name        string
		part, video []byte // nil: the file does not exist
		want        bool   // a sealed clip of 3 fragments at the end
		removed     int
	}{
		{"the .mp4 emptied, the .part whole", clip, []byte{}, true, 0},
		{"the .part emptied, the .mp4 whole", []byte{}, clip, true, 0},
		{"the .mp4 cut short, the .part whole", clip, clip[:100], true, 0},
		{"only an emptied .mp4", nil, []byte{}, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := storagetest.NewCard(t, 0)
			s, _ := newStore(t, card, storage.StoreConfig{})
			dir := filepath.Join(s.Dir(), "2026", "05", "14")
			os.MkdirAll(dir, 0o755)
			part, final := filepath.Join(dir, "153012-e1.mp4.part"), filepath.Join(dir, "153012-e1.mp4")
			if tc.part != nil {
				os.WriteFile(part, tc.part, 0o644)
			}
			if tc.video != nil {
				os.WriteFile(final, tc.video, 0o644)
			}
			rep, err := s.Recover()
			if err != nil || rep.Failed != 0 {
				t.Fatalf("Recover = %+v, %v; want no failure", rep, err)
			}
			if exists(part) {
				t.Error(".part left behind")
			}
			if rep.Removed != tc.removed {
				t.Errorf("removed %d, want %d (report %+v)", rep.Removed, tc.removed, rep)
			}
			if !tc.want {
				if exists(final) || rep.Clips != 0 {
					t.Errorf("an empty sealed video is still there (report %+v)", rep)
				}
				return
			}
			got, err := os.ReadFile(final)
			if err != nil || !bytes.Equal(got, clip) {
				t.Fatalf("the sealed clip has %d bytes (%v), want the whole clip of %d", len(got), err, len(clip))
			}
			clips, _ := s.Clips()
			if len(clips) != 1 || clips[0].State != storage.ClipSealed || clips[0].Frames != 30 {
				t.Errorf("listing %+v", clips)
			}
			// A second start finds nothing to do.
			if rep, err := s.Recover(); err != nil || rep.Failed+rep.Sealed+rep.Removed+rep.Completed != 0 {
				t.Errorf("second Recover = %+v, %v", rep, err)
			}
		})
	}
}

// TestChecked: the store reports the card checked only once Recover has run,
// and not again after the card was missing (another card may be in the slot)
// until Recover runs on it.
func TestChecked(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"new store", func() {}, false},
		{"a probe", func() { s.Check() }, false},
		{"recovered", func() { mustRecover(t, s) }, true},
		{"a probe of the same card", func() { s.Check() }, true},
		{"the card taken out", func() { card.SetState(storage.StateMissing); s.Check() }, false},
		{"a card back in", func() { card.SetState(storage.StateWritable); s.Check() }, false},
		{"recovered again", func() { mustRecover(t, s) }, true},
	}
	for _, st := range steps {
		st.do()
		if got := s.Checked(); got != st.want {
			t.Errorf("after %s: Checked() = %v, want %v", st.name, got, st.want)
		}
	}
}

func mustRecover(t *testing.T, s *storage.Store) {
	t.Helper()
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
}
