package storage

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/storage/fmp4"
)

// RecoveryReport counts what Recover did.
type RecoveryReport struct {
	At time.Time `json:"at"`
	// Sealed .part files, cut back to their last whole fragment; CutBytes
	// were cut off them in all.
	Sealed   int   `json:"sealed"`
	CutBytes int64 `json:"cut_bytes"`
	// Removed .part files that held no whole fragment.
	Removed int `json:"removed"`
	// Completed sealed clips that lacked their metadata (a crash while
	// sealing, or a failed OnSeal hook).
	Completed int `json:"completed"`
	// Orphans are sidecars without a clip and temporary files, removed.
	Orphans int `json:"orphans"`
	// Failed counts clips that could not be handled (I/O errors); they are
	// left as they are.
	Failed int `json:"failed"`
	// Clips is the number of sealed clips on the card afterwards.
	Clips int `json:"clips"`
}

// Which files of a clip a day folder holds.
const (
	hasClip = 1 << iota
	hasPart
	hasMetadata
	hasSidecar // thumbnail, manifest or uploaded marker
)

func extBit(ext string) int {
	switch ext {
	case ExtClip:
		return hasClip
	case ExtClip + ExtPart:
		return hasPart
	case ExtMetadata:
		return hasMetadata
	}
	return hasSidecar
}

// maxScanEntries bounds the folders and files the store looks at per level.
const maxScanEntries = 100000

// days returns the day folders (YYYY/MM/DD) of the store, oldest first.
func (s *Store) days() ([]string, error) {
	var out []string
	years, err := readDirNames(s.dir, 4)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	for _, y := range years {
		months, err := readDirNames(path.Join(s.dir, y), 2)
		if err != nil {
			return nil, err
		}
		for _, m := range months {
			days, err := readDirNames(path.Join(s.dir, y, m), 2)
			if err != nil {
				return nil, err
			}
			for _, d := range days {
				out = append(out, y+"/"+m+"/"+d)
			}
		}
	}
	return out, nil
}

// readDirNames returns the sorted names of the folders in dir made of n
// digits; other entries are left alone.
func readDirNames(dir string, n int) ([]string, error) {
	entries, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if _, ok := digits(e.Name(), n, n); ok && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func readDir(dir string) ([]fs.DirEntry, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: read %s: %w", dir, err)
	}
	defer f.Close()
	entries, err := f.ReadDir(maxScanEntries)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("storage: read %s: %w", dir, err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return compareStrings(a.Name(), b.Name()) })
	return entries, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dayClips groups the clip files of a day folder by clip name; temps are the
// temporary files of WriteFileAtomic in it.
func (s *Store) dayClips(day string) (names []string, files map[string]int, temps []string, err error) {
	entries, err := readDir(s.path(day, ""))
	if err != nil {
		return nil, nil, nil, err
	}
	files = map[string]int{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if isTemp(e.Name()) {
			temps = append(temps, e.Name())
			continue
		}
		base, ext, ok := splitFile(e.Name())
		if !ok {
			continue
		}
		name := day + "/" + base
		if _, err := ParseClipName(name); err != nil {
			continue
		}
		if files[name] == 0 {
			names = append(names, name)
		}
		files[name] |= extBit(ext)
	}
	return names, files, temps, nil
}

