package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/storage/jpegframe"
)

// ClipState is where a clip is in its life on the card, as ClipInfo.State
// gives it (and `camagent ctl clips` shows it).
type ClipState string

// Clip states.
const (
	ClipRecording  ClipState = "recording"  // being written (a .part of this agent)
	ClipSealed     ClipState = "sealed"     // complete, not uploaded yet
	ClipUploaded   ClipState = "uploaded"   // complete and marked uploaded
	ClipIncomplete ClipState = "incomplete" // sealed video whose OnSeal hook failed (no metadata yet)
	ClipPartial    ClipState = "partial"    // a .part no one writes: left by a crash, Recover seals it
)

func (s ClipState) String() string { return string(s) }

// StoreConfig configures a Store. Zero fields take their defaults.
type StoreConfig struct {
	Card   *Card
	Logger *slog.Logger     // default: discard
	Now    func() time.Time // wall clock for sealing times and markers; default time.Now
	// Retention says how much of the card the clips may use.
	Retention Retention
	// IOErrorHold is how long the card counts as failing (StateIOError)
	// after a write error, before writing is tried again. Default 10 s.
	IOErrorHold time.Duration
	// OnSeal runs when a clip's video is sealed (renamed and its folder
	// synced) and its thumbnail written, and before its metadata, the mark
	// of a complete clip, is written: the signed manifest is made here
	// (ClipInfo.Manifest is where it goes; write it with WriteFileAtomic).
	// It runs on the goroutine that seals (the recorder, or Recover's
	// caller). An error leaves the clip sealed but incomplete: Recover calls
	// OnSeal again for it, so OnSeal must accept a clip it has seen before
	// (after a crash too).
	OnSeal func(ClipInfo) error
	// OnComplete is told of each clip that became complete (the upload queue
	// takes it from here). It must not block.
	OnComplete func(ClipInfo)
	// OnDelete is told of each clip retention deleted. It must not block.
	OnDelete func(Deletion)
	// Credentials, when set, signs each clip's video with Content
	// Credentials (C2PA) as it is sealed, before the seal's rename (so the
	// size, SHA-256 and manifest are those of the signed file), and the
	// clips and thumbnails Recover rebuilds after a crash. A video or
	// thumbnail that cannot be signed is kept unsigned and the error logged.
	Credentials Credentials
	// CreateFile creates a new, empty .part file. Default: CreateFile. Tests
	// wrap it to inject write errors.
	CreateFile func(path string) (File, error)
}

// File is what a clip is written to: fragments are appended with Write and
// made durable with Datasync.
type File interface {
	io.Writer
	Datasync() error
	Close() error
}

type osFile struct{ *os.File }

func (f osFile) Datasync() error { return datasync(f.File) }

// CreateFile creates path exclusively (mode 0644); its Datasync is
// fdatasync(2) on Linux.
func CreateFile(path string) (File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Store is the clip store on an SD card: it creates clips crash-safe, seals
// them, recovers what a crash left, lists them, marks them uploaded and
// deletes old ones to keep space. Its methods are safe for concurrent use.
type Store struct {
	card       *Card
	dir        string
	log        *slog.Logger
	now        func() time.Time
	ret        Retention
	hold       time.Duration
	onSeal     func(ClipInfo) error
	onComplete func(ClipInfo)
	onDelete   func(Deletion)
	create     func(string) (File, error)
	cred       Credentials

	recoverMu sync.Mutex // one Recover at a time
	mu        sync.Mutex
	health    Health
	ioErr     error
	ioErrAt   time.Time
	index     []entry // sealed clips, by name (entry.age orders them for retention)
	nextAge   uint64  // entry.age of the next clip sealed
	used      int64   // bytes of the indexed clips
	indexed   bool
	folders   map[string]folderMark // the clip folders as last looked at (index.go)
	own       map[string]int        // the store's own changes per folder since
	busy      map[string]int        // the store's own changes going on, per folder
	open      map[string]*progress  // clips being written, by name
	recovery  RecoveryReport
	// checked: a Recover has run since the store was made and since the
	// card was last seen missing (it may be another card now).
	checked bool
	thumbMu sync.Mutex
	thumb   jpegframe.Thumbnailer
	subs    map[*Subscription]struct{} // Subscribe's subscriptions, under mu

	bytesWritten atomic.Uint64
	syncs        atomic.Uint64
	sealed       atomic.Uint64
	deleted      atomic.Uint64
	deletedNew   atomic.Uint64 // deleted before they were uploaded
}

// entry is a sealed clip in the index.
type entry struct {
	name     string
	size     int64 // the video and its sidecars
	uploaded bool
	// age orders the clips for retention, oldest (smallest) first: those
	// found on the card at a rescan in name order, then those sealed since
	// in the order they were sealed. Names come from the wall clock, which
	// steps when it is first synchronised (from 1970, or back from a clock
	// that ran ahead): a clip sealed after a step back gets an older name
	// than the clips before it, and must not be deleted first for that.
	age uint64
}

// progress is what Clips shows of a clip being written.
type progress struct {
	path     string
	start    time.Time
	event    uint64
	frames   int
	duration time.Duration
	size     int64
}

// NewStore returns the store of the clips on cfg.Card. It touches nothing on
// the card; call Recover first.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.Card == nil {
		return nil, errors.New("storage: new store: no card")
	}
	if err := cfg.Retention.validate(); err != nil {
		return nil, err
	}
	s := &Store{card: cfg.Card, dir: filepath.Join(cfg.Card.Dir(), ClipsDir), log: cfg.Logger, now: cfg.Now,
		ret: cfg.Retention, hold: cfg.IOErrorHold, onSeal: cfg.OnSeal, onComplete: cfg.OnComplete,
		onDelete: cfg.OnDelete, create: cfg.CreateFile, cred: cfg.Credentials, open: map[string]*progress{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.hold <= 0 {
		s.hold = 10 * time.Second
	}
	if s.create == nil {
		s.create = CreateFile
	}
	s.thumb = jpegframe.Thumbnailer{Width: 320, Quality: 80}
	return s, nil
}

// Dir returns the clips folder: <mount>/camagent/clips.
func (s *Store) Dir() string { return s.dir }

// Card returns the card the store is on.
func (s *Store) Card() *Card { return s.card }

// Check probes the card and returns its health. A card that probes writable
// but failed a write less than IOErrorHold ago is reported as StateIOError.
func (s *Store) Check() Health {
	h := s.card.Probe()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.noteHealthLocked(h)
}

func (s *Store) noteHealthLocked(h Health) Health {
	if h.State == StateWritable && s.ioErr != nil {
		if s.now().Sub(s.ioErrAt) < s.hold {
			h.State, h.Err = StateIOError, s.ioErr
		} else {
			s.ioErr = nil
		}
	}
	if h.State == StateMissing {
		s.checked = false
	}
	s.health = h
	return h
}

// Checked reports whether the card's clips have been put in order (Recover)
// since the store was made and since the card was last missing. Until then a
// clip that a crash or power cut left unsealed is not among Pending: it joins
// when Recover seals it.
func (s *Store) Checked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checked
}

