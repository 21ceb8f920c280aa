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
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/camagent/camagent/storage/atomicfile"
)

// DefaultCapacity is the default number of messages kept.
const DefaultCapacity = 10000

// MaxMessage bounds one message's signed bytes.
const MaxMessage = 64 << 10

// MaxBatch bounds the messages of one AppendBatch (one file, one group
// commit); MaxBatchBytes their total size.
const (
	MaxBatch      = 256
	MaxBatchBytes = 1 << 20
)

const (
	suffix      = ".msg"   // one message (the first format; still read)
	batchSuffix = ".batch" // one group commit: records in sequence order
	droppedFile = "dropped"
	nameDigits  = 20
	recordHead  = 8 + 1 + 4 // seq, route, payload length
	recordTail  = 4         // CRC-32 of head and payload
)

// ErrCorrupt: a message file failed its check; it was removed and counted.
var ErrCorrupt = errors.New("outbox: corrupt message")

// Message is one queued message.
type Message struct {
	Seq     uint64
	Route   byte
	Payload []byte
}

// file is one message file: the messages it holds that are still queued.
type file struct {
	first uint64 // its name: the first sequence number it was written with
	batch bool   // a .batch file (else a single .msg)
	left  int    // its messages still queued
}

// Outbox is the queue. Safe for concurrent use.
type Outbox struct {
	dir      string
	capacity int

	mu      sync.Mutex
	seqs    []uint64 // sorted, oldest first
	files   []file   // sorted by first
	dropped uint64
	changed chan struct{}
	// cache is the last batch file read by Next (one file's bytes at most:
	// MaxBatchBytes), so that draining a batch reads it once.
	cacheFirst uint64
	cache      []Message
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
	if b, err := os.ReadFile(filepath.Join(dir, droppedFile)); err == nil {
		o.dropped, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	lost := o.dropped
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp") {
			_ = os.Remove(filepath.Join(dir, name)) // a write a crash interrupted
			continue
		}
		num, batch := strings.CutSuffix(name, batchSuffix)
		if !batch {
			var ok bool
			if num, ok = strings.CutSuffix(name, suffix); !ok {
				continue
			}
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if len(num) != nameDigits || err != nil || n == 0 {
			continue
		}
		if !batch {
			o.files = append(o.files, file{first: n, left: 1})
			o.seqs = append(o.seqs, n)
			continue
		}
		// A batch's sequence numbers are in the file: read it once.
		ms, err := o.readBatch(n)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil && !errors.Is(err, ErrCorrupt):
			return nil, fmt.Errorf("outbox: open: %w", err)
		case err != nil: // the records before the damage are kept
			o.dropped++
		}
		if len(ms) == 0 {
			_ = os.Remove(o.path(n, true))
			continue
		}
		o.files = append(o.files, file{first: n, batch: true, left: len(ms)})
		for _, m := range ms {
			o.seqs = append(o.seqs, m.Seq)
		}
	}
	// sort.Slice, not slices.SortFunc: no copy of the sort per element type (README "Size budget").
	sort.Slice(o.files, func(i, j int) bool { return o.files[i].first < o.files[j].first })
	slices.Sort(o.seqs)
	o.seqs = slices.Compact(o.seqs)
	if o.dropped != lost {
		_ = o.saveDropped()
	}
	if err := o.trim(); err != nil {
		return nil, err
	}
	return o, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (o *Outbox) path(first uint64, batch bool) string {
	s := suffix
	if batch {
		s = batchSuffix
	}
	return filepath.Join(o.dir, fmt.Sprintf("%0*d%s", nameDigits, first, s))
}

// Append stores a message durably (AppendBatch of one).
func (o *Outbox) Append(m Message) error { return o.AppendBatch([]Message{m}) }

