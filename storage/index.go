package storage

import (
	"hash/fnv"
	"io"
	"os"
	"path"
	"strconv"
)

// The store's index (the sealed clips, their sizes and upload marks) is
// built by Recover and kept up to date by the store's own writes and
// deletions. Someone may also change the card behind the agent's back — a
// user removing the camagent folder from a laptop, a shell `rm` — without any
// write failing, so the index also remembers a fingerprint of the clip
// folders, and Status and Enforce rebuild it when the fingerprint changed.

// folderSig returns the fingerprint of the clip folders: the name,
// modification time and number of entries of every year, month and day
// folder, and of the clips folder itself. Adding, removing or renaming a
// file or folder changes it.
func (s *Store) folderSig() uint64 {
	h := fnv.New64a()
	add := func(p string) {
		io.WriteString(h, p)
		st, err := os.Stat(p)
		if err != nil {
			io.WriteString(h, "\x00-\n")
			return
		}
		n := -1
		if f, err := os.Open(p); err == nil {
			names, _ := f.Readdirnames(maxScanEntries)
			f.Close()
			n = len(names)
		}
		io.WriteString(h, "\x00"+strconv.FormatInt(st.ModTime().UnixNano(), 10)+"\x00"+strconv.Itoa(n)+"\n")
	}
	add(s.dir)
	years, _ := readDirNames(s.dir, 4)
	for _, y := range years {
		add(path.Join(s.dir, y))
		months, _ := readDirNames(path.Join(s.dir, y), 2)
		for _, m := range months {
			add(path.Join(s.dir, y, m))
			days, _ := readDirNames(path.Join(s.dir, y, m), 2)
			for _, d := range days {
				add(path.Join(s.dir, y, m, d))
			}
		}
	}
	return h.Sum64()
}

// refreshIndexLocked rebuilds the index when the clip folders changed since
// it was built.
func (s *Store) refreshIndexLocked() {
	if !s.indexed {
		return
	}
	if sig := s.folderSig(); sig != s.sig {
		before := len(s.index)
		s.rescanLocked()
		if len(s.index) < before {
			s.log.Warn("clips went missing from the card without the agent deleting them", "indexed", before, "on_card", len(s.index))
		}
	}
}
