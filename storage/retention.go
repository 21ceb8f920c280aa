package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
)

// Retention says how much of the card the clips may use. Clips are deleted
// oldest first (in the order they were sealed, not by their wall-clock names:
// see entry.age): first those already uploaded, while free space is below
// FreeFloor or the store is above Quota; then, only while free space is below
// CriticalFloor, those not uploaded yet. Each deletion is logged and reported
// to StoreConfig.OnDelete.
type Retention struct {
	// FreeFloor is the free space to keep. Zero means 10% of the card, at
	// most 1 GiB.
	FreeFloor uint64
	// CriticalFloor is the free space below which clips that were not
	// uploaded are deleted too. Zero means 3% of the card, at most 256 MiB.
	// It must not be above FreeFloor.
	CriticalFloor uint64
	// Quota bounds the bytes of the clips and their sidecars; zero means no
	// bound.
	Quota uint64
}

func (r Retention) validate() error {
	if r.FreeFloor != 0 && r.CriticalFloor > r.FreeFloor {
		return fmt.Errorf("storage: retention: critical floor %d above free floor %d", r.CriticalFloor, r.FreeFloor)
	}
	return nil
}

// floors returns the free floor and the critical floor for a card of total
// bytes.
func (r Retention) floors(total uint64) (floor, critical uint64) {
	floor, critical = r.FreeFloor, r.CriticalFloor
	if floor == 0 {
		floor = min(total/10, 1<<30)
	}
	if critical == 0 {
		critical = min(total*3/100, 256<<20, floor)
	}
	return floor, critical
}

// Why retention deleted a clip.
const (
	ReasonFreeFloor     = "free-floor"     // an uploaded clip, for free space
	ReasonQuota         = "quota"          // an uploaded clip, for the quota
	ReasonCriticalFloor = "critical-floor" // a clip not uploaded yet, the card nearly full
)

// Deletion reports one clip retention deleted.
type Deletion struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"` // bytes freed (video and sidecars)
	Uploaded bool      `json:"uploaded"`
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
}

// Enforce deletes clips as the Retention says and returns how many it
// deleted. It does nothing while the card is missing or read-only. The clips
// being written are never deleted.
func (s *Store) Enforce() (int, error) {
	var done []Deletion
	n, err := s.enforce(&done)
	if s.onDelete != nil {
		for _, d := range done {
			s.onDelete(d)
		}
	}
	return n, err
}

func (s *Store) enforce(done *[]Deletion) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.card.Probe()
	s.noteHealthLocked(h)
	if h.State == StateMissing || h.State == StateReadOnly {
		return 0, nil
	}
	if !s.indexed {
		s.rescanLocked()
	} else {
		s.refreshIndexLocked()
	}
	floor, critical := s.ret.floors(h.TotalBytes)
	free := h.FreeBytes
	n := 0
	var errs []error
	for {
		var reason string
		switch {
		case free < floor:
			reason = ReasonFreeFloor
		case s.ret.Quota > 0 && uint64(max(s.used, 0)) > s.ret.Quota:
			reason = ReasonQuota
		}
		if reason == "" {
			break
		}
		i := s.oldestLocked(func(e entry) bool { return e.uploaded })
		if i < 0 {
			break
		}
		freed, err := s.deleteLocked(i, reason, done)
		if err != nil {
			errs = append(errs, err)
			break
		}
		n++
		free = s.freeAfter(free, freed)
	}
	for free < critical && len(s.index) > 0 {
		freed, err := s.deleteLocked(s.oldestLocked(func(entry) bool { return true }), ReasonCriticalFloor, done)
		if err != nil {
			errs = append(errs, err)
			break
		}
		n++
		free = s.freeAfter(free, freed)
	}
	return n, errors.Join(errs...)
}

// freeAfter returns the free space after freed bytes were deleted: what
// statfs says, or more if the deleted files are still open elsewhere (then
// their blocks are not free yet, and counting them keeps retention from
// deleting more than it must).
func (s *Store) freeAfter(free uint64, freed int64) uint64 {
	est := free + uint64(max(freed, 0))
	if h := s.card.Probe(); h.FreeBytes > est {
		return h.FreeBytes
	}
	return est
}

// deleteLocked deletes the clip at index i and adds it to done: the video first, so that a clip
// never looks whole while half deleted, then its sidecars (Recover removes
// sidecars left without a video).
func (s *Store) deleteLocked(i int, reason string, done *[]Deletion) (int64, error) {
	e := s.index[i]
	day := filepath.Dir(s.path(e.name, ExtClip))
	s.noteOwnLocked(day)
	for _, ext := range append([]string{ExtClip}, sidecars...) {
		if err := os.Remove(s.path(e.name, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("storage: delete %s: %w", e.name, err)
		}
	}
	if err := atomicfile.SyncDir(day); err != nil {
		return 0, err
	}
	// Remove the day, month and year folders once empty (errors mean not empty).
	for d, k := day, 0; k < 3 && os.Remove(d) == nil; d, k = filepath.Dir(d), k+1 {
		s.noteOwnLocked(d, filepath.Dir(d))
	}
	s.index = append(s.index[:i], s.index[i+1:]...)
	s.used -= e.size
	s.deleted.Add(1)
	if !e.uploaded {
		s.deletedNew.Add(1)
	}
	*done = append(*done, Deletion{Name: e.name, Size: e.size, Uploaded: e.uploaded, Reason: reason, Time: s.now()})
	if e.uploaded {
		s.log.Info("retention deleted a clip", "clip", e.name, "bytes", e.size, "reason", reason, "uploaded", true)
	} else {
		s.log.Warn("retention deleted a clip that was not uploaded", "clip", e.name, "bytes", e.size, "reason", reason)
	}
	return e.size, nil
}
