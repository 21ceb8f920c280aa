package ingest

import (
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
)

// viewer authenticates a read request and checks, through the owner lookup,
// that its account owns device.
func (s *Server) viewer(r *http.Request, device string) (string, *refusal) {
	if s.accounts == nil {
		return "", refuse(http.StatusNotFound, protocol.CodeNotFound, "the read API is not enabled")
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" || len(tok) > maxToken {
		return "", refuse(http.StatusUnauthorized, protocol.CodeUnauthorized, "a viewer bearer token is required")
	}
	account, ok := s.accounts.Account(tok)
	if !ok {
		return "", refuse(http.StatusUnauthorized, protocol.CodeUnauthorized, "unknown viewer token")
	}
	if err := identity.ValidDeviceID(device); err != nil {
		return account, refuse(http.StatusBadRequest, protocol.CodeBadRequest, "%v", err)
	}
	p, e := s.pairing(r.Context(), device)
	if e != nil {
		if e.code == protocol.CodeUnpaired {
			e = refuse(http.StatusForbidden, protocol.CodeForbidden, "device %s is not paired to %.140q", device, account)
		}
		return account, e
	}
	if p.Account != account {
		return account, refuse(http.StatusForbidden, protocol.CodeForbidden, "device %s is not paired to %.140q", device, account)
	}
	return account, nil
}

// storedManifest reads and re-verifies the manifest of a stored item: it
// must verify with its own key and name device and seq.
func (s *Server) storedManifest(device string, seq uint64) ([]byte, manifest.Manifest, *refusal) {
	path := filepath.Join(itemDir(filepath.Join(s.storeDir, device), seq), manifestFile)
	cose, err := atomicfile.ReadFileMax(path, manifest.MaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, manifest.Manifest{}, refuse(http.StatusNotFound, protocol.CodeNotFound, "no item %s #%d", device, seq)
	}
	if err != nil {
		return nil, manifest.Manifest{}, refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
	}
	m, _, err := manifest.VerifySelf(cose)
	if err != nil || m.DeviceID != device || m.Seq != seq {
		s.log.Error("stored manifest fails re-verification; not served", "device", device, "seq", seq, "err", err,
			"manifest_device", m.DeviceID)
		return nil, manifest.Manifest{}, refuse(http.StatusInternalServerError, protocol.CodeStoreCorrupt,
			"stored item %s #%d fails verification", device, seq)
	}
	return cose, m, nil
}

