package manifest

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"

	"github.com/camagent/camagent/storage/atomicfile"
)

// Names of the seal state files, kept beside the device key (see the package
// doc: the sequence space belongs to the key, not to the SD card).
const (
	SeqFile   = "manifest.seq"
	ChainFile = "manifest.chain"
)

// SealerConfig configures a Sealer.
type SealerConfig struct {
	// StateDir holds SeqFile and ChainFile: the device key's folder.
	StateDir string
	// Key signs the manifests (the device key, an ECDSA P-256 crypto.Signer).
	Key crypto.Signer
	// Published is the folder where this device's manifests are published
	// as sidecars (the clip store on the card). OpenSealer adopts the newest
	// one found there before it seals anything. Empty skips the catch-up;
	// Adopt still catches up one sidecar at a time.
	Published string
}

// Sealer runs the seal protocol of the package doc, one manifest at a time:
// sequence reservation, signing with the chain's last hash, the atomic
// sidecar write and the chain's advance; and the catch-up after a crash
// between the last two, by adopting manifests already published. Safe for
// concurrent use.
type Sealer struct {
	key   crypto.Signer
	seq   *Sequencer
	chain *Chain

	mu sync.Mutex // one manifest at a time
}

// OpenSealer opens (or starts) the seal state in cfg.StateDir and adopts the
// newest manifest of this device under cfg.Published, so that a power cut
// after a sidecar was written but before the chain advanced is caught up
// before the next manifest names its predecessor.
func OpenSealer(cfg SealerConfig) (*Sealer, error) {
	if cfg.Key == nil {
		return nil, errors.New("manifest: open sealer: no key")
	}
	seq, err := OpenSequencer(filepath.Join(cfg.StateDir, SeqFile), 1)
	if err != nil {
		return nil, err
	}
	chain, err := OpenChain(filepath.Join(cfg.StateDir, ChainFile), cfg.Key.Public())
	if err != nil {
		return nil, err
	}
	s := &Sealer{key: cfg.Key, seq: seq, chain: chain}
	if cfg.Published != "" {
		if err := s.AdoptNewest(cfg.Published); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Public is the key's public half.
func (s *Sealer) Public() crypto.PublicKey { return s.key.Public() }

// ChainSeq is the sequence number of the newest manifest the chain knows.
func (s *Sealer) ChainSeq() uint64 { return s.chain.Seq() }

// AdoptNewest advances the chain to the newest manifest of this device found
// under dir (files ending in SidecarSuffix). Files that do not verify with
// the device key (another device's card, damage) are not ours to chain and
// are passed over.
func (s *Sealer) AdoptNewest(dir string) error {
	var newest []byte
	var newestSeq uint64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, SidecarSuffix) {
			return nil
		}
		cose, err := atomicfile.ReadFileMax(path, int64(MaxSize))
		if err != nil {
			return nil
		}
		m, err := Verify(cose, s.key.Public())
		if err != nil {
			return nil
		}
		if m.Seq > newestSeq {
			newest, newestSeq = cose, m.Seq
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("manifest: adopt newest under %s: %w", dir, err)
	}
	if newest == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.chain.Advance(newest); err != nil {
		return fmt.Errorf("manifest: adopt newest (seq %d): %w", newestSeq, err)
	}
	return nil
}

// Adopt reads the sidecar at path; when it is a manifest this device
// signed, it is published already, so the chain advances to it (a no-op for
// one the chain has passed) and Adopt returns it with ok true. No file, or
// one that is not ours, is ok false with no error.
func (s *Sealer) Adopt(path string) (m Manifest, ok bool, err error) {
	cose, err := atomicfile.ReadFileMax(path, int64(MaxSize))
	if err != nil {
		return Manifest{}, false, nil
	}
	m, err = Verify(cose, s.key.Public())
	if err != nil {
		return Manifest{}, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.chain.Advance(cose); err != nil {
		return m, true, fmt.Errorf("manifest: adopt %s: %w", path, err)
	}
	return m, true, nil
}

// Seal signs m as the device's next manifest and publishes it at path (a
// sidecar): the next sequence number, Prev the chain's last hash, the
// atomic write, then the chain's advance. It returns the manifest as
// signed. A crash at any step leaves a state OpenSealer or Adopt catches up.
func (s *Sealer) Seal(path string, m Manifest) (Manifest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.seq.Next()
	if err != nil {
		return Manifest{}, err
	}
	m.Seq, m.Prev = n, s.chain.Last()
	cose, err := Sign(m, s.key)
	if err != nil {
		return Manifest{}, err
	}
	if err := atomicfile.WriteFile(path, cose, 0o644); err != nil {
		return Manifest{}, fmt.Errorf("manifest: publish: %w", err)
	}
	if err := s.chain.Advance(cose); err != nil {
		return Manifest{}, err
	}
	return m, nil
}
