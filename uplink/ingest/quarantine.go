package ingest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// quarantine keeps refused requests for inspection: a JSON note and the
// offending bytes, within a byte budget.
type quarantine struct {
	disk
	dir string
	max int64
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	used    int64
	kept    uint64
	dropped uint64
}

// Note is the JSON file kept beside quarantined bytes.
type Note struct {
	Time     time.Time `json:"time"`
	Code     string    `json:"code"`
	Error    string    `json:"error"`
	Identity string    `json:"identity,omitempty"` // TLS identity when it was verified
	Remote   string    `json:"remote"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
	Bytes    int64     `json:"bytes"` // kept in the .bin file
}

func openQuarantine(k disk, dir string, max int64, now func() time.Time, log *slog.Logger) (*quarantine, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ingest: quarantine: %w", err)
	}
	q := &quarantine{disk: k, dir: dir, max: max, now: now, log: log}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("ingest: quarantine: %w", err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			q.used += info.Size()
		}
	}
	return q, nil
}

func (q *quarantine) counts() (kept, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.kept, q.dropped
}

// reserve books n bytes of the budget; false when they do not fit.
func (q *quarantine) reserve(n int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.used+n > q.max {
		q.dropped++
		return false
	}
	q.used += n
	q.kept++
	return true
}

func (q *quarantine) base(code string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(q.dir, q.now().UTC().Format("20060102T150405.000000000Z")+"-"+code+"-"+hex.EncodeToString(b[:]))
}

func (q *quarantine) note(r *http.Request, who string, e *refusal, n int64) Note {
	return Note{Time: q.now().UTC(), Code: e.code, Error: e.msg, Identity: who, Remote: r.RemoteAddr,
		Method: r.Method, Path: truncate(r.URL.String(), 300), Bytes: n}
}

// keep quarantines data (which may be nil) with a note about the refusal.
func (q *quarantine) keep(r *http.Request, who string, e *refusal, data []byte) {
	nb, _ := json.Marshal(q.note(r, who, e, int64(len(data))))
	if !q.reserve(int64(len(nb) + len(data))) {
		return
	}
	base := q.base(e.code)
	if len(data) > 0 {
		if err := q.writeAtomic(base+".bin", data); err != nil {
			q.log.Error("quarantine", "err", err)
		}
	}
	if err := q.writeAtomic(base+".json", nb); err != nil {
		q.log.Error("quarantine", "err", err)
	}
}

// keepFile moves the file at path (staged bytes) into quarantine, or
// removes it when it does not fit the budget.
func (q *quarantine) keepFile(r *http.Request, who string, e *refusal, path string) {
	var n int64
	if info, err := os.Stat(path); err == nil {
		n = info.Size()
	}
	nb, _ := json.Marshal(q.note(r, who, e, n))
	if !q.reserve(int64(len(nb)) + n) {
		if err := os.Remove(path); err != nil {
			q.log.Error("quarantine: drop staged bytes", "err", err)
		}
		return
	}
	base := q.base(e.code)
	if err := os.Rename(path, base+".bin"); err != nil {
		q.log.Error("quarantine", "err", err)
		_ = os.Remove(path)
	}
	if err := q.writeAtomic(base+".json", nb); err != nil {
		q.log.Error("quarantine", "err", err)
	}
}
