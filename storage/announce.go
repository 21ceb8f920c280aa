package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
)

// Subscription is one reader of the store's announcements (Store.Subscribe):
// the upload queue takes its clips from here and from Store.Pending, and
// needs to know nothing of the card's folders or sidecar files.
type Subscription struct {
	// C receives each clip that becomes complete (sealed, signed and its
	// metadata written), with the paths of its video, thumbnail and
	// manifest.
	C <-chan ClipInfo
	// Changed receives a signal when clips may be pending that C did not
	// carry: C was full when a clip completed, or the store re-read the
	// card (recovery after a start or after the card came back, or files
	// changed behind the store's back). The reader then asks Pending.
	Changed <-chan struct{}

	s       *Store
	c       chan ClipInfo
	changed chan struct{}
}

// Subscribe returns a new subscription whose C holds at most depth clips.
// Neither channel ever blocks the store: a clip C has no room for is not
// sent (Changed is signalled instead), so the recorder never waits for a
// reader. Close ends it.
func (s *Store) Subscribe(depth int) *Subscription {
	sub := &Subscription{s: s, c: make(chan ClipInfo, max(depth, 1)), changed: make(chan struct{}, 1)}
	sub.C, sub.Changed = sub.c, sub.changed
	s.mu.Lock()
	if s.subs == nil {
		s.subs = make(map[*Subscription]struct{})
	}
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

// Close ends the subscription: nothing is sent on its channels after it
// returns. Closing twice is harmless.
func (sub *Subscription) Close() {
	sub.s.mu.Lock()
	delete(sub.s.subs, sub)
	sub.s.mu.Unlock()
}

func (sub *Subscription) signal() {
	select {
	case sub.changed <- struct{}{}:
	default:
	}
}

// announce sends a completed clip to every subscriber, or tells the ones
// without room for it to ask Pending.
func (s *Store) announce(info ClipInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		select {
		case sub.c <- info:
		default:
			sub.signal()
		}
	}
}

// changedLocked tells every subscriber that the clips on the card may have
// changed in ways no announcement said (s.mu is held).
func (s *Store) changedLocked() {
	for sub := range s.subs {
		sub.signal()
	}
}

// Pending lists the complete clips not yet uploaded, oldest (first sealed)
// first: the upload queue's work. It reads the metadata of those clips only,
// not of every clip on the card.
func (s *Store) Pending() ([]ClipInfo, error) {
	if _, err := os.Stat(s.dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil // no clip was ever recorded on this card
		}
		return nil, fmt.Errorf("storage: pending: %w", err)
	}
	s.mu.Lock()
	if !s.indexed {
		s.rescanLocked()
	} else {
		s.refreshIndexLocked()
	}
	var todo []entry
	for _, e := range s.index {
		if !e.uploaded {
			todo = append(todo, e)
		}
	}
	s.mu.Unlock()
	// sort.Slice, not slices.SortFunc: no copy of the sort per element type (README "Size budget").
	sort.Slice(todo, func(i, j int) bool { return todo[i].age < todo[j].age })
	var out []ClipInfo
	for _, e := range todo {
		if info := s.sealedInfo(e.name, hasClip|hasMetadata|hasSidecar); info.State == ClipSealed {
			out = append(out, info)
		}
	}
	return out, nil
}