// Recover puts the card's clips in order after a crash or power cut, and
// rebuilds the store's index. Each .part that is not being written is cut
// back to its last whole fragment and sealed, or removed when it holds none;
// each sealed clip without metadata is completed (thumbnail, OnSeal,
// metadata); sidecars left without a clip and temporary files are removed.
// Sealed videos are never changed, except one that holds no whole fragment
// (emptied by a card repair after a power cut in the seal's rename on vfat):
// it is replaced by its .part when that is still there, removed otherwise. It returns ErrNotWritable when the card
// is missing, read-only or failing.
func (s *Store) Recover() (RecoveryReport, error) {
	s.recoverMu.Lock()
	defer s.recoverMu.Unlock()
	rep := RecoveryReport{At: s.now()}
	if h := s.Check(); h.State != StateWritable && h.State != StateFull {
		return rep, fmt.Errorf("storage: recover: %w: card %s: %w", ErrNotWritable, h.State, h.Err)
	}
	days, err := s.days()
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, day := range days {
		names, files, temps, err := s.dayClips(day)
		if err != nil {
			rep.Failed++
			errs = append(errs, err)
			continue
		}
		for _, t := range temps {
			if os.Remove(s.path(day+"/"+t, "")) == nil {
				rep.Orphans++
			}
		}
		for _, name := range names {
			s.mu.Lock()
			open := s.open[name] != nil
			s.mu.Unlock()
			if open {
				continue
			}
			if err := s.recoverClip(name, files[name], &rep); err != nil {
				rep.Failed++
				errs = append(errs, err)
			}
		}
	}
	s.mu.Lock()
	s.rescanLocked()
	rep.Clips = len(s.index)
	s.recovery, s.checked = rep, true
	s.changedLocked()
	s.mu.Unlock()
	if rep.Sealed+rep.Removed+rep.Completed+rep.Orphans+rep.Failed > 0 {
		s.log.Warn("recovered clips after an unclean stop", "sealed", rep.Sealed, "cut_bytes", rep.CutBytes,
			"removed", rep.Removed, "completed", rep.Completed, "orphans", rep.Orphans, "failed", rep.Failed, "clips", rep.Clips)
	} else {
		s.log.Info("clip store checked", "clips", rep.Clips)
	}
	return rep, errors.Join(errs...)
}

