package storage

// Subscribe returns a channel that receives each clip that becomes
// complete (sealed, signed and its metadata written), the announcement the
// upload queue takes clips from, and a function that ends the subscription.
// The channel holds at most depth clips; when the subscriber falls behind,
// further clips are not sent to it (it finds them with Pending), so the
// recorder never waits for a reader.
func (s *Store) Subscribe(depth int) (<-chan ClipInfo, func()) {
	ch := make(chan ClipInfo, max(depth, 1))
	s.mu.Lock()
	if s.subs == nil {
		s.subs = make(map[chan ClipInfo]struct{})
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

// announce sends a completed clip to every subscriber with room for it.
func (s *Store) announce(info ClipInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- info:
		default:
		}
	}
}

// Pending lists the complete clips not yet uploaded, oldest first: the
// upload queue's work.
func (s *Store) Pending() ([]ClipInfo, error) {
	clips, err := s.Clips()
	out := clips[:0]
	for _, c := range clips {
		if c.State == ClipSealed {
			out = append(out, c)
		}
	}
	return out, err
}
