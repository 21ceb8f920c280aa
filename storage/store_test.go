package storage_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/storagetest"
)

func TestClipLifecycle(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	var completed []storage.ClipInfo
	s, _ := newStore(t, card, storage.StoreConfig{OnComplete: func(c storage.ClipInfo) { completed = append(completed, c) }})
	cw := writeClip(t, s, t0, 42, 25)
	if cw.Name() != "2026/05/14/153012-e42" {
		t.Errorf("name %q", cw.Name())
	}
	part := filepath.Join(s.Dir(), "2026", "05", "14", "153012-e42.mp4.part")
	if !exists(part) {
		t.Fatalf("no %s while recording", part)
	}
	clips, err := s.Clips()
	if err != nil || len(clips) != 1 || clips[0].State != storage.ClipRecording || clips[0].Frames != 20 {
		t.Fatalf("Clips while recording = %+v, %v; want one recording clip of 20 frames (two fragments)", clips, err)
	}
	info, err := cw.Seal(storage.ClipFinish{Events: []uint64{42}, EventTime: t0.Add(time.Second), Part: 1, Thumbnail: fakeJPEG(300, 1), PeakScore: 0.5, PeakBoxes: 3})
	if err != nil {
		t.Fatal(err)
	}
	if exists(part) || !exists(info.Path) || !exists(info.Thumbnail) || !exists(info.Metadata) {
		t.Fatalf("after sealing: part %v, clip %v, thumbnail %v, metadata %v", exists(part), exists(info.Path), exists(info.Thumbnail), exists(info.Metadata))
	}
	if info.State != storage.ClipSealed || info.Frames != 25 || info.Duration != 2500*time.Millisecond || !info.Start.Equal(t0) {
		t.Errorf("info %+v", info)
	}
	if got := fileHash(t, info.Path); got != info.SHA256 {
		t.Errorf("sha256 %s, file has %s", info.SHA256, got)
	}
	r := scanFile(t, info.Path)
	if r.Stop != nil || len(r.Fragments) != 3 || r.Samples() != 25 || r.Trailing != 0 {
		t.Errorf("scan: %d fragments, %d samples, stop %v", len(r.Fragments), r.Samples(), r.Stop)
	}
	f, _ := os.Open(info.Metadata)
	m, err := storage.ReadMetadata(f)
	f.Close()
	if err != nil || m.Frames != 25 || m.DurationMS != 2500 || m.SHA256 != info.SHA256 || m.Thumbnail != "153012-e42.jpg" || m.Part != 1 || m.PeakBoxes != 3 {
		t.Errorf("metadata %+v, %v", m, err)
	}
	if len(completed) != 1 || completed[0].Name != info.Name {
		t.Errorf("OnComplete got %+v", completed)
	}
	if err := s.MarkUploaded(info.Name); err != nil {
		t.Fatal(err)
	}
	if up, err := s.IsUploaded(info.Name); !up || err != nil {
		t.Errorf("IsUploaded = %v, %v", up, err)
	}
	clips, _ = s.Clips()
	if len(clips) != 1 || clips[0].State != storage.ClipUploaded || clips[0].Duration != 2500*time.Millisecond || clips[0].Thumbnail == "" || clips[0].PeakBoxes != 3 {
		t.Errorf("Clips after upload = %+v", clips)
	}
	st := s.Status()
	// Syncs: 5 folders made, the folder after create, 3 fragments, the
	// folder after the rename, 2 per sidecar (thumbnail, metadata, marker).
	if st.Clips != 1 || st.Uploaded != 1 || st.Sealed != 1 || st.Syncs != 5+1+3+1+6 || st.State != storage.StateWritable {
		t.Errorf("status %+v", st)
	}
	if err := s.MarkUploaded("2026/05/14/153013-e42"); !errors.Is(err, storage.ErrUnknownClip) {
		t.Errorf("MarkUploaded of a missing clip = %v", err)
	}
	if name, err := s.NameOf(info.Thumbnail); name != info.Name || err != nil {
		t.Errorf("NameOf(thumbnail) = %q, %v", name, err)
	}
}