// recoverClip handles the files of one clip; have says which exist.
func (s *Store) recoverClip(name string, have int, rep *RecoveryReport) error {
	switch {
	case have&hasPart != 0 && have&hasClip != 0 && s.wholeVideo(name):
		// Sealing is a rename, so both cannot come from one clip: the
		// sealed video wins and is left alone.
		if err := os.Remove(s.path(name, ExtClip+ExtPart)); err != nil {
			return fmt.Errorf("storage: recover %s: %w", name, err)
		}
		rep.Orphans++
	case have&hasPart != 0 && have&hasClip != 0:
		// On vfat a rename is not atomic: a power cut in the seal leaves
		// both names on the same clusters, and the card check at boot
		// (fsck.vfat) gives them to one and truncates the other. When the
		// sealed name came out empty or broken, the clip is in the .part:
		// drop the empty video and seal the .part (it was never signed: the
		// manifest is made after the rename).
		s.log.Warn("the sealed video of a clip is empty or broken and its .part is still there (a power cut in the seal's rename); sealing the .part",
			"clip", name)
		for _, ext := range append([]string{ExtClip}, sidecars...) {
			if err := os.Remove(s.path(name, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("storage: recover %s: %w", name, err)
			}
		}
		have &^= hasClip | hasMetadata | hasSidecar
		sealed, err := s.sealPart(name, rep)
		if err != nil || !sealed {
			return err
		}
		have |= hasClip
	case have&hasPart == 0 && have&hasClip != 0 && have&hasMetadata == 0 && !s.wholeVideo(name):
		// A sealed video without a whole fragment (cut to nothing by a card
		// repair) can never be completed: remove it rather than fail at
		// every start.
		for _, ext := range append([]string{ExtClip}, sidecars...) {
			if err := os.Remove(s.path(name, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("storage: recover %s: %w", name, err)
			}
		}
		rep.Removed++
		s.log.Warn("removed a sealed clip with no whole fragment (emptied by a card repair?)", "clip", name)
		return SyncDir(path.Dir(s.path(name, ExtClip)))
	case have&hasPart != 0:
		sealed, err := s.sealPart(name, rep)
		if err != nil || !sealed {
			return err
		}
		have |= hasClip
	case have&hasClip == 0:
		for _, ext := range sidecars {
			if os.Remove(s.path(name, ext)) == nil {
				rep.Orphans++
			}
		}
		return nil
	}
	if have&hasMetadata == 0 {
		if err := s.completeLeft(name, have&hasPart != 0); err != nil {
			return err
		}
		if have&hasPart == 0 {
			rep.Completed++
		}
	}
	return nil
}

// wholeVideo reports whether the sealed video of name holds at least one
// whole fragment.
func (s *Store) wholeVideo(name string) bool {
	f, err := os.Open(s.path(name, ExtClip))
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	r, err := fmp4.Scan(f, st.Size())
	return err == nil && len(r.Fragments) > 0
}

// sealPart cuts a .part back to its last whole fragment and seals it, or
// removes it when it has none.
func (s *Store) sealPart(name string, rep *RecoveryReport) (bool, error) {
	part, final := s.path(name, ExtClip+ExtPart), s.path(name, ExtClip)
	dir := path.Dir(part)
	f, err := os.OpenFile(part, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("storage: recover %s: %w", name, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return false, fmt.Errorf("storage: recover %s: %w", name, err)
	}
	r, err := fmp4.Scan(f, st.Size())
	if err != nil {
		f.Close()
		return false, fmt.Errorf("storage: recover %s: scan: %w", name, err)
	}
	if len(r.Fragments) == 0 {
		f.Close()
		if err := os.Remove(part); err != nil {
			return false, fmt.Errorf("storage: recover %s: %w", name, err)
		}
		rep.Removed++
		s.log.Info("removed a clip with no whole fragment", "clip", name, "bytes", st.Size(), "why", r.Stop)
		return false, atomicfile.SyncDir(dir)
	}
	size := st.Size()
	if r.Stop != nil && r.ValidSize < st.Size() { // not a whole file ending in free or uuid boxes
		size = r.ValidSize
		if err := f.Truncate(r.ValidSize); err != nil {
			f.Close()
			return false, s.noteWriteError("recover", fmt.Errorf("storage: recover %s: truncate: %w", name, err))
		}
		rep.CutBytes += st.Size() - r.ValidSize
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, s.noteWriteError("recover", fmt.Errorf("storage: recover %s: sync: %w", name, err))
	}
	signed := false
	if cs, ok := s.cred.(SlotCredentials); ok {
		// Written with a reserved manifest box: sign in place (the last
		// Merkle box is added back when the cut took it).
		if cn, err := ParseClipName(name); err == nil {
			n, err := cs.SignMP4InPlace(f, size, cn.Start)
			if err == nil {
				err = f.Sync()
			}
			if err == nil {
				signed = true
				s.bytesWritten.Add(uint64(n - size))
			} else {
				s.log.Info("recovered clip not signed in place; signing a copy", "clip", name, "err", err)
			}
		}
	}
	if s.cred != nil && !signed {
		if cn, err := ParseClipName(name); err == nil {
			if sv, err := s.signVideo(part, cn.Start); err == nil {
				f.Close() // the unsigned file, replaced
				f = sv.f
			} else {
				s.log.Warn("recovered clip not signed with Content Credentials", "clip", name, "err", err)
			}
		}
	}
	if err := os.Rename(part, final); err != nil {
		f.Close()
		return false, s.noteWriteError("recover", fmt.Errorf("storage: recover %s: seal: %w", name, err))
	}
	// See WriteFileAtomic: on vfat the renamed file's entry needs its own sync.
	if err := f.Sync(); err != nil {
		f.Close()
		return false, s.noteWriteError("recover", fmt.Errorf("storage: recover %s: sync: %w", name, err))
	}
	if err := f.Close(); err != nil {
		return false, s.noteWriteError("recover", fmt.Errorf("storage: recover %s: close: %w", name, err))
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return false, s.noteWriteError("recover", err)
	}
	rep.Sealed++
	s.log.Info("sealed a clip cut back to its last whole fragment", "clip", name, "fragments", len(r.Fragments),
		"cut_bytes", st.Size()-size, "why", r.Stop)
	return true, nil
}

// maxThumbnailFile bounds a thumbnail read back from the card.
const maxThumbnailFile = 4 << 20

// completeLeft completes a sealed clip whose metadata is missing, from what
// the video itself and its name tell.
func (s *Store) completeLeft(name string, recovered bool) error {
	cn, err := ParseClipName(name)
	if err != nil {
		return err
	}
	p := s.path(name, ExtClip)
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("storage: complete %s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("storage: complete %s: %w", name, err)
	}
	r, err := fmp4.Scan(f, st.Size())
	if err != nil {
		return fmt.Errorf("storage: complete %s: scan: %w", name, err)
	}
	if len(r.Fragments) == 0 {
		return fmt.Errorf("storage: complete %s: no whole fragment: %w", name, r.Stop)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, st.Size())); err != nil {
		return fmt.Errorf("storage: complete %s: hash: %w", name, err)
	}
	ts := uint64(max(r.Track.Timescale, 1))
	base := time.Duration(r.Fragments[0].BaseTime/ts)*time.Second + time.Duration(r.Fragments[0].BaseTime%ts*uint64(time.Second)/ts)
	start := cn.Start.Add(base)
	info := ClipInfo{Name: name, Path: p, State: ClipIncomplete, Size: st.Size(), Duration: r.Duration(),
		Frames: r.Samples(), Start: start, Events: []uint64{cn.Event}, Codec: codecName(r.Track.Codec),
		Width: r.Track.Width, Height: r.Track.Height, SHA256: hex.EncodeToString(h.Sum(nil)),
		Manifest: s.path(name, ExtManifest), Recovered: recovered}
	m := Metadata{Version: MetadataVersion, Name: name, Events: info.Events, Start: start, End: start.Add(info.Duration),
		DurationMS: info.Duration.Milliseconds(), Frames: info.Frames, Codec: info.Codec, Width: info.Width,
		Height: info.Height, Size: info.Size, SHA256: info.SHA256, Recovered: recovered}
	var thumb []byte
	tp := s.path(name, ExtThumbnail)
	if old, err := atomicfile.ReadFileMax(tp, maxThumbnailFile); err == nil {
		sum := sha256.Sum256(old)
		info.Thumbnail, info.ThumbnailSize, info.ThumbnailSHA256 = tp, int64(len(old)), hex.EncodeToString(sum[:])
	} else if r.Track.Codec == fmp4.MJPEG {
		thumb = s.thumbnailOf(f, &r)
		if thumb != nil && s.cred != nil {
			if signed, err := s.cred.SignJPEG(thumb, start); err == nil {
				thumb = signed
			} else {
				s.log.Warn("rebuilt thumbnail not signed with Content Credentials", "clip", name, "err", err)
			}
		}
	}
	return s.complete(&info, &m, thumb)
}

// thumbnailOf makes a thumbnail of the first picture of the middle fragment
// of an MJPEG clip; nil when that fails.
func (s *Store) thumbnailOf(f io.ReaderAt, r *fmp4.Report) []byte {
	fr := r.Fragments[len(r.Fragments)/2]
	var hdr [8]byte
	if _, err := f.ReadAt(hdr[:4], fr.Offset); err != nil {
		return nil
	}
	mdat := fr.Offset + int64(binary.BigEndian.Uint32(hdr[:4]))
	if _, err := f.ReadAt(hdr[:], mdat); err != nil || string(hdr[4:]) != "mdat" {
		return nil
	}
	n := fr.End() - mdat - 8
	if n <= 0 || n > fmp4.DefaultMaxFragmentSize {
		return nil
	}
	data := make([]byte, n)
	if _, err := f.ReadAt(data, mdat+8); err != nil {
		return nil
	}
	var out bytes.Buffer
	s.thumbMu.Lock()
	defer s.thumbMu.Unlock()
	if err := s.thumb.FromJPEG(&out, data); err != nil {
		s.log.Debug("no thumbnail for a recovered clip", "err", err)
		return nil
	}
	return out.Bytes()
}

// rescanLocked rebuilds the index from the sealed clips on the card.
func (s *Store) rescanLocked() {
	// Clips the index already knows keep their order (the order they were
	// sealed in), after the ones found anew, which only their names order.
	known := make(map[string]uint64, len(s.index))
	for _, e := range s.index {
		known[e.name] = e.age
	}
	s.index, s.used, s.indexed = s.index[:0], 0, true
	s.markFoldersLocked()
	days, err := s.days()
	if err != nil {
		s.log.Warn("cannot list the clips", "err", err)
		return
	}
	for _, day := range days {
		names, files, _, err := s.dayClips(day)
		if err != nil {
			s.log.Warn("cannot list the clips", "err", err)
			continue
		}
		for _, name := range names {
			if files[name]&hasClip == 0 {
				continue
			}
			size, uploaded := s.clipSize(name)
			s.index = append(s.index, entry{name: name, size: size, uploaded: uploaded})
			s.used += size
		}
	}
	// sort.Slice, not slices.SortFunc: no copy of the sort per element type (README "Size budget").
	sort.Slice(s.index, func(i, j int) bool { return compareStrings(s.index[i].name, s.index[j].name) < 0 })
	// Across restarts only the names tell the clips' order.
	var found []int
	var kept []int
	for i := range s.index {
		if _, ok := known[s.index[i].name]; ok {
			kept = append(kept, i)
		} else {
			found = append(found, i)
		}
	}
	slices.SortStableFunc(kept, func(a, b int) int { return cmp.Compare(known[s.index[a].name], known[s.index[b].name]) })
	for age, i := range append(found, kept...) {
		s.index[i].age = uint64(age)
	}
	s.nextAge = uint64(len(s.index))
}