// noteWriteError records a failed write or sync and returns err.
func (s *Store) noteWriteError(op string, err error) error {
	state := StateOf(err)
	s.mu.Lock()
	s.ioErr, s.ioErrAt = err, s.now()
	s.health.State, s.health.Err = state, err
	s.mu.Unlock()
	s.log.Warn("sd card write failed", "op", op, "state", state, "err", err)
	return err
}

// noteWriteOK clears a past write error after a successful sync.
func (s *Store) noteWriteOK() {
	s.mu.Lock()
	if s.ioErr != nil {
		s.ioErr = nil
		if s.health.State != StateWritable && s.health.Err != nil {
			s.health.State, s.health.Err = StateWritable, nil
		}
	}
	s.mu.Unlock()
}

// StoreStatus is the store's part of `camagent ctl status`.
type StoreStatus struct {
	// State is writable, read-only, missing, full or io-error.
	State      string `json:"state"`
	Error      string `json:"error,omitempty"`
	Device     string `json:"device,omitempty"`
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
	// Clips and Bytes are the sealed clips (with sidecars) on the card;
	// Uploaded of them are marked uploaded.
	Clips    int   `json:"clips"`
	Uploaded int   `json:"uploaded"`
	Bytes    int64 `json:"bytes"`
	// Recording lists the clips being written.
	Recording []string `json:"recording,omitempty"`
	// Since the store was made: bytes written to clips and their sidecars,
	// fsyncs and fdatasyncs (of files and folders), clips sealed, clips retention deleted (DeletedNotUploaded of
	// them before they were uploaded).
	BytesWritten       uint64         `json:"bytes_written"`
	Syncs              uint64         `json:"syncs"`
	Sealed             uint64         `json:"sealed"`
	Deleted            uint64         `json:"deleted"`
	DeletedNotUploaded uint64         `json:"deleted_not_uploaded"`
	LastRecovery       RecoveryReport `json:"last_recovery"`
}

// Status returns the store's state as of the last probe or write.
func (s *Store) Status() StoreStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshIndexLocked()
	st := StoreStatus{State: s.health.State, Device: s.health.Device, FreeBytes: s.health.FreeBytes,
		TotalBytes: s.health.TotalBytes, Clips: len(s.index), Bytes: s.used, LastRecovery: s.recovery,
		BytesWritten: s.bytesWritten.Load(), Syncs: s.syncs.Load(), Sealed: s.sealed.Load(),
		Deleted: s.deleted.Load(), DeletedNotUploaded: s.deletedNew.Load()}
	if st.State == "" {
		st.State = "unknown"
	}
	if s.health.Err != nil {
		st.Error = s.health.Err.Error()
	}
	for _, e := range s.index {
		if e.uploaded {
			st.Uploaded++
		}
	}
	for name := range s.open {
		st.Recording = append(st.Recording, name)
	}
	slices.Sort(st.Recording)
	return st
}

