package main

import (
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
)

// Files kept beside the device key (see package manifest: the sequence space
// belongs to the key, not to the SD card).
const (
	seqFile   = "manifest.seq"
	chainFile = "manifest.chain"
)

// sealer signs the manifest of every clip the store seals (its OnSeal hook),
// following package manifest's seal protocol: next sequence number, sign with
// the chain's last hash, write the sidecar atomically, advance the chain.
type sealer struct {
	key    *identity.DeviceKey
	seq    *manifest.Sequencer
	chain  *manifest.Chain
	bootID string
	owner  string
	log    *slog.Logger
	synced func() bool

	mu sync.Mutex // one manifest at a time
}

// openSealer opens (or creates) the device key and the manifest state beside it.
func openSealer(cfg identityConfig, bootID string, log *slog.Logger) (*sealer, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.key), 0o700); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	key, created, err := identity.OpenDeviceKey(cfg.key)
	if err != nil {
		return nil, err
	}
	if created {
		log.Info("device key created", "device_id", key.DeviceID(), "path", cfg.key)
	}
	dir := filepath.Dir(cfg.key)
	seq, err := manifest.OpenSequencer(filepath.Join(dir, seqFile), 1)
	if err != nil {
		return nil, err
	}
	chain, err := manifest.OpenChain(filepath.Join(dir, chainFile), key.Public())
	if err != nil {
		return nil, err
	}
	s := &sealer{key: key, seq: seq, chain: chain, bootID: bootID, log: log, synced: board.ClockSynced}
	if cfg.cloudKey != "" {
		s.owner = loadOwner(cfg, key, log)
	}
	return s, nil
}

// identityConfig is what the sealer needs of the [identity] section.
type identityConfig struct{ key, cloudKey string }

// loadOwner reads the owner binding; an unpaired device signs with owner "".
func loadOwner(cfg identityConfig, key *identity.DeviceKey, log *slog.Logger) string {
	pemBytes, err := os.ReadFile(cfg.cloudKey)
	if err != nil {
		log.Warn("cloud key unreadable; clips are signed as unpaired", "err", err)
		return ""
	}
	cloud, err := identity.ParsePublicKeyPEM(pemBytes)
	if err != nil {
		log.Warn("cloud key invalid; clips are signed as unpaired", "err", err)
		return ""
	}
	b, err := identity.LoadOwnerBinding(identity.BindingPath(cfg.key), cloud, key.DeviceID())
	if err != nil {
		if !errors.Is(err, identity.ErrNotPaired) {
			log.Warn("owner binding refused; clips are signed as unpaired", "err", err)
		}
		return ""
	}
	log.Info("paired", "owner", b.OwnerAccount)
	return b.OwnerAccount
}

// DeviceID is the ID every manifest names.
func (s *sealer) DeviceID() string { return s.key.DeviceID() }

// Public is the device's public key.
func (s *sealer) Public() crypto.PublicKey { return s.key.Public() }

// adoptNewest advances the chain to the newest manifest of this device found
// under dir (the clip store): a power cut between writing a sidecar and
// advancing the chain must not fork it.
func (s *sealer) adoptNewest(dir string) error {
	var newest []byte
	var newestSeq uint64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, storage.ExtManifest) {
			return nil
		}
		cose, err := os.ReadFile(path)
		if err != nil || len(cose) > manifest.MaxSize {
			return nil
		}
		m, err := manifest.Verify(cose, s.key.Public())
		if err != nil {
			return nil // another device's card, or damaged: not ours to chain
		}
		if m.Seq > newestSeq {
			newest, newestSeq = cose, m.Seq
		}
		return nil
	})
	if err != nil || newest == nil {
		return err
	}
	if err := s.chain.Advance(newest); err != nil {
		return fmt.Errorf("identity: adopt newest manifest (seq %d): %w", newestSeq, err)
	}
	return nil
}

// Seal writes the signed manifest of a sealed clip (storage's OnSeal). A clip
// sealed before (a retry after a crash) keeps the manifest it has.
func (s *sealer) Seal(info storage.ClipInfo) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, err := os.ReadFile(info.Manifest); err == nil {
		if m, err := manifest.Verify(old, s.key.Public()); err == nil && covers(m, info) {
			return nil
		}
	}
	var objs []manifest.Object
	clip, err := hashFile(manifest.RoleClip, "video/mp4", info.Path)
	if err != nil {
		return err
	}
	objs = append(objs, clip)
	if info.Thumbnail != "" {
		th, err := hashFile(manifest.RoleThumbnail, "image/jpeg", info.Thumbnail)
		if err != nil {
			return err
		}
		objs = append(objs, th)
	}
	m := manifest.Manifest{
		Owner: s.owner, BootID: s.bootID,
		StartMS: info.Start.UnixMilli(), EndMS: info.Start.Add(info.Duration).UnixMilli(),
		ClockTrusted: s.synced(), Objects: objs,
		Motion: manifest.Motion{PeakPPM: manifest.ScorePPM(info.PeakScore)},
	}
	if !info.EventTime.IsZero() {
		m.Motion.StartMS = info.EventTime.UnixMilli()
		m.Motion.EndMS = max(m.EndMS, m.Motion.StartMS)
	}
	n, err := s.seq.Next()
	if err != nil {
		return err
	}
	m.Seq, m.Prev = n, s.chain.Last()
	cose, err := manifest.Sign(m, s.key)
	if err != nil {
		return err
	}
	if err := storage.WriteFileAtomic(info.Manifest, cose, 0o644); err != nil {
		return err
	}
	if err := s.chain.Advance(cose); err != nil {
		return err
	}
	s.log.Info("clip signed", "clip", info.Name, "seq", n, "device_id", s.key.DeviceID())
	return nil
}

// covers reports whether a manifest already covers this clip's video bytes.
func covers(m manifest.Manifest, info storage.ClipInfo) bool {
	o, ok := m.Object(manifest.RoleClip)
	if !ok || uint64(info.Size) != o.Size {
		return false
	}
	return info.SHA256 == "" || fmt.Sprintf("%x", o.SHA256) == info.SHA256
}

func hashFile(role, mediaType, path string) (manifest.Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return manifest.Object{}, fmt.Errorf("seal: %w", err)
	}
	defer f.Close()
	return manifest.HashObject(role, mediaType, f)
}
