package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/storage/fmp4"
)

// DefaultFragmentDuration is the length of a clip fragment: one write and one
// fdatasync each, and the most a power cut can take from a clip.
const DefaultFragmentDuration = 2 * time.Second

// ClipSpec says what clip to create.
type ClipSpec struct {
	// Start is the capture time of the clip's first frame: it names the clip,
	// and sample times count from it.
	Start time.Time
	// Event is the motion event that opened the clip (it names the clip).
	Event uint64
	Track fmp4.Track
	// FragmentDuration is the target length of a fragment; default
	// DefaultFragmentDuration. An H.264 fragment ends at the first keyframe
	// after it.
	FragmentDuration time.Duration
	// MaxFragments is the number of fragments the clip's Content
	// Credentials are reserved for (with SlotCredentials): a clip of up to
	// that many is signed in place at the seal, a longer one by a copy.
	// Default DefaultMaxFragments.
	MaxFragments int
}

// DefaultMaxFragments is ClipSpec.MaxFragments's default: 5 minutes of 2 s
// fragments, with room for fragments cut short (about 34 bytes each).
const DefaultMaxFragments = 192

// ClipFinish is what the recorder knows about a clip when it seals it.
type ClipFinish struct {
	Events    []uint64  // the motion events the clip shows
	EventTime time.Time // when the first of them started
	Part      int       // 1, 2, ... for the clips of one event split by length
	Thumbnail []byte    // a JPEG, or nil for none
	PeakScore float64
	PeakBoxes int // motion boxes in the peak frame
	PeakTime  time.Time
}

// ClipWriter writes one clip as <base>.mp4.part: the init segment at
// creation, then each fragment in one write followed by fdatasync. Seal
// renames it to <base>.mp4 and writes the sidecars. A ClipWriter is used by
// one goroutine.
type ClipWriter struct {
	s       *Store
	name    string
	spec    ClipSpec
	dir     string
	part    string
	final   string
	f       File
	mux     *fmp4.Writer
	sum     hash.Hash
	size    int64
	fragDur time.Duration

	frames    int // samples in written fragments
	pending   int // samples added since the last fragment
	fragments int
	firstPTS  time.Duration
	lastPTS   time.Duration
	interval  time.Duration // between the last two samples
	err       error         // sticky write error
	closed    bool

	// Signing in place (SlotCredentials): the reserved manifest box at
	// slotOff, the BMFF hashes of what was written, and where the first
	// Merkle box is. cs is nil when the clip is signed by a copy.
	cs          SlotCredentials
	slot        []byte
	slotOff     int64
	initHash    []byte
	leaves      [][]byte
	firstMerkle int64
}

// clipOut is the io.Writer the muxer writes the file through: it hashes and
// counts what reaches the file.
type clipOut struct{ c *ClipWriter }

func (o clipOut) Write(p []byte) (int, error) {
	c := o.c
	if c.cs == nil {
		return c.write(p)
	}
	// With a reserved manifest box: the muxer writes the init segment (ftyp
	// and moov) in one call, then each fragment (moof and mdat) in one.
	if c.initHash == nil {
		if len(p) < 8 {
			return 0, fmt.Errorf("storage: init segment of %d bytes", len(p))
		}
		ftyp := int(binary.BigEndian.Uint32(p))
		if ftyp < 8 || ftyp > len(p) || string(p[4:8]) != "ftyp" {
			return 0, errors.New("storage: the init segment does not start with ftyp")
		}
		h, err := c.cs.BMFFLeaf(int64(ftyp+len(c.slot)), p[ftyp:])
		if err != nil {
			return 0, err
		}
		c.slotOff = int64(ftyp)
		for _, b := range [][]byte{p[:ftyp], c.slot, p[ftyp:]} {
			if _, err := c.write(b); err != nil {
				return 0, err
			}
		}
		c.initHash = h
		return len(p), nil
	}
	h, err := c.cs.BMFFLeaf(c.size, p)
	if err != nil {
		return 0, err
	}
	if n, err := c.write(p); err != nil {
		return n, err
	}
	if len(c.leaves) == 0 {
		c.firstMerkle = c.size
	}
	if _, err := c.write(c.cs.MerkleBox(len(c.leaves))); err != nil {
		return 0, err // the fragment is torn: recovery cuts it
	}
	c.leaves = append(c.leaves, h)
	return len(p), nil
}

