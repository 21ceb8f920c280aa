package command

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
)

// DefaultReplayEntries is the replay cache's default capacity.
const DefaultReplayEntries = 512

// ErrCorruptReplay: the replay cache file exists but cannot be read back.
// It is left untouched and no command is obeyed until it is removed (by a
// person, who then accepts that a command seen before may be replayed once).
var ErrCorruptReplay = errors.New("command: corrupt replay cache file")

const replayHeader = "camagent-replay v1"

// ReplayCache remembers the nonces of obeyed commands until they expire, in
// a file rewritten atomically at every use. Safe for concurrent use.
type ReplayCache struct {
	mu   sync.Mutex
	path string
	max  int
	seen map[string]int64 // hex nonce -> expiry, Unix ms
}

// OpenReplayCache opens (or starts) the cache at path holding at most
// entries unexpired nonces (0: DefaultReplayEntries).
func OpenReplayCache(path string, entries int) (*ReplayCache, error) {
	if entries <= 0 {
		entries = DefaultReplayEntries
	}
	r := &ReplayCache{path: path, max: entries, seen: map[string]int64{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("command: open replay cache: %w", err)
	}
	defer f.Close()
	limit := int64(entries)*(2*MaxNonce+24) + 64
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("command: read replay cache: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s is larger than %d entries", ErrCorruptReplay, path, entries)
	}
	if err := r.decode(string(b)); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptReplay, path, err)
	}
	return r, nil
}

func (r *ReplayCache) decode(s string) error {
	body, sum, ok := strings.Cut(s, "crc32=")
	want, err := strconv.ParseUint(strings.TrimSuffix(sum, "\n"), 16, 32)
	if !ok || err != nil || uint32(want) != crc32.ChecksumIEEE([]byte(body)) {
		return errors.New("checksum does not match")
	}
	lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	if len(lines) == 0 || lines[0] != replayHeader {
		return errors.New("not a replay cache")
	}
	for _, l := range lines[1:] {
		n, e, ok := strings.Cut(l, " ")
		exp, err := strconv.ParseInt(e, 10, 64)
		raw, herr := hex.DecodeString(n)
		if !ok || err != nil || herr != nil || len(raw) < MinNonce || len(raw) > MaxNonce {
			return fmt.Errorf("bad line %.80q", l)
		}
		r.seen[n] = exp
	}
	return nil
}

// Use records nonce (valid until expires) or reports ErrReplay when it was
// recorded before, ErrReplayFull when the cache holds max unexpired nonces.
// Expired entries are forgotten first. The record is durable when Use
// returns nil.
func (r *ReplayCache) Use(nonce []byte, expires, now time.Time) error {
	key := hex.EncodeToString(nonce)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[key]; ok {
		return ErrReplay
	}
	nowMS := now.UnixMilli()
	for k, exp := range r.seen {
		if exp <= nowMS {
			delete(r.seen, k)
		}
	}
	if len(r.seen) >= r.max {
		return fmt.Errorf("%w (%d unexpired commands)", ErrReplayFull, len(r.seen))
	}
	r.seen[key] = expires.UnixMilli()
	if err := r.save(); err != nil {
		delete(r.seen, key)
		return fmt.Errorf("command: record nonce: %w", err)
	}
	return nil
}

// Len returns how many nonces are remembered.
func (r *ReplayCache) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func (r *ReplayCache) save() error {
	keys := make([]string, 0, len(r.seen))
	for k := range r.seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(replayHeader + "\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %d\n", k, r.seen[k])
	}
	body := b.String()
	return atomicfile.WriteFile(r.path, fmt.Appendf(nil, "%scrc32=%08x\n", body, crc32.ChecksumIEEE([]byte(body))), 0o600)
}
