package manifest

import (
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/camagent/camagent/storage/atomicfile"
)

// ReserveBlock is how many sequence numbers the Sequencer reserves with one
// durable write. A crash skips at most this many numbers.
const ReserveBlock = 64

// maxStateFile bounds how much of a state file is read.
const maxStateFile = 512

// Errors of the persistent state; test them with errors.Is.
var (
	// ErrCorruptState: a sequence or chain state file exists but cannot be
	// read back. It is left untouched (see the package doc for recovery).
	ErrCorruptState = errors.New("manifest: corrupt state file")
	// ErrExhausted: the sequence space is used up (2^64 numbers).
	ErrExhausted = errors.New("manifest: sequence numbers exhausted")
	// ErrChainConflict: a different manifest with the same sequence number,
	// or one that does not link to the chain's last manifest.
	ErrChainConflict = errors.New("manifest: chain conflict")
)

// Sequencer hands out a device's manifest sequence numbers: strictly
// increasing, never repeated, even across power loss. Before it hands out a
// number it has made durable a reservation bound above it, so a restarted
// agent starts at the bound and never reuses one. Safe for concurrent use.
type Sequencer struct {
	mu    sync.Mutex
	path  string
	block uint64
	next  uint64 // next number to hand out
	limit uint64 // every number below it is covered by the persisted bound
}

// OpenSequencer opens (or starts) the sequence state at path, which belongs
// on the same persistent partition as the device key: the sequence space is
// per key. The first number it hands out is at least floor (and at least 1);
// pass 0 unless recovering (see the package doc).
func OpenSequencer(path string, floor uint64) (*Sequencer, error) {
	return openSequencer(path, floor, ReserveBlock)
}

func openSequencer(path string, floor, block uint64) (*Sequencer, error) {
	bound, err := readSeqState(path)
	if err != nil {
		return nil, err
	}
	next := max(bound, floor, 1)
	return &Sequencer{path: path, block: block, next: next, limit: next}, nil
}

// Next returns the next sequence number. It returns an error, and no number,
// when the reservation cannot be made durable.
func (s *Sequencer) Next() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next >= s.limit {
		if s.next > math.MaxUint64-s.block {
			return 0, ErrExhausted
		}
		bound := s.next + s.block
		if err := writeState(s.path, fmt.Sprintf("camagent-seq v1 bound=%d", bound)); err != nil {
			return 0, fmt.Errorf("manifest: reserve sequence numbers: %w", err)
		}
		s.limit = bound
	}
	n := s.next
	s.next++
	return n, nil
}

func readSeqState(path string) (uint64, error) {
	body, err := readState(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, ok := strings.CutPrefix(body, "camagent-seq v1 bound=")
	bound, perr := strconv.ParseUint(v, 10, 64)
	if !ok || perr != nil || bound == 0 {
		return 0, corrupt(path, "not a sequence state")
	}
	return bound, nil
}

// Chain remembers the hash of the device's newest published manifest: the
// Prev of the next one. Safe for concurrent use, but the seal protocol in
// the package doc must run one manifest at a time.
type Chain struct {
	mu    sync.Mutex
	path  string
	write func(path string, data []byte, perm os.FileMode) error // tests inject a crash here
	pub   crypto.PublicKey
	seq   uint64
	last  [32]byte
}

// OpenChain opens the chain state at path for the device whose public key is
// pub; an absent file is an empty chain (no manifest yet: Last is zero).
func OpenChain(path string, pub crypto.PublicKey) (*Chain, error) {
	c := &Chain{path: path, pub: pub, write: atomicfile.WriteFile}
	body, err := readState(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(body, "camagent-chain v1 seq=")
	seqText, hashText, ok2 := strings.Cut(rest, " last=")
	seq, perr := strconv.ParseUint(seqText, 10, 64)
	h, herr := hex.DecodeString(hashText)
	if !ok || !ok2 || perr != nil || herr != nil || len(h) != 32 || seq == 0 {
		return nil, corrupt(path, "not a chain state")
	}
	c.seq = seq
	copy(c.last[:], h)
	return c, nil
}

// Last returns the hash of the newest published manifest (zero when none).
func (c *Chain) Last() [32]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Seq returns the sequence number of the newest published manifest (0 when none).
func (c *Chain) Seq() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seq
}

// Advance records cose (a manifest this device signed, already durable as a
// sidecar) as the newest one. It verifies the signature with the device key,
// so a file planted on the card cannot steer the chain. It is idempotent and only moves forward: a
// manifest with a lower sequence number than the recorded one, or the
// recorded one itself, changes nothing, so at start-up the agent can call it
// with the newest manifest on the card whatever happened before a power cut.
// A manifest that moves the chain forward must link to it (Prev == Last),
// unless the chain is empty, in which case it is adopted.
func (c *Chain) Advance(cose []byte) error {
	m, err := Verify(cose, c.pub)
	if err != nil {
		return fmt.Errorf("manifest: advance chain: %w", err)
	}
	h := Hash(cose)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case m.Seq < c.seq:
		return nil
	case m.Seq == c.seq && h == c.last:
		return nil
	case m.Seq == c.seq:
		return fmt.Errorf("manifest: advance chain: %w: two manifests with sequence %d", ErrChainConflict, m.Seq)
	case c.seq != 0 && m.Prev != c.last:
		return fmt.Errorf("manifest: advance chain: %w: manifest %d does not link to manifest %d", ErrChainConflict, m.Seq, c.seq)
	}
	if err := c.write(c.path, []byte(stateLine(fmt.Sprintf("camagent-chain v1 seq=%d last=%x", m.Seq, h))), 0o600); err != nil {
		return fmt.Errorf("manifest: advance chain: %w", err)
	}
	c.seq, c.last = m.Seq, h
	return nil
}

// State files are one text line: the body, a space and "crc32=" with the
// IEEE CRC-32 of the body in hex. The CRC catches a card that returns
// garbage; the atomic write already rules out torn writes.
func writeState(path, body string) error {
	return atomicfile.WriteFile(path, []byte(stateLine(body)), 0o600)
}

func stateLine(body string) string {
	return fmt.Sprintf("%s crc32=%08x\n", body, crc32.ChecksumIEEE([]byte(body)))
}

func readState(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("manifest: read state: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return "", fmt.Errorf("manifest: read state %s: %w", path, err)
	}
	if len(b) > maxStateFile {
		return "", corrupt(path, "too long")
	}
	line, ok := strings.CutSuffix(string(b), "\n")
	body, sum, ok2 := strings.Cut(line, " crc32=")
	want, perr := strconv.ParseUint(sum, 16, 32)
	if !ok || !ok2 || len(sum) != 8 || perr != nil || uint32(want) != crc32.ChecksumIEEE([]byte(body)) {
		return "", corrupt(path, "checksum does not match")
	}
	return body, nil
}

func corrupt(path, why string) error {
	return fmt.Errorf("%w: %s: %s; it was left untouched (see package manifest's doc for recovery)", ErrCorruptState, path, why)
}
