package ingest

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/manifest"
)

// File names inside an item directory.
const (
	manifestFile = "manifest.cose"
	completeFile = "complete"
	objectPrefix = "obj-"
	stateFile    = "state.json"
	gapsFile     = "gaps.log"
	maxStateFile = 4 << 10
	seqDigits    = 20
)

// device is the ingest's state for one device ID (which is both a verified
// manifest's device and the TLS identity of its writes).
type device struct {
	mu      sync.Mutex
	id      string
	dir     string // store/devices/<id>
	staging string // staging/<id>
	loaded  bool

	state   deviceState
	pending map[[32]byte]*pendingObject
	busy    map[[32]byte]bool   // objects a request is appending to
	recent  map[[32]byte]uint64 // recently completed objects and their sizes
	// stored is where each accepted object of this device is (one of its
	// items' obj-<role> files), so that a later manifest naming an object
	// already stored gets it linked instead of asking for it again.
	stored map[[32]byte]storedObject
}

// storedObject is one accepted object on disk.
type storedObject struct {
	path string
	size uint64
}

// deviceState is state.json.
type deviceState struct {
	LatestSeq  uint64 `json:"latest_seq"`
	LatestHash string `json:"latest_hash"` // hex of manifest.Hash of the newest accepted
	Gaps       uint64 `json:"gaps"`
}

// pendingObject is an object declared by stored manifests and not yet
// accepted.
type pendingObject struct {
	size uint64
	refs []objRef
}

// objRef is one place an object goes: the item with sequence seq, as role.
type objRef struct {
	seq  uint64
	role string
}

// lockDevice returns the state of id, locked, loading it from disk on first
// use. The caller unlocks it.
func (s *Server) lockDevice(id string) (*device, error) {
	s.mu.Lock()
	d := s.devices[id]
	if d == nil {
		d = &device{id: id, dir: filepath.Join(s.storeDir, id), staging: filepath.Join(s.stagingDir, id),
			pending: map[[32]byte]*pendingObject{}, busy: map[[32]byte]bool{}}
		s.devices[id] = d
	}
	s.mu.Unlock()
	d.mu.Lock()
	if !d.loaded {
		if err := s.load(d); err != nil {
			d.mu.Unlock()
			return nil, err
		}
		d.loaded = true
	}
	return d, nil
}

// load reads a device's state and finds its incomplete items.
func (s *Server) load(d *device) error {
	b, err := atomicfile.ReadFileMax(filepath.Join(d.dir, stateFile), maxStateFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &d.state); err != nil {
			return fmt.Errorf("ingest: %s state: %w", d.id, err)
		}
	}
	seqs, err := itemSeqs(d.dir)
	if err != nil {
		return err
	}
	for _, seq := range seqs {
		dir := itemDir(d.dir, seq)
		if exists(filepath.Join(dir, completeFile)) {
			// Every object of a complete item is stored: note where
			// (the manifest was verified when it was stored).
			if cose, err := atomicfile.ReadFileMax(filepath.Join(dir, manifestFile), manifest.MaxSize); err == nil {
				if m, _, err := manifest.Parse(cose); err == nil {
					for _, o := range m.Objects {
						d.noteStored(o.SHA256, filepath.Join(dir, objectPrefix+o.Role), o.Size)
					}
				}
			}
			continue
		}
		cose, err := atomicfile.ReadFileMax(filepath.Join(dir, manifestFile), manifest.MaxSize)
		if err != nil {
			s.log.Error("stored item unreadable", "device", d.id, "seq", seq, "err", err)
			continue
		}
		m, _, err := manifest.VerifySelf(cose)
		if err != nil || m.DeviceID != d.id || m.Seq != seq {
			s.log.Error("stored manifest fails verification; ignored", "device", d.id, "seq", seq, "err", err)
			continue
		}
		for _, o := range m.Objects {
			if p := filepath.Join(dir, objectPrefix+o.Role); exists(p) {
				d.noteStored(o.SHA256, p, o.Size)
			} else {
				d.addPending(o, seq)
			}
		}
	}
	return nil
}

// noteStored records that the accepted object sum is at path.
func (d *device) noteStored(sum [32]byte, path string, size uint64) {
	if d.stored == nil {
		d.stored = map[[32]byte]storedObject{}
	}
	if _, ok := d.stored[sum]; !ok {
		d.stored[sum] = storedObject{path: path, size: size}
	}
}

// linkStored puts the already accepted object o into the item folder dir, by
// hard link (or copy), and reports whether it did: an object is received
// once per device, whichever manifests name it. d is locked.
func (s *Server) linkStored(d *device, o manifest.Object, dir string) (bool, error) {
	so, ok := d.stored[o.SHA256]
	if !ok || so.size != o.Size {
		return false, nil
	}
	if st, err := os.Stat(so.path); err != nil || uint64(st.Size()) != so.size {
		delete(d.stored, o.SHA256) // gone or damaged: receive it again
		return false, nil
	}
	dst := filepath.Join(dir, objectPrefix+o.Role)
	if exists(dst) {
		return true, nil
	}
	if err := os.Link(so.path, dst); err != nil {
		if err := s.copyFile(so.path, dst); err != nil {
			return false, fmt.Errorf("ingest: link stored %x into %s: %w", o.SHA256[:8], dir, err)
		}
	}
	return true, nil
}