func TestSealOrder(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	var s *storage.Store
	calls := 0
	s, _ = newStore(t, card, storage.StoreConfig{
		OnSeal: func(c storage.ClipInfo) error {
			calls++
			if !exists(c.Path) || exists(c.Path+storage.ExtPart) || !exists(c.Thumbnail) {
				t.Errorf("OnSeal: video %v, part %v, thumbnail %v; want sealed video and thumbnail", exists(c.Path), exists(c.Path+storage.ExtPart), exists(c.Thumbnail))
			}
			if exists(strings.TrimSuffix(c.Path, storage.ExtClip) + storage.ExtMetadata) {
				t.Error("OnSeal: metadata written before the hook")
			}
			if c.SHA256 != fileHash(t, c.Path) || c.State != storage.ClipIncomplete || !strings.HasSuffix(c.Manifest, storage.ExtManifest) {
				t.Errorf("OnSeal info %+v", c)
			}
			return atomicfile.WriteFile(c.Manifest, []byte("signed"), 0o644)
		},
		OnComplete: func(c storage.ClipInfo) {
			if !exists(c.Metadata) {
				t.Error("OnComplete before the metadata exists")
			}
		},
	})
	info := sealClip(t, s, t0, 1, 5)
	if calls != 1 || !exists(info.Manifest) {
		t.Errorf("OnSeal calls %d, manifest %v", calls, exists(info.Manifest))
	}
	clips, _ := s.Clips()
	if len(clips) != 1 || clips[0].Manifest == "" {
		t.Errorf("Clips = %+v", clips)
	}
}

func TestSealHookFailureIsRecovered(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	fail := true
	calls := 0
	s, _ := newStore(t, card, storage.StoreConfig{OnSeal: func(storage.ClipInfo) error {
		calls++
		if fail {
			return storagetest.ErrInjected
		}
		return nil
	}})
	info, err := writeClip(t, s, t0, 7, 12).Seal(storage.ClipFinish{Thumbnail: fakeJPEG(200, 3)})
	if !errors.Is(err, storage.ErrIncomplete) || !errors.Is(err, storagetest.ErrInjected) {
		t.Fatalf("Seal = %v, want ErrIncomplete", err)
	}
	hash := fileHash(t, info.Path)
	clips, _ := s.Clips()
	if len(clips) != 1 || clips[0].State != storage.ClipIncomplete {
		t.Fatalf("Clips = %+v, want one incomplete", clips)
	}
	fail = false
	rep, err := s.Recover()
	if err != nil || rep.Completed != 1 || rep.Sealed != 0 || calls != 2 {
		t.Fatalf("Recover = %+v, %v; hook calls %d", rep, err, calls)
	}
	clips, _ = s.Clips()
	if len(clips) != 1 || clips[0].State != storage.ClipSealed || clips[0].Frames != 12 || clips[0].Thumbnail == "" {
		t.Errorf("after recovery: %+v", clips)
	}
	if fileHash(t, info.Path) != hash || clips[0].SHA256 != hash {
		t.Error("recovery changed a sealed clip")
	}
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		state string
	}{
		{"EIO", syscall.EIO, storage.StateIOError},
		{"EROFS", syscall.EROFS, storage.StateReadOnly},
		{"ENOSPC", syscall.ENOSPC, storage.StateFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := storagetest.NewCard(t, 0)
			files := &storagetest.FailingFiles{Err: tc.err}
			s, clk := newStore(t, card, storage.StoreConfig{CreateFile: files.Create})
			cw := writeClip(t, s, t0, 3, 21) // two fragments written, one pending
			files.Fail(true)
			var err error
			for i := 21; i < 40 && err == nil; i++ { // until a fragment is written
				err = cw.AddSample(fakeJPEG(1000, 1), t0.Add(time.Duration(i)*100*time.Millisecond), true)
			}
			if !errors.Is(err, tc.err) || cw.Err() == nil {
				t.Fatalf("AddSample on a failing card = %v", err)
			}
			if got := storage.StateOf(err); got != tc.state {
				t.Errorf("StateOf = %s, want %s", got, tc.state)
			}
			if st := s.Status(); st.State != tc.state || st.Error == "" {
				t.Errorf("status %s %q, want %s", st.State, st.Error, tc.state)
			}
			if h := s.Check(); h.State != storage.StateIOError {
				t.Errorf("Check right after the error = %s, want io-error", h.State)
			}
			if _, err := cw.Seal(storage.ClipFinish{}); !errors.Is(err, tc.err) {
				t.Errorf("Seal after the error = %v", err)
			}
			part := filepath.Join(s.Dir(), "2026/05/14/153012-e3.mp4.part")
			if !exists(part) {
				t.Fatal("the torn clip was not left for recovery")
			}
			files.Fail(false)
			clk.Add(time.Minute)
			if h := s.Check(); h.State != storage.StateWritable {
				t.Fatalf("Check after the hold = %s", h.State)
			}
			rep, err := s.Recover()
			if err != nil || rep.Sealed != 1 || rep.CutBytes == 0 {
				t.Fatalf("Recover = %+v, %v", rep, err)
			}
			clips, _ := s.Clips()
			if len(clips) != 1 || clips[0].Frames != 20 || !clips[0].Recovered || clips[0].State != storage.ClipSealed {
				t.Fatalf("recovered %+v", clips)
			}
			if r := scanFile(t, clips[0].Path); r.Stop != nil || len(r.Fragments) != 2 {
				t.Errorf("recovered clip: %d fragments, stop %v", len(r.Fragments), r.Stop)
			}
		})
	}
}

