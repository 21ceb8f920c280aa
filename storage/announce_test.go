package storage_test

import (
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/storagetest"
)

// TestSubscribeAndPending: the store announces each completed clip to its
// subscribers without ever waiting for one (a full subscriber misses clips,
// which Pending still lists), and Pending is the complete clips not yet
// uploaded.
func TestSubscribeAndPending(t *testing.T) {
	card := storagetest.NewCard(t, 0)
	s, _ := newStore(t, card, storage.StoreConfig{})
	ch, cancel := s.Subscribe(1)
	gone, cancelGone := s.Subscribe(1)
	cancelGone()
	a := sealClip(t, s, t0, 1, 5)
	b := sealClip(t, s, t0.Add(time.Minute), 2, 5) // the subscriber is full: not sent
	if got := <-ch; got.Name != a.Name {
		t.Errorf("announced %s, want %s", got.Name, a.Name)
	}
	select {
	case got := <-ch:
		t.Errorf("announced %s to a full subscriber", got.Name)
	case got := <-gone:
		t.Errorf("announced %s after the subscription ended", got.Name)
	default:
	}
	if err := s.MarkUploaded(a.Name); err != nil {
		t.Fatal(err)
	}
	pending, err := s.Pending()
	if err != nil || len(pending) != 1 || pending[0].Name != b.Name {
		t.Errorf("Pending = %+v, %v; want only %s", pending, err, b.Name)
	}
	cancel()
	c := sealClip(t, s, t0.Add(2*time.Minute), 3, 5)
	select {
	case got := <-ch:
		t.Errorf("announced %s after cancel", got.Name)
	default:
	}
	if pending, _ := s.Pending(); len(pending) != 2 || pending[1].Name != c.Name {
		t.Errorf("Pending = %+v", pending)
	}
}