// ClipInfo describes one clip, for `camagent ctl clips`, the OnSeal hook and
// the upload queue.
type ClipInfo struct {
	Name  string    `json:"name"` // see ClipName
	Path  string    `json:"path"` // the .mp4 (the .mp4.part while recording)
	State ClipState `json:"state"`
	Size  int64     `json:"size"` // of the video file
	// Duration and Frames of the video (for a clip being written, as of its
	// last fragment).
	Duration  time.Duration `json:"duration"`
	Frames    int           `json:"frames"`
	Start     time.Time     `json:"start"`
	EventTime time.Time     `json:"event_time,omitzero"`
	Events    []uint64      `json:"events,omitempty"`
	Part      int           `json:"part,omitempty"`
	Codec     string        `json:"codec,omitempty"`
	Width     int           `json:"width,omitempty"`
	Height    int           `json:"height,omitempty"`
	SHA256    string        `json:"sha256,omitempty"`
	// Thumbnail is the thumbnail's path, empty when there is none.
	Thumbnail       string `json:"thumbnail,omitempty"`
	ThumbnailSize   int64  `json:"thumbnail_size,omitempty"`
	ThumbnailSHA256 string `json:"thumbnail_sha256,omitempty"`
	// Metadata and Manifest are the paths of those sidecars (Manifest is
	// where OnSeal writes it; it may not exist).
	Metadata  string  `json:"metadata,omitempty"`
	Manifest  string  `json:"manifest,omitempty"`
	PeakScore float64 `json:"peak_score,omitempty"`
	PeakBoxes int     `json:"peak_boxes,omitempty"` // motion boxes in the peak frame
	Recovered bool    `json:"recovered,omitempty"`
}

// NameOf returns the clip name of one of a clip's files (its video, .part or
// a sidecar) under the store's folder.
func (s *Store) NameOf(path string) (string, error) {
	rel, err := filepath.Rel(s.dir, path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrBadName, path, err)
	}
	rel = filepath.ToSlash(rel)
	dir, file := pathpkgSplit(rel)
	base, _, ok := splitFile(file)
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrBadName, path)
	}
	name := dir + base
	if _, err := ParseClipName(name); err != nil {
		return "", err
	}
	return name, nil
}

func pathpkgSplit(p string) (dir, file string) {
	i := strings.LastIndexByte(p, '/')
	return p[:i+1], p[i+1:]
}

// MarkUploaded records that the sealed clip name was uploaded (an
// <base>.uploaded marker holding the time), so that retention may delete it
// first. Marking twice is harmless.
func (s *Store) MarkUploaded(name string) error {
	if _, err := ParseClipName(name); err != nil {
		return err
	}
	if _, err := os.Stat(s.path(name, ExtClip)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("storage: mark %s uploaded: %w", name, ErrUnknownClip)
		}
		return fmt.Errorf("storage: mark %s uploaded: %w", name, err)
	}
	stamp := s.now().UTC().Format(time.RFC3339) + "\n"
	if err := s.writeSidecar(s.path(name, ExtUploaded), []byte(stamp)); err != nil {
		return s.noteWriteError("mark uploaded", err)
	}
	s.mu.Lock()
	if i, ok := s.find(name); ok && !s.index[i].uploaded {
		s.index[i].uploaded = true
		s.index[i].size += int64(len(stamp))
		s.used += int64(len(stamp))
	}
	s.mu.Unlock()
	return nil
}

// IsUploaded reports whether the clip name is marked uploaded.
func (s *Store) IsUploaded(name string) (bool, error) {
	if _, err := ParseClipName(name); err != nil {
		return false, err
	}
	_, err := os.Stat(s.path(name, ExtUploaded))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("storage: is %s uploaded: %w", name, err)
}

// oldestLocked returns the index position of the oldest clip (entry.age)
// that ok accepts, or -1.
func (s *Store) oldestLocked(ok func(entry) bool) int {
	best := -1
	for i, e := range s.index {
		if ok(e) && (best < 0 || e.age < s.index[best].age) {
			best = i
		}
	}
	return best
}

// find returns the index position of name (or where it would go).
func (s *Store) find(name string) (int, bool) {
	return slices.BinarySearchFunc(s.index, name, func(e entry, n string) int { return strings.Compare(e.name, n) })
}

// addLocked puts a sealed clip into the index.
func (s *Store) addLocked(e entry) {
	if !s.indexed {
		// The clips already on the card are older than this one.
		s.rescanLocked()
	}
	e.age = s.nextAge
	s.nextAge++
	i, ok := s.find(e.name)
	if ok {
		s.used -= s.index[i].size
		s.index[i] = e
	} else {
		s.index = slices.Insert(s.index, i, e)
	}
	s.used += e.size
}

// clipSize returns the bytes of a clip's video and sidecars, and whether it
// is marked uploaded.
func (s *Store) clipSize(name string) (int64, bool) {
	var n int64
	uploaded := false
	for _, ext := range append([]string{ExtClip}, sidecars...) {
		if st, err := os.Stat(s.path(name, ext)); err == nil {
			n += st.Size()
			if ext == ExtUploaded {
				uploaded = true
			}
		}
	}
	return n, uploaded
}
