package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
)

// recentMax is how many recently completed objects a device remembers, so
// that a PUT or status request repeated after a lost answer is answered
// "complete" rather than "not declared".
const recentMax = 64

// retryInternal is the Retry-After of answers about the ingest's own
// storage failures.
const retryInternal = 5 * time.Second

// postManifest serves POST /v1/manifests.
func (s *Server) postManifest(w http.ResponseWriter, r *http.Request) {
	ev := Event{Op: "manifest"}
	defer func() { s.emit(ev) }()
	id, e := s.tlsIdentity(r)
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, "", e)
		return
	}
	ev.Identity = id
	ans, e := s.manifest(r, id)
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, id, e)
		return
	}
	ev.Seq, ev.Complete = ans.Seq, ans.Complete
	s.closeIfDone(w, len(ans.Missing) == 0)
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) manifest(r *http.Request, id string) (protocol.ManifestAnswer, *refusal) {
	body, err := io.ReadAll(io.LimitReader(r.Body, manifest.MaxSize+1))
	if err != nil {
		return protocol.ManifestAnswer{}, refuse(http.StatusBadRequest, protocol.CodeTruncated, "reading the manifest: %v", err)
	}
	if len(body) > manifest.MaxSize {
		e := refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "manifest over %d bytes", manifest.MaxSize)
		s.quar.keep(r, id, e, body[:manifest.MaxSize])
		return protocol.ManifestAnswer{}, e
	}
	m, _, err := manifest.VerifySelf(body)
	if err != nil {
		var e *refusal
		switch {
		case errors.Is(err, manifest.ErrTooLarge):
			e = refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "%v", err)
		case errors.Is(err, manifest.ErrKeyMismatch):
			e = refuse(http.StatusBadRequest, protocol.CodeKeyMismatch, "%v", err)
		case errors.Is(err, manifest.ErrBadSignature):
			e = refuse(http.StatusBadRequest, protocol.CodeBadSignature, "%v", err)
		default:
			e = refuse(http.StatusBadRequest, protocol.CodeMalformed, "%v", err)
		}
		s.quar.keep(r, id, e, body)
		return protocol.ManifestAnswer{}, e
	}
	if m.DeviceID != id {
		e := refuse(http.StatusForbidden, protocol.CodeIdentityMismatch,
			"manifest signed by device %s sent over the TLS identity of %s", m.DeviceID, id)
		s.quar.keep(r, id, e, body)
		return protocol.ManifestAnswer{}, e
	}
	sizes := map[[32]byte]uint64{}
	for _, o := range m.Objects {
		if o.Size > s.maxObject {
			e := refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "object %s declares %d bytes, over %d", o.Role, o.Size, s.maxObject)
			s.quar.keep(r, id, e, body)
			return protocol.ManifestAnswer{}, e
		}
		if n, ok := sizes[o.SHA256]; ok && n != o.Size {
			e := refuse(http.StatusConflict, protocol.CodeSizeConflict, "sha256 %x declared with two sizes", o.SHA256[:8])
			s.quar.keep(r, id, e, body)
			return protocol.ManifestAnswer{}, e
		}
		sizes[o.SHA256] = o.Size
	}
	p, e := s.pairing(r.Context(), m.DeviceID)
	if e != nil {
		if e.code != protocol.CodeLookupFailed {
			s.quar.keep(r, id, e, body)
		}
		return protocol.ManifestAnswer{}, e
	}
	if p.Account != m.Owner {
		e := refuse(http.StatusForbidden, protocol.CodeOwnerMismatch,
			"manifest %s #%d names owner %.140q, the device is paired to %.140q", m.DeviceID, m.Seq, m.Owner, p.Account)
		s.quar.keep(r, id, e, body)
		return protocol.ManifestAnswer{}, e
	}
	d, err := s.lockDevice(m.DeviceID)
	if err != nil {
		return protocol.ManifestAnswer{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
	}
	defer d.mu.Unlock()
	ans, e := s.accept(d, &m, body)
	if e != nil && e.status < 500 {
		s.quar.keep(r, id, e, body)
	}
	return ans, e
}

