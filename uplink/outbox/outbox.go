package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
)

// DefaultCapacity is the default number of messages kept.
const DefaultCapacity = 10000

// MaxMessage bounds one message's signed bytes.
const MaxMessage = 64 << 10

const (
	suffix      = ".msg"
	droppedFile = "dropped"
	nameDigits  = 20
)

// ErrCorrupt: a message file failed its check; it was removed and counted.
var ErrCorrupt = errors.New("outbox: corrupt message")

// Message is one queued message.
type Message struct {
	Seq     uint64
	Route   byte
	Payload []byte
}

// Outbox is the queue. Safe for concurrent use.
type Outbox struct {
	dir      string
	capacity int

	mu      sync.Mutex
	seqs    []uint64 // sorted, oldest first
	dropped uint64
	changed chan struct{}
}

// Open opens (or creates) the outbox in dir holding at most capacity
// messages (0: DefaultCapacity). Messages beyond capacity (after a smaller
// capacity was configured) are dropped and counted, oldest first.
func Open(dir string, capacity int) (*Outbox, error) {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: open: %w", err)
	}
	o := &Outbox{dir: dir, capacity: capacity, changed: make(chan struct{}, 1)}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox: open: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name)) // a write a crash interrupted
			continue
		}
		num, ok := strings.CutSuffix(name, suffix)
		if !ok || len(num) != nameDigits {
			continue
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || n == 0 {
			continue
		}
		o.seqs = append(o.seqs, n)
	}
	slices.Sort(o.seqs)
	if b, err := os.ReadFile(filepath.Join(dir, droppedFile)); err == nil {
		o.dropped, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	if err := o.trim(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *Outbox) path(seq uint64) string {
	return filepath.Join(o.dir, fmt.Sprintf("%0*d%s", nameDigits, seq, suffix))
}

// Append stores a message durably. Its seq must be above every seq appended
// before (the sequencer guarantees it); when the outbox is full the oldest
// message is dropped and counted.
func (o *Outbox) Append(m Message) error {
	if len(m.Payload) > MaxMessage {
		return fmt.Errorf("outbox: append %d: %d bytes (max %d)", m.Seq, len(m.Payload), MaxMessage)
	}
	o.mu.Lock()
	if n := len(o.seqs); m.Seq == 0 || n > 0 && m.Seq <= o.seqs[n-1] {
		o.mu.Unlock()
		return fmt.Errorf("outbox: append %d: sequence does not increase", m.Seq)
	}
	o.mu.Unlock()
	buf := make([]byte, 0, 1+len(m.Payload)+4)
	buf = append(buf, m.Route)
	buf = append(buf, m.Payload...)
	buf = binary.BigEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf))
	if err := storage.WriteFileAtomic(o.path(m.Seq), buf, 0o600); err != nil {
		return fmt.Errorf("outbox: append %d: %w", m.Seq, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seqs = append(o.seqs, m.Seq)
	err := o.trim()
	select {
	case o.changed <- struct{}{}:
	default:
	}
	return err
}

// trim drops the oldest messages beyond capacity. o.mu is held.
func (o *Outbox) trim() error {
	n := len(o.seqs) - o.capacity
	if n <= 0 {
		return nil
	}
	for _, s := range o.seqs[:n] {
		if err := os.Remove(o.path(s)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("outbox: drop %d: %w", s, err)
		}
	}
	o.seqs = slices.Delete(o.seqs, 0, n)
	o.dropped += uint64(n)
	return o.saveDropped()
}

func (o *Outbox) saveDropped() error {
	if err := storage.WriteFileAtomic(filepath.Join(o.dir, droppedFile), []byte(strconv.FormatUint(o.dropped, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// Next returns the oldest message with a sequence number above after, and
// false when there is none. A message that fails its check is removed,
// counted as dropped and reported with ErrCorrupt (call Next again).
func (o *Outbox) Next(after uint64) (Message, bool, error) {
	o.mu.Lock()
	i, _ := slices.BinarySearch(o.seqs, after+1)
	if i == len(o.seqs) {
		o.mu.Unlock()
		return Message{}, false, nil
	}
	seq := o.seqs[i]
	o.mu.Unlock()
	b, err := atomicfile.ReadFileMax(o.path(seq), MaxMessage+5)
	if errors.Is(err, fs.ErrNotExist) { // dropped meanwhile
		return o.Next(seq)
	}
	if err == nil && (len(b) < 5 || binary.BigEndian.Uint32(b[len(b)-4:]) != crc32.ChecksumIEEE(b[:len(b)-4])) {
		err = errors.New("checksum does not match")
	}
	if err != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.removeLocked(seq)
		o.dropped++
		_ = o.saveDropped()
		return Message{}, false, fmt.Errorf("%w: %d: %v (dropped)", ErrCorrupt, seq, err)
	}
	return Message{Seq: seq, Route: b[0], Payload: b[1 : len(b)-4]}, true, nil
}

// Remove deletes the message seq (delivered). Removing a message that is
// no longer there is not an error.
func (o *Outbox) Remove(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.removeLocked(seq)
}

func (o *Outbox) removeLocked(seq uint64) error {
	i, found := slices.BinarySearch(o.seqs, seq)
	if !found {
		return nil
	}
	o.seqs = slices.Delete(o.seqs, i, i+1)
	if err := os.Remove(o.path(seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("outbox: remove %d: %w", seq, err)
	}
	return nil
}

// Len returns the number of queued messages.
func (o *Outbox) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seqs)
}

// Dropped returns how many messages were dropped, ever (full or corrupt).
func (o *Outbox) Dropped() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}

// Changed is signalled (without blocking, coalesced) after each Append.
func (o *Outbox) Changed() <-chan struct{} { return o.changed }
