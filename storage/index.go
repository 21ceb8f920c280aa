package storage

import (
	"os"
	"path"
	"path/filepath"
)

// The store's index (the sealed clips, their sizes and upload marks) is
// built by Recover and kept up to date by the store's own writes and
// deletions. Someone may also change the card behind the agent's back — a
// user removing the camagent folder from a laptop, a shell `rm`, the shell's
// card erase — without any write failing, so the index also remembers how
// each clip folder looked (modification time and number of entries) when it
// last looked, and Status, Enforce and Pending rebuild it when a folder
// changed.
//
// The store's own writes change its folders too (a new day folder, a .part,
// the rename at seal, sidecars, retention's deletions). They must not force
// a rebuild, which reads every day folder: the store counts its own changes
// per folder (ownChange, noteOwnLocked), and a folder that changed counts as
// changed by someone else only when the store made no change to it since it
// last looked. A change by someone else to a folder the store itself
// changed in the same interval is therefore not seen until the next rebuild
// (the next foreign change elsewhere, or a Recover when the card comes
// back); nothing breaks in between: a clip file that went missing fails its
// upload (dropped from the queue) or its deletion (taken as gone).

// folderMark is how a clip folder looked: its modification time and the
// number of entries in it.
type folderMark struct {
	mtime int64
	n     int
}

// lookFolders returns the marks of the clip folders: the clips folder and
// every year, month and day folder under it (a missing clips folder has
// none).
func (s *Store) lookFolders() map[string]folderMark {
	marks := map[string]folderMark{}
	look := func(p string) bool {
		st, err := os.Stat(p)
		if err != nil {
			return false
		}
		n := -1
		if f, err := os.Open(p); err == nil {
			names, _ := f.Readdirnames(maxScanEntries)
			f.Close()
			n = len(names)
		}
		marks[p] = folderMark{mtime: st.ModTime().UnixNano(), n: n}
		return true
	}
	if !look(s.dir) {
		return marks
	}
	years, _ := readDirNames(s.dir, 4)
	for _, y := range years {
		yp := path.Join(s.dir, y)
		look(yp)
		months, _ := readDirNames(yp, 2)
		for _, m := range months {
			mp := path.Join(yp, m)
			look(mp)
			days, _ := readDirNames(mp, 2)
			for _, d := range days {
				look(path.Join(mp, d))
			}
		}
	}
	return marks
}

// foreignChangeLocked looks at the clip folders and reports whether one of
// them changed (appeared, went away, or got another modification time or
// number of entries) without the store changing it since it last looked.
// It remembers what it saw and forgets the store's counted changes.
func (s *Store) foreignChangeLocked() bool {
	now := s.lookFolders()
	foreign := false
	for p, m := range now {
		if old, ok := s.folders[p]; (!ok || old != m) && !s.ownsLocked(p) {
			foreign = true
		}
	}
	for p := range s.folders {
		if _, ok := now[p]; !ok && !s.ownsLocked(p) {
			foreign = true
		}
	}
	s.folders = now
	clear(s.own)
	return foreign
}

// ownsLocked reports whether the store changed the folder p since it last
// looked, or is changing it now.
func (s *Store) ownsLocked(p string) bool {
	return s.own[p] > 0 || s.busy[p] > 0
}

// markFoldersLocked remembers the clip folders as they are now (after a
// rebuild of the index).
func (s *Store) markFoldersLocked() {
	s.folders = s.lookFolders()
	clear(s.own)
}

// ownChange runs change, which creates, renames or removes entries of the
// folders dirs, as a change of the store's own (not with s.mu held): while
// it runs and until the folders are looked at next, their changes are the
// store's.
func (s *Store) ownChange(change func() error, dirs ...string) error {
	s.mu.Lock()
	if s.busy == nil {
		s.busy = map[string]int{}
	}
	for _, d := range dirs {
		s.busy[filepath.Clean(d)]++
	}
	s.mu.Unlock()
	err := change()
	s.mu.Lock()
	for _, d := range dirs {
		d = filepath.Clean(d)
		if s.busy[d]--; s.busy[d] <= 0 {
			delete(s.busy, d)
		}
	}
	s.noteOwnLocked(dirs...)
	s.mu.Unlock()
	return err
}

// noteOwnLocked counts a change the store made (with s.mu held) to each of
// the folders dirs.
func (s *Store) noteOwnLocked(dirs ...string) {
	if s.own == nil {
		s.own = map[string]int{}
	}
	for _, d := range dirs {
		s.own[filepath.Clean(d)]++
	}
}

// refreshIndexLocked rebuilds the index when a clip folder changed behind
// the store's back since it last looked, and tells the subscribers.
func (s *Store) refreshIndexLocked() {
	if !s.indexed {
		return
	}
	if !s.foreignChangeLocked() {
		return
	}
	before := len(s.index)
	s.rescanLocked()
	if len(s.index) < before {
		s.log.Warn("clips went missing from the card without the agent deleting them", "indexed", before, "on_card", len(s.index))
	}
	s.changedLocked()
}