func TestCreateNeedsAWritableCard(t *testing.T) {
	for _, state := range []string{storage.StateReadOnly, storage.StateMissing} {
		t.Run(state, func(t *testing.T) {
			card := storagetest.NewCard(t, 0)
			s, _ := newStore(t, card, storage.StoreConfig{})
			card.SetState(state)
			if _, err := s.Create(storage.ClipSpec{Start: t0, Track: mjpeg}); !errors.Is(err, storage.ErrNotWritable) {
				t.Errorf("Create = %v, want ErrNotWritable", err)
			}
			if _, err := s.Recover(); !errors.Is(err, storage.ErrNotWritable) {
				t.Errorf("Recover = %v, want ErrNotWritable", err)
			}
			if entries, _ := os.ReadDir(card.Mount); len(entries) != 0 {
				t.Errorf("wrote into an unusable card: %v", entries)
			}
			if st := s.Status(); st.State != state {
				t.Errorf("status %s", st.State)
			}
		})
	}
	card := storagetest.NewCard(t, 64<<10)
	s, _ := newStore(t, card, storage.StoreConfig{})
	card.SetCapacity(card.Used() + 1000)
	if _, err := s.Create(storage.ClipSpec{Start: t0, Track: mjpeg}); !errors.Is(err, storage.ErrNotWritable) {
		t.Errorf("Create on a full card = %v", err)
	}
}

func TestEmptyClipIsRemoved(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	cw := writeClip(t, s, t0, 1, 0)
	if _, err := cw.Seal(storage.ClipFinish{}); !errors.Is(err, storage.ErrEmptyClip) {
		t.Errorf("Seal = %v", err)
	}
	if clips, _ := s.Clips(); len(clips) != 0 {
		t.Errorf("Clips = %+v", clips)
	}
}

func TestNamesDoNotCollide(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	a := sealClip(t, s, t0, 5, 3)
	b := sealClip(t, s, t0.Add(300*time.Millisecond), 5, 3)
	open := writeClip(t, s, t0.Add(600*time.Millisecond), 5, 3)
	c := sealClip(t, s, t0.Add(700*time.Millisecond), 5, 3)
	want := []string{"2026/05/14/153012-e5", "2026/05/14/153012-e5-2", "2026/05/14/153012-e5-3", "2026/05/14/153012-e5-4"}
	if got := []string{a.Name, b.Name, open.Name(), c.Name}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("names %v, want %v", got, want)
	}
	open.Abort()
}