// AppendBatch stores messages durably, in one file and one group commit
// (temporary file, fsync, rename, fsync, directory fsync), before it
// returns: three fsyncs for the batch instead of three per message. Their
// seqs must increase and be above every seq appended before (the
// sequencer guarantees it); at most MaxBatch messages and MaxBatchBytes.
// When the outbox is full the oldest messages are dropped and counted. A
// crash during AppendBatch leaves all of the batch or none of it.
func (o *Outbox) AppendBatch(ms []Message) error {
	if len(ms) == 0 {
		return nil
	}
	if len(ms) > MaxBatch {
		return fmt.Errorf("outbox: append: %d messages in one batch (max %d)", len(ms), MaxBatch)
	}
	size := 0
	for i, m := range ms {
		if len(m.Payload) > MaxMessage {
			return fmt.Errorf("outbox: append %d: %d bytes (max %d)", m.Seq, len(m.Payload), MaxMessage)
		}
		if m.Seq == 0 || i > 0 && m.Seq <= ms[i-1].Seq {
			return fmt.Errorf("outbox: append %d: sequence does not increase", m.Seq)
		}
		size += recordHead + len(m.Payload) + recordTail
	}
	if size > MaxBatchBytes {
		return fmt.Errorf("outbox: append: a batch of %d bytes (max %d)", size, MaxBatchBytes)
	}
	o.mu.Lock()
	if n := len(o.seqs); n > 0 && ms[0].Seq <= o.seqs[n-1] {
		o.mu.Unlock()
		return fmt.Errorf("outbox: append %d: sequence does not increase", ms[0].Seq)
	}
	o.mu.Unlock()
	buf := make([]byte, 0, size)
	for _, m := range ms {
		start := len(buf)
		buf = binary.BigEndian.AppendUint64(buf, m.Seq)
		buf = append(buf, m.Route)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(m.Payload)))
		buf = append(buf, m.Payload...)
		buf = binary.BigEndian.AppendUint32(buf, crc32.ChecksumIEEE(buf[start:]))
	}
	if err := atomicfile.WriteFile(o.path(ms[0].Seq, true), buf, 0o600); err != nil {
		return fmt.Errorf("outbox: append %d..%d: %w", ms[0].Seq, ms[len(ms)-1].Seq, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.files = append(o.files, file{first: ms[0].Seq, batch: true, left: len(ms)})
	for _, m := range ms {
		o.seqs = append(o.seqs, m.Seq)
	}
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
	var errs []error
	for _, s := range o.seqs[:n] {
		errs = append(errs, o.release(s))
	}
	o.seqs = slices.Delete(o.seqs, 0, n)
	o.dropped += uint64(n)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("outbox: drop: %w", err)
	}
	return o.saveDropped()
}

