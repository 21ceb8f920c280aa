package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
)

// Retention says how much of the card the clips and the snapshots may use.
// Clips are deleted oldest first (in the order they were sealed, not by their
// wall-clock names: see entry.age): first those already uploaded, while free
// space is below FreeFloor or the store is above Quota; then, only while free
// space is below CriticalFloor, those not uploaded yet. The owner's snapshots
// (SnapshotsDir) go by the same rules, taken in with the clips by time: the
// older of the oldest clip and the oldest snapshot that may go is deleted
// first. Each deletion is logged and reported to StoreConfig.OnDelete.
type Retention struct {
	// FreeFloor is the free space to keep. Zero means 10% of the card, at
	// most 1 GiB.
	FreeFloor uint64
	// CriticalFloor is the free space below which clips that were not
	// uploaded are deleted too. Zero means 3% of the card, at most 256 MiB.
	// It must not be above FreeFloor.
	CriticalFloor uint64
	// Quota bounds the bytes of the clips, the snapshots and their
	// sidecars; zero means no bound.
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

// Deletion reports one clip (or snapshot) retention deleted.
type Deletion struct {
	// Name is the clip's name, or for a snapshot SnapshotsDir + "/" + its
	// base name.
	Name     string    `json:"name"`
	Snapshot bool      `json:"snapshot,omitempty"`
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
	snaps := s.snapshotsLocked()
	var snapUsed int64
	for _, sn := range snaps {
		snapUsed += sn.size
	}
	n := 0
	var errs []error
	// next deletes the oldest clip or snapshot that ok allows.
	next := func(ok func(uploaded bool) bool, reason string) (bool, error) {
		ci := s.oldestLocked(func(e entry) bool { return ok(e.uploaded) })
		si := slices.IndexFunc(snaps, func(sn snapshot) bool { return ok(sn.uploaded) })
		if si >= 0 && (ci < 0 || snaps[si].at.Before(clipTime(s.index[ci].name))) {
			freed, err := s.deleteSnapshotLocked(snaps[si], reason, done)
			if err != nil {
				return false, err
			}
			snaps = slices.Delete(snaps, si, si+1)
			snapUsed -= freed
			free = s.freeAfter(free, freed)
			return true, nil
		}
		if ci < 0 {
			return false, nil
		}
		freed, err := s.deleteLocked(ci, reason, done)
		if err != nil {
			return false, err
		}
		free = s.freeAfter(free, freed)
		return true, nil
	}
	for {
		var reason string
		switch {
		case free < floor:
			reason = ReasonFreeFloor
		case s.ret.Quota > 0 && uint64(max(s.used+snapUsed, 0)) > s.ret.Quota:
			reason = ReasonQuota
		}
		if reason == "" {
			break
		}
		ok, err := next(func(uploaded bool) bool { return uploaded }, reason)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok {
			break
		}
		n++
	}
	for free < critical {
		ok, err := next(func(bool) bool { return true }, ReasonCriticalFloor)
		if err != nil {
			errs = append(errs, err)
		}
		if !ok {
			break
		}
		n++
	}
	return n, errors.Join(errs...)
}

// SnapshotsDir is the folder, under Card.Dir beside the clips', where the
// owner's snapshots are kept: NAME.jpg, its signed manifest NAME.manifest
// and, once sent, NAME.uploaded; NAME starts with the UTC time it was taken
// (20060102-150405). Retention deletes them with the clips.
const SnapshotsDir = "snapshots"

// Snapshot files.
const (
	extSnapshot = ".jpg"
)

var snapshotSidecars = []string{ExtManifest, ExtUploaded}

// snapshot is one snapshot on the card, for retention.
type snapshot struct {
	base     string
	at       time.Time
	size     int64 // the picture and its sidecars
	uploaded bool
}

// clipTime is when a clip started, from its name.
func clipTime(name string) time.Time {
	cn, err := ParseClipName(name)
	if err != nil {
		return time.Time{}
	}
	return cn.Start
}

func (s *Store) snapshotDir() string { return filepath.Join(filepath.Dir(s.dir), SnapshotsDir) }

// snapshotsLocked lists the snapshots on the card, oldest first: by the time
// in their names (by modification time for a name without one).
func (s *Store) snapshotsLocked() []snapshot {
	dir := s.snapshotDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot list the snapshots", "err", err)
		}
		return nil
	}
	var out []snapshot
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), extSnapshot)
		if !ok || e.IsDir() || strings.HasPrefix(base, ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		sn := snapshot{base: base, size: info.Size(), at: info.ModTime().UTC()}
		if len(base) >= 15 {
			if t, err := time.Parse("20060102-150405", base[:15]); err == nil {
				sn.at = t
			}
		}
		for _, ext := range snapshotSidecars {
			if st, err := os.Stat(filepath.Join(dir, base+ext)); err == nil {
				sn.size += st.Size()
				sn.uploaded = sn.uploaded || ext == ExtUploaded
			}
		}
		out = append(out, sn)
	}
	// sort.Slice, not slices.SortFunc: no copy of the sort per element type (README "Size budget").
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].at.Compare(out[j].at); c != 0 {
			return c < 0
		}
		return out[i].base < out[j].base
	})
	return out
}

// deleteSnapshotLocked deletes a snapshot: the picture first, then its
// sidecars, then syncs the folder.
func (s *Store) deleteSnapshotLocked(sn snapshot, reason string, done *[]Deletion) (int64, error) {
	dir := s.snapshotDir()
	for _, ext := range append([]string{extSnapshot}, snapshotSidecars...) {
		if err := os.Remove(filepath.Join(dir, sn.base+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("storage: delete snapshot %s: %w", sn.base, err)
		}
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return 0, err
	}
	s.deleted.Add(1)
	if !sn.uploaded {
		s.deletedNew.Add(1)
	}
	name := SnapshotsDir + "/" + sn.base
	*done = append(*done, Deletion{Name: name, Snapshot: true, Size: sn.size, Uploaded: sn.uploaded, Reason: reason, Time: s.now()})
	if sn.uploaded {
		s.log.Info("retention deleted a snapshot", "snapshot", name, "bytes", sn.size, "reason", reason, "uploaded", true)
	} else {
		s.log.Warn("retention deleted a snapshot that was not uploaded", "snapshot", name, "bytes", sn.size, "reason", reason)
	}
	return sn.size, nil
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