func TestRetention(t *testing.T) {
	type want struct {
		clip   int
		reason string
	}
	const n = 6
	for _, tc := range []struct {
		name     string
		uploaded []int
		// free space and quota in clip sizes, relative to the floors
		free, floor, critical, quota float64
		want                         []want
	}{
		{name: "enough space", uploaded: []int{1}, free: 10, floor: 5, critical: 2},
		{name: "free floor: oldest uploaded first", uploaded: []int{1, 3, 4}, free: 3.5, floor: 5, critical: 2,
			want: []want{{1, storage.ReasonFreeFloor}, {3, storage.ReasonFreeFloor}}},
		{name: "free floor: never clips not uploaded", uploaded: []int{2}, free: 2.5, floor: 5, critical: 2,
			want: []want{{2, storage.ReasonFreeFloor}}},
		{name: "critical floor: then oldest not uploaded", uploaded: []int{2}, free: 0.5, floor: 5, critical: 3,
			want: []want{{2, storage.ReasonFreeFloor}, {0, storage.ReasonCriticalFloor}, {1, storage.ReasonCriticalFloor}}},
		{name: "quota", uploaded: []int{0, 2, 5}, free: 20, floor: 5, critical: 2, quota: n - 1.5,
			want: []want{{0, storage.ReasonQuota}, {2, storage.ReasonQuota}}},
		{name: "quota never deletes clips not uploaded", uploaded: []int{3}, free: 20, floor: 5, critical: 2, quota: 2,
			want: []want{{3, storage.ReasonQuota}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := storagetest.NewCard(t, 1<<30)
			var deleted []storage.Deletion
			s, _ := newStore(t, card, storage.StoreConfig{OnDelete: func(d storage.Deletion) { deleted = append(deleted, d) }})
			var names []string
			for i := range n {
				names = append(names, sealClip(t, s, t0.Add(time.Duration(i)*time.Minute), 10+uint64(i), 10).Name)
			}
			for _, i := range tc.uploaded {
				if err := s.MarkUploaded(names[i]); err != nil {
					t.Fatal(err)
				}
			}
			// A clip being written is never deleted.
			open := writeClip(t, s, t0.Add(time.Hour), 99, 10)
			defer open.Abort()
			size := float64(s.Status().Bytes) / n // every clip is about the same size
			b := func(k float64) uint64 { return uint64(k * size) }
			card.SetCapacity(card.Used() + b(tc.free))
			s2, _ := newStore(t, card, storage.StoreConfig{
				Retention: storage.Retention{FreeFloor: b(tc.floor), CriticalFloor: b(tc.critical), Quota: b(tc.quota)},
				OnDelete:  func(d storage.Deletion) { deleted = append(deleted, d) },
			})
			got, err := s2.Enforce()
			if err != nil || got != len(tc.want) || len(deleted) != len(tc.want) {
				t.Fatalf("Enforce = %d, %v; deleted %+v; want %v", got, err, deleted, tc.want)
			}
			for i, w := range tc.want {
				d := deleted[i]
				up := false
				for _, u := range tc.uploaded {
					up = up || u == w.clip
				}
				if d.Name != names[w.clip] || d.Reason != w.reason || d.Uploaded != up || d.Size <= 0 {
					t.Errorf("deletion %d = %+v, want clip %d (%s) for %s", i, d, w.clip, names[w.clip], w.reason)
				}
				if exists(filepath.Join(s.Dir(), d.Name+storage.ExtClip)) || exists(filepath.Join(s.Dir(), d.Name+storage.ExtMetadata)) {
					t.Errorf("%s still on the card", d.Name)
				}
			}
			clips, _ := s2.Clips()
			if len(clips) != n+1-len(tc.want) {
				t.Errorf("%d clips left, want %d", len(clips), n+1-len(tc.want))
			}
			if st := s2.Status(); int(st.Deleted) != len(tc.want) {
				t.Errorf("status deleted %d", st.Deleted)
			}
		})
	}
}