func (o *Outbox) saveDropped() error {
	if err := atomicfile.WriteFile(filepath.Join(o.dir, droppedFile), []byte(strconv.FormatUint(o.dropped, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	return nil
}

// fileOf returns the index in o.files of the file holding seq. o.mu is held.
func (o *Outbox) fileOf(seq uint64) (int, bool) {
	i, found := slices.BinarySearchFunc(o.files, seq, func(f file, s uint64) int { return cmpU64(f.first, s) })
	if found {
		return i, true
	}
	return i - 1, i > 0
}

// release forgets seq's place in its file and removes the file once none of
// its messages is queued. o.mu is held; seq is still in o.seqs.
func (o *Outbox) release(seq uint64) error {
	i, ok := o.fileOf(seq)
	if !ok {
		return nil
	}
	f := &o.files[i]
	if f.left--; f.left > 0 {
		return nil
	}
	p := o.path(f.first, f.batch)
	if o.cacheFirst == f.first {
		o.cacheFirst, o.cache = 0, nil
	}
	o.files = slices.Delete(o.files, i, i+1)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", filepath.Base(p), err)
	}
	return nil
}

// readBatch reads and checks a .batch file: its records up to the first
// damaged one, and ErrCorrupt when there was one.
func (o *Outbox) readBatch(first uint64) ([]Message, error) {
	b, err := atomicfile.ReadFileMax(o.path(first, true), MaxBatchBytes)
	if err != nil {
		return nil, err
	}
	var ms []Message
	for len(b) > 0 {
		if len(b) < recordHead+recordTail {
			return ms, fmt.Errorf("%w: batch %d: a record cut short", ErrCorrupt, first)
		}
		n := int(binary.BigEndian.Uint32(b[9:13]))
		if n > MaxMessage || len(b) < recordHead+n+recordTail {
			return ms, fmt.Errorf("%w: batch %d: a record's length is wrong", ErrCorrupt, first)
		}
		end := recordHead + n
		if binary.BigEndian.Uint32(b[end:end+recordTail]) != crc32.ChecksumIEEE(b[:end]) {
			return ms, fmt.Errorf("%w: batch %d: checksum does not match", ErrCorrupt, first)
		}
		seq := binary.BigEndian.Uint64(b[:8])
		if seq == 0 || len(ms) > 0 && seq <= ms[len(ms)-1].Seq || len(ms) == 0 && seq != first {
			return ms, fmt.Errorf("%w: batch %d: sequence numbers out of order", ErrCorrupt, first)
		}
		ms = append(ms, Message{Seq: seq, Route: b[8], Payload: b[recordHead:end:end]})
		b = b[end+recordTail:]
	}
	return ms, nil
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
	fi, ok := o.fileOf(seq)
	if !ok {
		o.mu.Unlock()
		return Message{}, false, fmt.Errorf("outbox: message %d has no file", seq)
	}
	f := o.files[fi]
	if f.batch && o.cacheFirst == f.first {
		defer o.mu.Unlock()
		if m, ok := findSeq(o.cache, seq); ok {
			return m, true, nil
		}
		o.removeLocked(seq)
		o.dropped++
		_ = o.saveDropped()
		return Message{}, false, fmt.Errorf("%w: %d: not in its batch (dropped)", ErrCorrupt, seq)
	}
	o.mu.Unlock()
	var m Message
	var err error
	if f.batch {
		var ms []Message
		ms, err = o.readBatch(f.first)
		o.mu.Lock()
		o.cacheFirst, o.cache = f.first, ms
		o.mu.Unlock()
		var found bool
		if m, found = findSeq(ms, seq); found {
			err = nil
		} else if err == nil {
			err = errors.New("not in its batch")
		}
	} else {
		m, err = o.readSingle(seq)
	}
	if errors.Is(err, fs.ErrNotExist) { // dropped meanwhile
		return o.Next(seq)
	}
	if err != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.removeLocked(seq)
		o.dropped++
		_ = o.saveDropped()
		if errors.Is(err, ErrCorrupt) {
			return Message{}, false, fmt.Errorf("%w (message %d dropped)", err, seq)
		}
		return Message{}, false, fmt.Errorf("%w: %d: %v (dropped)", ErrCorrupt, seq, err)
	}
	return m, true, nil
}

func findSeq(ms []Message, seq uint64) (Message, bool) {
	i, found := slices.BinarySearchFunc(ms, seq, func(m Message, s uint64) int { return cmpU64(m.Seq, s) })
	if !found {
		return Message{}, false
	}
	return ms[i], true
}

// readSingle reads a message of the first format (one .msg file).
func (o *Outbox) readSingle(seq uint64) (Message, error) {
	b, err := atomicfile.ReadFileMax(o.path(seq, false), MaxMessage+5)
	if err != nil {
		return Message{}, err
	}
	if len(b) < 5 || binary.BigEndian.Uint32(b[len(b)-4:]) != crc32.ChecksumIEEE(b[:len(b)-4]) {
		return Message{}, errors.New("checksum does not match")
	}
	return Message{Seq: seq, Route: b[0], Payload: b[1 : len(b)-4]}, nil
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
	err := o.release(seq)
	o.seqs = slices.Delete(o.seqs, i, i+1)
	if err != nil {
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