// accept stores a verified manifest, checking its sequence number and chain
// link against the device's, and answers what is missing. d is locked.
func (s *Server) accept(d *device, m *manifest.Manifest, cose []byte) (protocol.ManifestAnswer, *refusal) {
	dir := itemDir(d.dir, m.Seq)
	stored, err := atomicfile.ReadFileMax(filepath.Join(dir, manifestFile), manifest.MaxSize)
	switch {
	case err == nil && bytes.Equal(stored, cose):
		s.st.replays.Add(1)
		ans, e := s.answer(d, m, dir)
		ans.Replay = true
		return ans, e
	case err == nil:
		return protocol.ManifestAnswer{}, refuse(http.StatusConflict, protocol.CodeSeqConflict,
			"device %s already sent another manifest with sequence %d", d.id, m.Seq)
	case !errors.Is(err, fs.ErrNotExist):
		return protocol.ManifestAnswer{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
	}
	hash := manifest.Hash(cose)
	filled := false
	if m.Seq < d.state.LatestSeq {
		if !s.vouched(d, m.Seq, hash) {
			return protocol.ManifestAnswer{}, refuse(http.StatusConflict, protocol.CodeSeqRollback,
				"sequence %d is below the newest accepted %d and no stored manifest links to it", m.Seq, d.state.LatestSeq)
		}
		filled = true
	}
	for _, o := range m.Objects {
		if p := d.pending[o.SHA256]; p != nil && p.size != o.Size {
			return protocol.ManifestAnswer{}, refuse(http.StatusConflict, protocol.CodeSizeConflict,
				"sha256 %x was declared with %d bytes, now %d", o.SHA256[:8], p.size, o.Size)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return protocol.ManifestAnswer{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
	}
	if err := s.syncDir(d.dir); err != nil {
		return protocol.ManifestAnswer{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
	}
	if err := s.writeAtomic(filepath.Join(dir, manifestFile), cose); err != nil {
		return protocol.ManifestAnswer{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
	}
	gap := false
	if filled {
		s.st.filled.Add(1)
		s.log.Info("late manifest fills a chain gap", "device", d.id, "seq", m.Seq)
	} else {
		prev := d.state.LatestSeq
		if prev == 0 {
			gap = m.Prev != [32]byte{}
		} else {
			gap = m.Prev != d.latestHash()
		}
		d.state.LatestSeq, d.state.LatestHash = m.Seq, hex.EncodeToString(hash[:])
		if gap {
			d.state.Gaps++
			s.st.gaps.Add(1)
			s.recordGap(d, prev, m)
		}
		if err := d.saveState(s.disk); err != nil {
			return protocol.ManifestAnswer{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
		}
	}
	linked := false
	for _, o := range m.Objects {
		ok, err := s.linkStored(d, o, dir)
		if err != nil {
			s.log.Error("link a stored object", "device", d.id, "seq", m.Seq, "err", err)
		}
		if ok {
			linked = true
			s.st.linked.Add(1)
			continue
		}
		d.addPending(o, m.Seq)
	}
	if linked {
		if err := s.syncDir(dir); err != nil {
			return protocol.ManifestAnswer{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
		}
	}
	s.st.accepted.Add(1)
	s.log.Debug("manifest accepted", "device", d.id, "seq", m.Seq, "owner", m.Owner, "gap", gap)
	ans, e := s.answer(d, m, dir)
	ans.Gap = gap
	return ans, e
}

// vouched reports whether the stored manifest that follows seq links to the
// manifest whose hash is hash.
func (s *Server) vouched(d *device, seq uint64, hash [32]byte) bool {
	seqs, err := itemSeqs(d.dir)
	if err != nil {
		return false
	}
	for _, n := range seqs {
		if n <= seq {
			continue
		}
		b, err := atomicfile.ReadFileMax(filepath.Join(itemDir(d.dir, n), manifestFile), manifest.MaxSize)
		if err != nil {
			return false
		}
		next, _, err := manifest.VerifySelf(b)
		return err == nil && next.DeviceID == d.id && next.Prev == hash
	}
	return false
}

type gapRecord struct {
	After uint64 `json:"after"` // newest accepted before
	Seq   uint64 `json:"seq"`
	Prev  string `json:"prev"` // what the manifest links to
}

func (s *Server) recordGap(d *device, after uint64, m *manifest.Manifest) {
	s.log.Warn("manifest chain gap", "device", d.id, "after", after, "seq", m.Seq)
	b, _ := json.Marshal(gapRecord{After: after, Seq: m.Seq, Prev: hex.EncodeToString(m.Prev[:])})
	f, err := os.OpenFile(filepath.Join(d.dir, gapsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		_, err = f.Write(append(b, '\n'))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.log.Error("record gap", "device", d.id, "err", err)
	}
}

// answer lists what the item of m still lacks. d is locked.
func (s *Server) answer(d *device, m *manifest.Manifest, dir string) (protocol.ManifestAnswer, *refusal) {
	ans := protocol.ManifestAnswer{Device: m.DeviceID, Seq: m.Seq, Missing: []protocol.Missing{}}
	for _, o := range m.Objects {
		if exists(filepath.Join(dir, objectPrefix+o.Role)) {
			continue
		}
		ans.Missing = append(ans.Missing, protocol.Missing{SHA256: protocol.FormatSHA256(o.SHA256), Role: o.Role,
			Size: o.Size, Offset: min(d.staged(o.SHA256), o.Size)})
	}
	if len(ans.Missing) == 0 {
		ok, err := s.markIfComplete(d, m.Seq)
		if err != nil {
			return protocol.ManifestAnswer{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
		}
		ans.Complete = ok
	}
	return ans, nil
}

// objectRequest parses the object of a PUT or status request.
func objectRequest(r *http.Request) ([32]byte, *refusal) {
	sum, err := protocol.ParseSHA256(r.PathValue("sha"))
	if err != nil {
		return sum, refuse(http.StatusBadRequest, protocol.CodeBadRequest, "%v", err)
	}
	return sum, nil
}

// putObject serves PUT /v1/objects/{sha256}?offset=N.
func (s *Server) putObject(w http.ResponseWriter, r *http.Request) {
	ev := Event{Op: "object"}
	defer func() { s.emit(ev) }()
	id, e := s.tlsIdentity(r)
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, "", e)
		return
	}
	ev.Identity = id
	ans, n, idle, e := s.object(r, id)
	ev.SHA256, ev.Bytes = r.PathValue("sha"), n
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, id, e)
		return
	}
	ev.Complete = ans.Complete
	s.closeIfDone(w, idle)
	w.Header().Set(protocol.HeaderOffset, strconv.FormatUint(ans.Offset, 10))
	writeJSON(w, http.StatusOK, ans)
}

// object receives a PUT; idle says the device has no object left pending.
func (s *Server) object(r *http.Request, id string) (ans protocol.ObjectAnswer, n int64, idle bool, e *refusal) {
	ans, n, e = s.receiveObject(r, id, &idle)
	return ans, n, idle, e
}

func (s *Server) receiveObject(r *http.Request, id string, idle *bool) (protocol.ObjectAnswer, int64, *refusal) {
	sum, e := objectRequest(r)
	if e != nil {
		return protocol.ObjectAnswer{}, 0, e
	}
	q := r.URL.Query()
	if len(q) != 1 || len(q["offset"]) != 1 {
		return protocol.ObjectAnswer{}, 0, refuse(http.StatusBadRequest, protocol.CodeBadRequest, "want exactly one query parameter, offset")
	}
	off, err := protocol.ParseOffset(q["offset"][0])
	if err != nil {
		return protocol.ObjectAnswer{}, 0, refuse(http.StatusBadRequest, protocol.CodeBadRequest, "%v", err)
	}
	d, err := s.lockDevice(id)
	if err != nil {
		return protocol.ObjectAnswer{}, 0, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
	}
	p := d.pending[sum]
	if p == nil {
		size, done := d.recentSize(sum)
		d.mu.Unlock()
		if done {
			return protocol.ObjectAnswer{SHA256: protocol.FormatSHA256(sum), Size: size, Offset: size, Complete: true}, 0, nil
		}
		e := refuse(http.StatusNotFound, protocol.CodeNotDeclared, "no manifest of %s declares sha256 %x", id, sum[:8])
		s.quar.keep(r, id, e, nil)
		return protocol.ObjectAnswer{}, 0, e
	}
	staged := d.staged(sum)
	switch {
	case d.busy[sum]:
		d.mu.Unlock()
		return protocol.ObjectAnswer{}, 0, refuse(http.StatusConflict, protocol.CodeBusy, "another request is writing this object").at(staged).after(time.Second)
	case off != staged:
		d.mu.Unlock()
		return protocol.ObjectAnswer{}, 0, refuse(http.StatusConflict, protocol.CodeOffsetMismatch, "offset %d, the ingest has %d bytes", off, staged).at(staged)
	case r.ContentLength > int64(p.size-off):
		d.mu.Unlock()
		e := refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "body of %d bytes from offset %d goes past the declared size %d", r.ContentLength, off, p.size)
		s.quar.keep(r, id, e, nil)
		return protocol.ObjectAnswer{}, 0, e
	}
	d.busy[sum] = true
	size := p.size
	d.mu.Unlock()

	n, got, complete, e := s.receive(r, d, sum, off, size)

	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.busy, sum)
	if e != nil {
		return protocol.ObjectAnswer{}, n, e
	}
	ans := protocol.ObjectAnswer{SHA256: protocol.FormatSHA256(sum), Size: size, Offset: got}
	if !complete {
		return protocol.ObjectAnswer{}, n, refuse(http.StatusBadRequest, protocol.CodeTruncated,
			"the body ended at %d of %d bytes; resume from there", got, size).at(got)
	}
	p = d.pending[sum]
	done, err := s.install(d, sum, p)
	if err != nil {
		return protocol.ObjectAnswer{}, n, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
	}
	delete(d.pending, sum)
	*idle = len(d.pending) == 0
	d.remember(sum, size)
	s.st.objects.Add(1)
	s.st.bytesStored.Add(size)
	s.log.Debug("object accepted", "device", d.id, "sha256", ans.SHA256, "bytes", size, "items_complete", done)
	ans.Complete = true
	return ans, n, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// receive appends the request body to the staged object and checks it once
// it has the declared size. It returns the bytes received, the staged
// length, and whether the object is complete and verified. Refused bytes go
// to quarantine.
func (s *Server) receive(r *http.Request, d *device, sum [32]byte, off, size uint64) (int64, uint64, bool, *refusal) {
	path := d.stagedPath(sum)
	internal := func(err error) *refusal {
		return refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "staging: %v", err).after(retryInternal)
	}
	if err := os.MkdirAll(d.staging, 0o700); err != nil {
		return 0, off, false, internal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, off, false, internal(err)
	}
	h := sha256.New()
	if off > 0 {
		if err := hashPrefix(h, path, off); err != nil {
			f.Close()
			return 0, off, false, internal(err)
		}
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	body := io.LimitReader(r.Body, int64(size-off))
	var n int64
	var rerr, werr error
	for {
		k, err := body.Read(buf)
		if k > 0 {
			if _, werr = f.Write(buf[:k]); werr != nil {
				break
			}
			h.Write(buf[:k])
			n += int64(k)
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	s.st.bytesIn.Add(uint64(n))
	got := off + uint64(n)
	if werr != nil {
		_ = f.Truncate(int64(got)) // drop a partly written chunk: keep what was hashed
		f.Close()
		return n, got, false, internal(werr)
	}
	over := false
	if rerr == nil && got == size {
		over = moreBytes(r.Body)
	}
	if err := s.fsync(f); err != nil {
		f.Close()
		return n, got, false, internal(err)
	}
	if err := f.Close(); err != nil {
		return n, got, false, internal(err)
	}
	switch {
	case over:
		e := refuse(http.StatusRequestEntityTooLarge, protocol.CodeTooLarge, "body goes past the declared size %d; the object starts over", size)
		s.quar.keepFile(r, d.id, e, path)
		return n, 0, false, e
	case rerr != nil:
		return n, got, false, refuse(http.StatusBadRequest, protocol.CodeTruncated, "reading the body at %d of %d bytes: %v", got, size, rerr).at(got)
	case got < size:
		return n, got, false, nil
	}
	var have [32]byte
	h.Sum(have[:0])
	if have != sum {
		e := refuse(http.StatusUnprocessableEntity, protocol.CodeHashMismatch, "received %d bytes with sha256 %x, declared %x; the object starts over", size, have[:8], sum[:8])
		s.quar.keepFile(r, d.id, e, path)
		return n, 0, false, e
	}
	return n, got, true, nil
}

// moreBytes reports whether r has at least one more byte.
func moreBytes(r io.Reader) bool {
	var one [1]byte
	for range 100 { // a reader may return 0, nil a few times
		k, err := r.Read(one[:])
		if k > 0 {
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

// hashPrefix hashes the first n bytes of the file at path.
func hashPrefix(h io.Writer, path string, n uint64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := io.CopyN(h, f, int64(n))
	if err != nil {
		return fmt.Errorf("rehash staged bytes: %d of %d: %w", got, n, err)
	}
	return nil
}

// objectStatus serves GET|HEAD /v1/objects/{sha256}/status.
func (s *Server) objectStatus(w http.ResponseWriter, r *http.Request) {
	ev := Event{Op: "status", SHA256: r.PathValue("sha")}
	defer func() { s.emit(ev) }()
	id, e := s.tlsIdentity(r)
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, "", e)
		return
	}
	ev.Identity = id
	sum, e := objectRequest(r)
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, id, e)
		return
	}
	d, err := s.lockDevice(id)
	if err != nil {
		e := refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
		ev.Code = e.code
		s.fail(w, r, id, e)
		return
	}
	ans := protocol.ObjectAnswer{SHA256: protocol.FormatSHA256(sum)}
	if p := d.pending[sum]; p != nil {
		ans.Size, ans.Offset = p.size, min(d.staged(sum), p.size)
	} else if size, ok := d.recentSize(sum); ok {
		ans.Size, ans.Offset, ans.Complete = size, size, true
	} else {
		d.mu.Unlock()
		e := refuse(http.StatusNotFound, protocol.CodeNotDeclared, "no pending object %x from %s", sum[:8], id)
		ev.Code = e.code
		s.fail(w, r, id, e)
		return
	}
	d.mu.Unlock()
	ev.Complete = ans.Complete
	w.Header().Set(protocol.HeaderOffset, strconv.FormatUint(ans.Offset, 10))
	writeJSON(w, http.StatusOK, ans)
}

// remember notes a completed object. d is locked.
func (d *device) remember(sum [32]byte, size uint64) {
	if d.recent == nil {
		d.recent = map[[32]byte]uint64{}
	}
	if len(d.recent) >= recentMax {
		for k := range d.recent { // drop an arbitrary one: the map stays bounded
			delete(d.recent, k)
			break
		}
	}
	d.recent[sum] = size
}

func (d *device) recentSize(sum [32]byte) (uint64, bool) {
	n, ok := d.recent[sum]
	return n, ok
}