// listItems serves GET /v1/devices/{device}/items?after=SEQ&limit=N.
func (s *Server) listItems(w http.ResponseWriter, r *http.Request) {
	device := r.PathValue("device")
	ev := Event{Op: "list"}
	defer func() { s.emit(ev) }()
	account, e := s.viewer(r, device)
	ev.Identity = account
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	after, limit, e := listParams(r)
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	seqs, err := itemSeqs(filepath.Join(s.storeDir, device))
	if err != nil {
		e := refuse(http.StatusServiceUnavailable, protocol.CodeInternal, "%v", err).after(retryInternal)
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	out := protocol.ItemList{Device: device, Items: []protocol.Item{}}
	for _, seq := range seqs {
		if seq <= after {
			continue
		}
		if len(out.Items) == limit {
			out.Next = out.Items[len(out.Items)-1].Seq
			break
		}
		_, m, e := s.storedManifest(device, seq)
		if e != nil {
			s.count(e.code)
			continue
		}
		if m.Owner != account { // made for a previous owner
			continue
		}
		dir := itemDir(filepath.Join(s.storeDir, device), seq)
		it := protocol.Item{Seq: m.Seq, Owner: m.Owner, StartMS: m.StartMS, EndMS: m.EndMS, ClockTrusted: m.ClockTrusted, Complete: true}
		for _, o := range m.Objects {
			stored := exists(filepath.Join(dir, objectPrefix+o.Role))
			it.Complete = it.Complete && stored
			it.Objects = append(it.Objects, protocol.ItemObject{Role: o.Role, MediaType: o.MediaType, Size: o.Size,
				SHA256: protocol.FormatSHA256(o.SHA256), Stored: stored})
		}
		out.Items = append(out.Items, it)
	}
	s.st.listed.Add(uint64(len(out.Items)))
	writeJSON(w, http.StatusOK, out)
}

func listParams(r *http.Request) (after uint64, limit int, e *refusal) {
	q := r.URL.Query()
	limit = defaultListLimit
	for k, v := range q {
		if len(v) != 1 {
			return 0, 0, refuse(http.StatusBadRequest, protocol.CodeBadRequest, "parameter %.20q given %d times", k, len(v))
		}
		n, err := protocol.ParseOffset(v[0])
		if err != nil {
			return 0, 0, refuse(http.StatusBadRequest, protocol.CodeBadRequest, "%.20s: %v", k, err)
		}
		switch k {
		case "after":
			after = n
		case "limit":
			if n < 1 || n > maxListLimit {
				return 0, 0, refuse(http.StatusBadRequest, protocol.CodeBadRequest, "limit must be 1..%d", maxListLimit)
			}
			limit = int(n)
		default:
			return 0, 0, refuse(http.StatusBadRequest, protocol.CodeBadRequest, "unknown parameter %.20q", k)
		}
	}
	return after, limit, nil
}

// count counts a refusal that is not answered (an item left out of a list).
func (s *Server) count(code string) {
	s.refMu.Lock()
	s.refused[code]++
	s.refMu.Unlock()
}

// getItem serves GET /v1/items/{device}/{seq}/{role}: the object with its
// manifest in the Camagent-Manifest header, or the manifest itself.
func (s *Server) getItem(w http.ResponseWriter, r *http.Request) {
	device, role := r.PathValue("device"), r.PathValue("role")
	ev := Event{Op: "item"}
	defer func() { s.emit(ev) }()
	account, e := s.viewer(r, device)
	ev.Identity = account
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	seq, err := protocol.ParseOffset(r.PathValue("seq"))
	if err != nil || seq == 0 {
		e := refuse(http.StatusBadRequest, protocol.CodeBadRequest, "bad sequence number %.24q", r.PathValue("seq"))
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	ev.Seq = seq
	cose, m, e := s.storedManifest(device, seq)
	if e == nil && m.Owner != account {
		e = refuse(http.StatusForbidden, protocol.CodeForbidden, "item %s #%d was made for another owner", device, seq)
	}
	if e != nil {
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if role == protocol.ManifestRole {
		h.Set("Content-Type", protocol.ContentManifest)
		h.Set("Content-Length", strconv.Itoa(len(cose)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(cose)
		ev.Bytes = int64(len(cose))
		return
	}
	obj, ok := m.Object(role)
	if !ok {
		e := refuse(http.StatusNotFound, protocol.CodeNotFound, "item %s #%d covers no %.20q", device, seq, role)
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	f, err := os.Open(filepath.Join(itemDir(filepath.Join(s.storeDir, device), seq), objectPrefix+obj.Role))
	if err != nil {
		e := refuse(http.StatusNotFound, protocol.CodeNotFound, "the %s of %s #%d is not uploaded yet", obj.Role, device, seq)
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || uint64(info.Size()) != obj.Size {
		e := refuse(http.StatusInternalServerError, protocol.CodeStoreCorrupt, "stored %s of %s #%d has the wrong size", obj.Role, device, seq)
		ev.Code = e.code
		s.fail(w, r, account, e)
		return
	}
	h.Set(protocol.HeaderManifest, base64.StdEncoding.EncodeToString(cose))
	h.Set("Content-Type", servedType(obj.MediaType))
	h.Set("Content-Length", strconv.FormatUint(obj.Size, 10))
	w.WriteHeader(http.StatusOK)
	n, _ := io.Copy(w, f)
	ev.Bytes = n
	s.st.served.Add(1)
	s.st.bytesOut.Add(uint64(n))
}

// servedType is the Content-Type an object is served with: the manifest's
// media type when it is one a camera makes, else octet-stream (a device
// must not be able to make a viewer's browser run what it uploaded).
func servedType(mediaType string) string {
	switch mediaType {
	case "video/mp4", "image/jpeg":
		return mediaType
	}
	return "application/octet-stream"
}