func (d *device) addPending(o manifest.Object, seq uint64) {
	p := d.pending[o.SHA256]
	if p == nil {
		p = &pendingObject{size: o.Size}
		d.pending[o.SHA256] = p
	}
	ref := objRef{seq: seq, role: o.Role}
	if !slices.Contains(p.refs, ref) {
		p.refs = append(p.refs, ref)
	}
}

func (d *device) saveState(k disk) error {
	b, err := json.Marshal(d.state)
	if err != nil {
		return fmt.Errorf("ingest: %s state: %w", d.id, err)
	}
	return k.writeAtomic(filepath.Join(d.dir, stateFile), b)
}

func (d *device) latestHash() [32]byte {
	var h [32]byte
	_, _ = hex.Decode(h[:], []byte(d.state.LatestHash))
	return h
}

// stagedPath is where the partial object sum of this device is kept.
func (d *device) stagedPath(sum [32]byte) string {
	return filepath.Join(d.staging, hex.EncodeToString(sum[:])+".part")
}

// staged returns how many bytes of sum are staged.
func (d *device) staged(sum [32]byte) uint64 {
	info, err := os.Stat(d.stagedPath(sum))
	if err != nil {
		return 0
	}
	return uint64(info.Size())
}

func itemDir(deviceDir string, seq uint64) string {
	return filepath.Join(deviceDir, fmt.Sprintf("%0*d", seqDigits, seq))
}

// itemSeqs lists the sequence numbers of a device's stored items, ascending.
func itemSeqs(deviceDir string) ([]uint64, error) {
	ents, err := os.ReadDir(deviceDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: list items: %w", err)
	}
	var out []uint64
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || len(n) != seqDigits {
			continue
		}
		v, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// disk writes files crash-safe, unless noSync (Config.NoSync) skips the
// fsyncs.
type disk struct{ noSync bool }

func (k disk) fsync(f *os.File) error {
	if k.noSync {
		return nil
	}
	return f.Sync()
}

// writeAtomic writes a file crash-safe: temp file, fsync, rename, directory
// fsync. The directory must exist.
func (k disk) writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("ingest: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = k.fsync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("ingest: write %s: %w", path, err)
	}
	return k.syncDir(dir)
}

func (k disk) syncDir(dir string) error {
	if k.noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("ingest: sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("ingest: sync %s: %w", dir, err)
	}
	return nil
}

// install moves an accepted staged object into every item that declares it
// (the first by rename, the others by hard link or copy) and marks the items
// that became complete. The caller holds d.mu.
func (s *Server) install(d *device, sum [32]byte, p *pendingObject) ([]uint64, error) {
	src := d.stagedPath(sum)
	first := ""
	var done []uint64
	for _, ref := range p.refs {
		dir := itemDir(d.dir, ref.seq)
		dst := filepath.Join(dir, objectPrefix+ref.role)
		var err error
		switch {
		case exists(dst):
		case first == "":
			if err = os.Rename(src, dst); err == nil {
				first = dst
			}
		default:
			if err = os.Link(first, dst); err != nil {
				err = s.copyFile(first, dst)
			}
		}
		if err != nil {
			return done, fmt.Errorf("ingest: install %x as %s #%d %s: %w", sum[:8], d.id, ref.seq, ref.role, err)
		}
		d.noteStored(sum, dst, p.size)
		if err := s.syncDir(dir); err != nil {
			return done, err
		}
		complete, err := s.markIfComplete(d, ref.seq)
		if err != nil {
			return done, err
		}
		if complete {
			done = append(done, ref.seq)
		}
	}
	if first == "" { // every ref already had the object
		_ = os.Remove(src)
	}
	return done, nil
}

// markIfComplete writes the complete marker of an item whose objects are all
// stored.
func (s *Server) markIfComplete(d *device, seq uint64) (bool, error) {
	dir := itemDir(d.dir, seq)
	if exists(filepath.Join(dir, completeFile)) {
		return true, nil
	}
	cose, err := atomicfile.ReadFileMax(filepath.Join(dir, manifestFile), manifest.MaxSize)
	if err != nil {
		return false, err
	}
	m, _, err := manifest.Parse(cose) // verified when stored; only the object list is used
	if err != nil {
		return false, fmt.Errorf("ingest: %s #%d: %w", d.id, seq, err)
	}
	for _, o := range m.Objects {
		if !exists(filepath.Join(dir, objectPrefix+o.Role)) {
			return false, nil
		}
	}
	// An empty marker needs no temporary file: it exists or it does not.
	f, err := os.OpenFile(filepath.Join(dir, completeFile), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("ingest: mark %s #%d complete: %w", d.id, seq, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("ingest: mark %s #%d complete: %w", d.id, seq, err)
	}
	if err := s.syncDir(dir); err != nil {
		return false, err
	}
	return true, nil
}

func (k disk) copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = k.fsync(out)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
