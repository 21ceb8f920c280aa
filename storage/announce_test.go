package storage_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/storagetest"
)

// TestSubscribeAndPending: the store announces each completed clip to its
// subscribers without ever waiting for one (a full subscriber misses clips,
// is told so on Changed, and Pending still lists them), and Pending is the
// complete clips not yet uploaded, with the paths of their files.
func TestSubscribeAndPending(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{OnSeal: func(c storage.ClipInfo) error {
		return os.WriteFile(c.Manifest, []byte("signed"), 0o644)
	}})
	if pending, err := s.Pending(); err != nil || len(pending) != 0 {
		t.Fatalf("Pending on an empty card = %+v, %v", pending, err)
	}
	sub := s.Subscribe(1)
	gone := s.Subscribe(1)
	gone.Close()
	a := sealClip(t, s, t0, 1, 5)
	select {
	case <-sub.Changed:
		t.Error("Changed signalled while the subscriber had room")
	default:
	}
	b := sealClip(t, s, t0.Add(time.Minute), 2, 5) // the subscriber is full: not sent
	if got := <-sub.C; got.Name != a.Name || got.Path != a.Path || got.Manifest != a.Manifest || got.Thumbnail != a.Thumbnail {
		t.Errorf("announced %+v, want %+v", got, a)
	}
	select {
	case got := <-sub.C:
		t.Errorf("announced %s to a full subscriber", got.Name)
	case got := <-gone.C:
		t.Errorf("announced %s after the subscription ended", got.Name)
	case <-gone.Changed:
		t.Error("Changed signalled after the subscription ended")
	default:
	}
	select {
	case <-sub.Changed:
	default:
		t.Error("a clip the subscriber had no room for was not signalled on Changed")
	}
	if err := s.MarkUploaded(a.Name); err != nil {
		t.Fatal(err)
	}
	pending, err := s.Pending()
	if err != nil || len(pending) != 1 || pending[0].Name != b.Name {
		t.Fatalf("Pending = %+v, %v; want only %s", pending, err, b.Name)
	}
	if p := pending[0]; p.Path != b.Path || p.Thumbnail != b.Thumbnail || p.Manifest != b.Manifest || p.State != storage.ClipSealed {
		t.Errorf("Pending gives %+v, want the files of %+v", p, b)
	}
	sub.Close()
	sub.Close()
	c := sealClip(t, s, t0.Add(2*time.Minute), 3, 5)
	select {
	case got := <-sub.C:
		t.Errorf("announced %s after Close", got.Name)
	default:
	}
	if pending, _ := s.Pending(); len(pending) != 2 || pending[0].Name != b.Name || pending[1].Name != c.Name {
		t.Errorf("Pending = %+v", pending)
	}
}

// TestPendingSealOrder: Pending goes by the order the clips were sealed, not
// by their wall-clock names (a clock stepped back names a later clip older).
func TestPendingSealOrder(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	first := sealClip(t, s, t0.Add(time.Hour), 1, 5)
	second := sealClip(t, s, t0, 2, 5) // the clock stepped back an hour
	pending, err := s.Pending()
	if err != nil || len(pending) != 2 || pending[0].Name != first.Name || pending[1].Name != second.Name {
		t.Errorf("Pending = %+v, %v; want %s then %s", pending, err, first.Name, second.Name)
	}
}

// TestChangedOnRecoverAndForeignChange: a subscriber is told to ask Pending
// when the store re-reads the card: at Recover, and when clips change behind
// its back; the store's own writes do not signal it.
func TestChangedOnRecoverAndForeignChange(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	sub := s.Subscribe(8)
	defer sub.Close()
	changed := func() bool {
		select {
		case <-sub.Changed:
			return true
		default:
			return false
		}
	}
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	if !changed() {
		t.Error("Recover did not signal Changed")
	}
	a := sealClip(t, s, t0, 1, 5)
	<-sub.C
	if err := s.MarkUploaded(a.Name); err != nil {
		t.Fatal(err)
	}
	s.Status()
	if changed() {
		t.Error("the store's own writes signalled Changed")
	}
	// Someone copies a clip's files into another day folder.
	b := filepath.Join(s.Dir(), "2026", "05", "15")
	if err := os.MkdirAll(b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{storage.ExtClip, storage.ExtMetadata} {
		data, err := os.ReadFile(a.Path[:len(a.Path)-len(storage.ExtClip)] + ext)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(b, "101010-e9"+ext), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Status(); st.Clips != 2 {
		t.Errorf("Status after a foreign clip: %d clips, want 2", st.Clips)
	}
	if !changed() {
		t.Error("a foreign change did not signal Changed")
	}
}

// TestOwnWritesDoNotRescan: the store's own changes to its folders (new
// year and day folders, clips, sidecars, upload marks, retention deleting a
// clip and its emptied folders) are not taken for someone else's: Status
// and Enforce do not re-read the card for them.
func TestOwnWritesDoNotRescan(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{Retention: storage.Retention{Quota: 1}})
	sub := s.Subscribe(8)
	defer sub.Close()
	if _, err := s.Recover(); err != nil {
		t.Fatal(err)
	}
	<-sub.Changed // from Recover
	old := sealClip(t, s, t0.AddDate(-1, 0, 0), 1, 5)
	s.Status()
	sealClip(t, s, t0, 2, 5)
	sealClip(t, s, t0.Add(time.Minute), 3, 5)
	if err := s.MarkUploaded(old.Name); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Enforce(); n != 1 || err != nil {
		t.Fatalf("Enforce = %d, %v; want the uploaded clip deleted", n, err)
	}
	if _, err := os.Stat(filepath.Dir(filepath.Dir(filepath.Dir(old.Path)))); err == nil {
		t.Error("retention left the emptied year folder")
	}
	if st := s.Status(); st.Clips != 2 {
		t.Errorf("Status: %d clips, want 2", st.Clips)
	}
	select {
	case <-sub.Changed:
		t.Error("the store's own writes made it re-read the card")
	default:
	}
}