func TestRetentionDefaults(t *testing.T) {
	if _, err := storage.NewStore(storage.StoreConfig{Card: storage.NewCard("/x"), Retention: storage.Retention{FreeFloor: 10, CriticalFloor: 20}}); err == nil {
		t.Error("critical floor above the free floor accepted")
	}
	if _, err := storage.NewStore(storage.StoreConfig{}); err == nil {
		t.Error("store without a card accepted")
	}
}

func TestListingOfUnrecoveredPart(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	cw := writeClip(t, s, t0, 8, 15)
	cw.Abort() // a crash: the .part stays
	clips, err := s.Clips()
	if err != nil || len(clips) != 1 || clips[0].State != storage.ClipPartial || clips[0].Size == 0 {
		t.Fatalf("Clips = %+v, %v", clips, err)
	}
	var _ fmp4.Report
}

// TestIndexFollowsCard: the agent's folder removed behind the store's back
// (no write fails) and clips recorded again: status counts the clips on the
// card, not the ones it remembered (it counted 25 where 6 existed), and
// retention works from the same truth. A single clip removed by hand is
// noticed too.
func TestIndexFollowsCard(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		sealClip(t, s, t0.Add(time.Duration(i)*time.Minute), uint64(i+1), 5)
	}
	if st := s.Status(); st.Clips != 25 {
		t.Fatalf("status counts %d clips, want 25", st.Clips)
	}
	if err := os.RemoveAll(card.Dir()); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Clips != 0 || st.Bytes != 0 {
		t.Errorf("after the folder was removed: status counts %d clips of %d bytes, want 0", st.Clips, st.Bytes)
	}
	var last storage.ClipInfo
	for i := range 6 {
		last = sealClip(t, s, t0.Add(time.Hour+time.Duration(i)*time.Minute), uint64(100+i), 5)
	}
	if st := s.Status(); st.Clips != 6 {
		t.Errorf("after 6 new clips: status counts %d clips, want 6", st.Clips)
	}
	if err := os.Remove(last.Path); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Clips != 5 {
		t.Errorf("after a clip was removed by hand: status counts %d clips, want 5", st.Clips)
	}
}

// TestRetentionClockStep: the wall clock steps when it is first synchronised.
// Clips found on the card go first, oldest name first; clips sealed since go
// in the order they were sealed, whatever their names say: one sealed after
// the clock stepped back is newer than its name.
func TestRetentionClockStep(t *testing.T) {
	card := storagetest.NewCard(t, 1<<30)
	s, _ := newStore(t, card, storage.StoreConfig{})
	var names []string
	for i := range 3 { // an earlier boot, synchronised
		names = append(names, sealClip(t, s, t0.Add(time.Duration(i)*time.Minute), 10+uint64(i), 10).Name)
	}
	size := float64(s.Status().Bytes) / 3
	floor := uint64(20 * size)
	var deleted []storage.Deletion
	s2, _ := newStore(t, card, storage.StoreConfig{
		Retention: storage.Retention{FreeFloor: floor, CriticalFloor: 1},
		OnDelete:  func(d storage.Deletion) { deleted = append(deleted, d) },
	})
	// This boot: a clip before the sync (the clock a year behind), one
	// after it, then one after a step back from a clock that ran ahead.
	names = append(names, sealClip(t, s2, t0.Add(-365*24*time.Hour), 1, 10).Name)
	names = append(names, sealClip(t, s2, t0.Add(24*time.Hour), 2, 10).Name)
	names = append(names, sealClip(t, s2, t0.Add(-time.Hour), 3, 10).Name)
	for _, n := range names {
		if err := s2.MarkUploaded(n); err != nil {
			t.Fatal(err)
		}
	}
	if len(deleted) != 0 {
		t.Fatalf("deleted before the card filled: %+v", deleted)
	}
	// Free space 4.5 clips below the floor: five clips go.
	card.SetCapacity(card.Used() + floor - uint64(4.5*size))
	if n, err := s2.Enforce(); err != nil || n != 5 {
		t.Fatalf("Enforce = %d, %v; want 5 deletions", n, err)
	}
	for i, d := range deleted {
		if d.Name != names[i] {
			t.Errorf("deletion %d: %s, want %s (sealed in the order %v)", i, d.Name, names[i], names)
		}
	}
}