func (c *ClipWriter) write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.sum.Write(p[:n])
	c.size += int64(n)
	c.s.bytesWritten.Add(uint64(n))
	return n, err
}

// Create starts a clip: it checks that the card is writable (ErrNotWritable
// otherwise: the card is never written while it is not mounted), creates the
// day folder, the .part file and its init segment, and syncs the folder so
// that the file survives a power cut.
func (s *Store) Create(spec ClipSpec) (*ClipWriter, error) {
	if spec.FragmentDuration <= 0 {
		spec.FragmentDuration = DefaultFragmentDuration
	}
	if spec.MaxFragments <= 0 {
		spec.MaxFragments = DefaultMaxFragments
	}
	c := &ClipWriter{s: s, spec: spec, fragDur: spec.FragmentDuration, sum: sha256.New()}
	if cs, ok := s.cred.(SlotCredentials); ok {
		if slot, err := cs.ReserveMP4(spec.MaxFragments); err == nil {
			c.cs, c.slot = cs, slot
		} else {
			s.log.Warn("no Content Credentials slot reserved; the clip will be signed by a copy", "err", err)
		}
	}
	mux, err := fmp4.NewWriter(clipOut{c}, spec.Track)
	if err != nil {
		return nil, fmt.Errorf("storage: create clip: %w", err)
	}
	c.mux = mux
	if h := s.Check(); h.State != StateWritable {
		return nil, fmt.Errorf("storage: create clip: %w: card %s: %w", ErrNotWritable, h.State, h.Err)
	}
	s.mu.Lock()
	name, err := s.reserveLocked(spec)
	if err == nil {
		c.name, c.part, c.final = name, s.path(name, ExtClip+ExtPart), s.path(name, ExtClip)
		c.dir = filepath.Dir(c.part)
		c.f, err = s.create(c.part)
		s.noteOwnLocked(c.dir)
		if err != nil {
			delete(s.open, name)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return nil, s.noteWriteError("create clip", fmt.Errorf("storage: create clip: %w", err))
	}
	if err := c.mux.WriteInit(); err != nil {
		c.Abort()
		return nil, s.noteWriteError("create clip", fmt.Errorf("storage: write %s: %w", c.part, err))
	}
	if err := atomicfile.SyncDir(c.dir); err != nil {
		c.Abort()
		return nil, s.noteWriteError("create clip", err)
	}
	s.syncs.Add(1)
	return c, nil
}

// reserveLocked makes the clip's day folder and picks a name no file has.
func (s *Store) reserveLocked(spec ClipSpec) (string, error) {
	cn := ClipName{Start: spec.Start.UTC().Truncate(time.Second), Event: spec.Event}
	base := cn.String()
	if err := s.mkdirs(filepath.Dir(s.path(base, ""))); err != nil {
		return "", err
	}
	for n := 1; n <= 1000; n++ {
		cn.N = n
		name := cn.String()
		if s.open[name] != nil || exists(s.path(name, ExtClip)) || exists(s.path(name, ExtClip+ExtPart)) || exists(s.path(name, ExtMetadata)) {
			continue
		}
		s.open[name] = &progress{path: s.path(name, ExtClip+ExtPart), start: spec.Start, event: spec.Event}
		return name, nil
	}
	return "", fmt.Errorf("storage: no free name for %s", base)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// mkdirs creates dir and its parents up to the card's folder, syncing the
// parent of each folder it creates (s.mu is held).
func (s *Store) mkdirs(dir string) error {
	if dir == filepath.Clean(s.card.Mount) || dir == filepath.Dir(dir) {
		return nil
	}
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("storage: %s is not a folder", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if err := s.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("storage: create %s: %w", dir, err)
	}
	s.noteOwnLocked(parent, dir)
	s.syncs.Add(1)
	return atomicfile.SyncDir(parent)
}

// writeSidecar writes a sidecar crash-safe (two syncs: the file and its
// folder) and counts what it wrote.
func (s *Store) writeSidecar(path string, data []byte) error {
	err := s.ownChange(func() error { return atomicfile.WriteFile(path, data, 0o644) }, filepath.Dir(path))
	if err != nil {
		return err
	}
	s.syncs.Add(2)
	s.bytesWritten.Add(uint64(len(data)))
	return nil
}

// Name returns the clip's name.
func (c *ClipWriter) Name() string { return c.name }

// Frames returns the samples added so far.
func (c *ClipWriter) Frames() int { return c.frames + c.pending }

// Err returns the write error that stopped the clip, if any.
func (c *ClipWriter) Err() error { return c.err }

// AddSample adds one frame with its capture time t, which must be after the
// previous one's (and not before the clip's start). A fragment is written and
// synced first when the current one has reached its length and this frame
// may start one. A write error stops the clip: it and every later call return
// it; seal or abort the clip then. Other errors (bad timestamp, invalid or
// oversized sample) reject only this sample.
func (c *ClipWriter) AddSample(data []byte, t time.Time, key bool) error {
	if c.err != nil {
		return c.err
	}
	if c.closed {
		return fmt.Errorf("storage: clip %s: %w", c.name, fmp4.ErrState)
	}
	pts := t.Sub(c.spec.Start)
	if c.mux.PendingSamples() > 0 && c.mux.FragmentDuration() >= c.fragDur && c.mux.WouldStartFragment(key) {
		if err := c.flush(); err != nil {
			return err
		}
	}
	err := c.mux.AddSample(data, pts, key)
	if errors.Is(err, fmp4.ErrFragmentFull) && c.mux.WouldStartFragment(key) {
		if err := c.flush(); err != nil {
			return err
		}
		err = c.mux.AddSample(data, pts, key)
	}
	if err != nil {
		return fmt.Errorf("storage: clip %s: %w", c.name, err)
	}
	if c.frames+c.pending == 0 {
		c.firstPTS = pts
	} else {
		c.interval = pts - c.lastPTS
	}
	c.lastPTS = pts
	c.pending++
	return nil
}

// duration is the time the added samples span, the last lasting as long as
// the interval before it.
func (c *ClipWriter) duration() time.Duration {
	if c.frames+c.pending == 0 {
		return 0
	}
	last := c.interval
	if last <= 0 {
		last = c.mux.Track().FrameDuration
	}
	return c.lastPTS - c.firstPTS + last
}

// Flush writes the pending samples as a fragment and syncs it.
func (c *ClipWriter) Flush() error {
	if c.err != nil {
		return c.err
	}
	return c.flush()
}

func (c *ClipWriter) flush() error {
	if c.mux.PendingSamples() == 0 {
		return nil
	}
	if _, err := c.mux.Flush(); err != nil {
		return c.fail("write fragment", err)
	}
	if err := c.f.Datasync(); err != nil {
		return c.fail("sync fragment", err)
	}
	c.s.syncs.Add(1)
	c.s.noteWriteOK()
	c.frames += c.pending
	c.pending = 0
	c.fragments++
	d := c.duration()
	c.s.mu.Lock()
	if p := c.s.open[c.name]; p != nil {
		p.frames, p.duration, p.size = c.frames, d, c.size
	}
	c.s.mu.Unlock()
	return nil
}

func (c *ClipWriter) fail(op string, err error) error {
	c.err = c.s.noteWriteError(op, fmt.Errorf("storage: %s of %s: %w", op, c.part, err))
	return c.err
}

// Abort stops the clip without sealing it: the file is closed and left as a
// .part for Recover (which cuts it back to its last whole fragment), or
// removed when it holds no fragment. Use it after a write error.
func (c *ClipWriter) Abort() error {
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.f.Close()
	if c.fragments == 0 {
		if rerr := c.s.ownChange(func() error { return os.Remove(c.part) }, c.dir); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	c.s.mu.Lock()
	delete(c.s.open, c.name)
	c.s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("storage: abort %s: %w", c.name, err)
	}
	return nil
}

// Seal writes the last fragment, closes the file, renames it to <base>.mp4
// and syncs the folder: from then on the video is never modified. Then it
// completes the clip: the thumbnail sidecar, the OnSeal hook (the manifest),
// and the metadata sidecar last, each written crash-safe. A clip without any
// sample is removed (ErrEmptyClip). After a write error the clip is aborted
// (left to Recover) and the error returned; if only the completion fails,
// the clip is sealed but incomplete (ErrIncomplete) and Recover completes it.
func (c *ClipWriter) Seal(fin ClipFinish) (ClipInfo, error) {
	if c.closed {
		return ClipInfo{}, fmt.Errorf("storage: seal %s: %w", c.name, fmp4.ErrState)
	}
	if c.err == nil {
		c.flush()
	}
	if c.err != nil {
		c.Abort()
		return ClipInfo{}, c.err
	}
	c.closed = true
	defer func() {
		c.s.mu.Lock()
		delete(c.s.open, c.name)
		c.s.mu.Unlock()
	}()
	if c.fragments == 0 {
		err := errors.Join(c.f.Close(), c.s.ownChange(func() error { return os.Remove(c.part) }, c.dir))
		if err != nil {
			return ClipInfo{}, fmt.Errorf("storage: seal %s: %w: %w", c.name, ErrEmptyClip, err)
		}
		return ClipInfo{}, fmt.Errorf("storage: seal %s: %w", c.name, ErrEmptyClip)
	}
	c.sign()
	if err := c.s.ownChange(func() error { return os.Rename(c.part, c.final) }, c.dir); err != nil {
		c.f.Close()
		return ClipInfo{}, c.s.noteWriteError("seal", fmt.Errorf("storage: seal %s: %w", c.name, err))
	}
	// See WriteFileAtomic: on vfat the renamed file's entry needs its own sync.
	if err := c.f.Datasync(); err != nil {
		c.f.Close()
		return ClipInfo{}, c.s.noteWriteError("seal", fmt.Errorf("storage: sync %s: %w", c.final, err))
	}
	if err := c.f.Close(); err != nil {
		return ClipInfo{}, c.s.noteWriteError("seal", fmt.Errorf("storage: close %s: %w", c.final, err))
	}
	if err := atomicfile.SyncDir(c.dir); err != nil {
		return ClipInfo{}, c.s.noteWriteError("seal", err)
	}
	c.s.syncs.Add(1)
	tr := c.mux.Track()
	start := c.spec.Start.Add(c.firstPTS)
	info := ClipInfo{Name: c.name, Path: c.final, State: ClipIncomplete, Size: c.size, Duration: c.duration(),
		Frames: c.frames, Start: start, EventTime: fin.EventTime, Events: fin.Events, Part: fin.Part,
		Codec: codecName(tr.Codec), Width: tr.Width, Height: tr.Height, SHA256: hex.EncodeToString(c.sum.Sum(nil)),
		Manifest: c.s.path(c.name, ExtManifest), PeakScore: fin.PeakScore, PeakBoxes: fin.PeakBoxes}
	m := Metadata{Version: MetadataVersion, Name: c.name, Events: fin.Events, EventTime: fin.EventTime,
		Start: start, End: c.spec.Start.Add(c.lastPTS), DurationMS: info.Duration.Milliseconds(), Frames: c.frames,
		Codec: info.Codec, Width: tr.Width, Height: tr.Height, Size: c.size, SHA256: info.SHA256, Part: fin.Part,
		PeakScore: fin.PeakScore, PeakBoxes: fin.PeakBoxes, PeakTime: fin.PeakTime}
	if len(m.Events) > MaxClipEvents {
		m.Events = m.Events[:MaxClipEvents]
		info.Events = m.Events
	}
	if err := c.s.complete(&info, &m, fin.Thumbnail); err != nil {
		return info, err
	}
	return info, nil
}

// sign signs the finished .part with Content Credentials
// (StoreConfig.Credentials), when set: in place when the clip was written
// with a reserved manifest box its fragments fit (one write of that box and
// one fdatasync; the file is then read once for its SHA-256), else by
// replacing it with a signed copy. A clip that cannot be signed is sealed
// unsigned.
func (c *ClipWriter) sign() {
	if c.s.cred == nil {
		return
	}
	t0 := time.Now()
	captured := c.spec.Start.Add(c.firstPTS)
	if c.cs != nil && c.initHash != nil {
		err := c.signInPlace(captured)
		if err == nil {
			c.s.log.Debug("clip signed in place with Content Credentials", "clip", c.name, "fragments", len(c.leaves),
				"took", time.Since(t0).Round(time.Millisecond))
			return
		}
		c.s.log.Warn("clip not signed in place; signing a copy", "clip", c.name, "err", err)
	}
	sv, err := c.s.signVideo(c.part, captured)
	if err != nil {
		c.s.log.Warn("clip not signed with Content Credentials", "clip", c.name, "err", err)
		return
	}
	c.s.log.Debug("clip signed with Content Credentials", "clip", c.name, "bytes_added", sv.size-c.size,
		"took", time.Since(t0).Round(time.Millisecond))
	c.f.Close() // the unsigned file, replaced
	c.f, c.size, c.sum = osFile{sv.f}, sv.size, sv.sum
}

// signInPlace writes the signed manifest into the reserved box of the .part
// and syncs it, then hashes the file as it now is. Until the box is synced
// the .part is unsigned; a crash leaves it to Recover, which signs it again.
func (c *ClipWriter) signInPlace(captured time.Time) error {
	box, err := c.cs.SealMP4(len(c.slot), c.firstMerkle, c.initHash, c.leaves, captured)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.part, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("storage: sign %s: %w", c.name, err)
	}
	defer f.Close()
	if _, err := f.WriteAt(box, c.slotOff); err != nil {
		return c.s.noteWriteError("sign", fmt.Errorf("storage: sign %s: %w", c.name, err))
	}
	if err := datasync(f); err != nil {
		return c.s.noteWriteError("sign", fmt.Errorf("storage: sign %s: sync: %w", c.name, err))
	}
	c.s.syncs.Add(1)
	c.s.bytesWritten.Add(uint64(len(box)))
	sum := sha256.New()
	if _, err := io.Copy(sum, io.NewSectionReader(f, 0, c.size)); err != nil {
		return fmt.Errorf("storage: sign %s: hash: %w", c.name, err)
	}
	c.sum = sum
	return nil
}

func codecName(c fmp4.Codec) string {
	if c == fmp4.H264 {
		return CodecH264
	}
	return CodecMJPEG
}

// complete writes a sealed clip's thumbnail (unless thumb is nil), runs the
// OnSeal hook and writes the metadata, then indexes the clip.
func (s *Store) complete(info *ClipInfo, m *Metadata, thumb []byte) error {
	if len(thumb) > 0 {
		path := s.path(info.Name, ExtThumbnail)
		if err := s.writeSidecar(path, thumb); err != nil {
			return s.noteWriteError("write thumbnail", err)
		}
		sum := sha256.Sum256(thumb)
		info.Thumbnail, info.ThumbnailSize, info.ThumbnailSHA256 = path, int64(len(thumb)), hex.EncodeToString(sum[:])
	}
	if info.Thumbnail != "" {
		m.Thumbnail, m.ThumbnailSize, m.ThumbnailSHA256 = filepath.Base(info.Thumbnail), info.ThumbnailSize, info.ThumbnailSHA256
	}
	if s.onSeal != nil {
		// The hook writes the manifest beside the clip: a change of the
		// store's own to that folder.
		if err := s.ownChange(func() error { return s.onSeal(*info) }, filepath.Dir(info.Path)); err != nil {
			s.log.Warn("clip sealed but its seal hook failed; recovery will retry", "clip", info.Name, "err", err)
			return fmt.Errorf("storage: complete %s: %w: %w", info.Name, ErrIncomplete, err)
		}
	}
	m.Sealed = s.now().UTC()
	data, err := m.encode()
	if err != nil {
		return err
	}
	path := s.path(info.Name, ExtMetadata)
	if err := s.writeSidecar(path, data); err != nil {
		return s.noteWriteError("write metadata", err)
	}
	info.Metadata, info.State = path, ClipSealed
	size, uploaded := s.clipSize(info.Name)
	if uploaded {
		info.State = ClipUploaded
	}
	s.mu.Lock()
	s.addLocked(entry{name: info.Name, size: size, uploaded: uploaded})
	s.mu.Unlock()
	s.sealed.Add(1)
	s.log.Info("clip sealed", "clip", info.Name, "frames", info.Frames, "duration", info.Duration.Round(time.Millisecond),
		"bytes", info.Size, "recovered", info.Recovered)
	if s.onComplete != nil {
		s.onComplete(*info)
	}
	s.announce(*info)
	return nil
}
