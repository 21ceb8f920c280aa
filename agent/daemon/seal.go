package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
)

// deviceIdentity is the device key and the owner it is paired with ("" while
// unpaired), as the manifests and the upload name them.
type deviceIdentity struct {
	key *identity.DeviceKey
	id  string // the device ID, from the key's public half

	// owner is the account of the verified owner binding held now: read at
	// each item's signing (clip, snapshot, event), set at start and when a
	// new binding is installed, so what is made after a change of owner
	// names the new one and nothing made before is re-attributed. changes
	// keeps the last few changes in this run, so that a clip that began
	// before one names the owner of its first frame.
	mu      sync.Mutex
	owner   string
	changes []ownerChange // oldest first, at most maxOwnerChanges
}

// ownerChange is one change of owner: before is the account up to at.
type ownerChange struct {
	at     time.Time
	before string
}

const maxOwnerChanges = 8

// Owner is the account every item signed now names.
func (id *deviceIdentity) Owner() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.owner
}

// OwnerAt is the account that owned the device at t (in this run): the
// owner of a clip is the owner when its recording began.
func (id *deviceIdentity) OwnerAt(t time.Time) string {
	id.mu.Lock()
	defer id.mu.Unlock()
	owner := id.owner
	for i := len(id.changes) - 1; i >= 0 && t.Before(id.changes[i].at); i-- {
		owner = id.changes[i].before
	}
	return owner
}

// setOwner records the account of a newly installed binding, from now,
// and returns the one before.
func (id *deviceIdentity) setOwner(account string, now time.Time) string {
	id.mu.Lock()
	defer id.mu.Unlock()
	was := id.owner
	if was != account {
		if len(id.changes) == maxOwnerChanges {
			id.changes = append(id.changes[:0], id.changes[1:]...)
		}
		id.changes = append(id.changes, ownerChange{at: now, before: was})
		id.owner = account
	}
	return was
}

// identityConfig is what the daemon needs of the [identity] section.
type identityConfig struct{ key, cloudKey string }

// openIdentity opens (or creates) the device key and reads the owner binding.
func openIdentity(cfg identityConfig, log *slog.Logger) (*deviceIdentity, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.key), 0o700); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	key, created, err := identity.OpenDeviceKey(cfg.key)
	if err != nil {
		return nil, err
	}
	deviceID, err := identity.DeviceID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if created {
		log.Info("device key created", "device_id", deviceID, "path", cfg.key)
	}
	id := &deviceIdentity{key: key, id: deviceID}
	if cfg.cloudKey != "" {
		id.owner = loadOwner(cfg, deviceID, log)
	}
	return id, nil
}

// loadOwner reads the owner binding; an unpaired device signs with owner "".
func loadOwner(cfg identityConfig, deviceID string, log *slog.Logger) string {
	cloud, err := identity.ReadPublicKeyFile(cfg.cloudKey, "cloud key (identity.cloud_key)")
	if err != nil {
		log.Warn("cloud key unreadable; clips are signed as unpaired", "err", err)
		return ""
	}
	b, err := identity.LoadOwnerBinding(identity.BindingPath(cfg.key), cloud, deviceID)
	if err != nil {
		if !errors.Is(err, identity.ErrNotPaired) {
			log.Warn("owner binding refused; clips are signed as unpaired", "err", err)
		}
		return ""
	}
	log.Info("paired", "owner", b.OwnerAccount)
	return b.OwnerAccount
}

// clipSealer signs the manifest of every clip one store seals (its OnSeal
// hook). The seal protocol, and the catch-up after a crash, are package
// manifest's Sealer, opened on first use once the store exists: it adopts
// the newest manifest on the card before it signs anything.
type clipSealer struct {
	store    *storage.Store
	identity func() (*deviceIdentity, error)
	stateDir string // beside the device key
	bootID   string
	synced   func() bool
	log      *slog.Logger
	// published is told of each clip signed here (the clip-sealed event).
	published func(event.Event)

	mu     sync.Mutex
	sealer *manifest.Sealer
	id     *deviceIdentity
}

func (c *clipSealer) open() (*manifest.Sealer, *deviceIdentity, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealer != nil {
		return c.sealer, c.id, nil
	}
	id, err := c.identity()
	if err != nil {
		return nil, nil, err
	}
	s, err := manifest.OpenSealer(manifest.SealerConfig{StateDir: c.stateDir, Key: id.key, Published: c.store.Dir()})
	if err != nil {
		return nil, nil, err
	}
	// Signed snapshots (snapshot.go) share the sequence and the chain: a
	// crash between a snapshot's manifest and the chain's advance is caught
	// up here too, before anything else is sealed.
	if err := s.AdoptNewest(filepath.Join(filepath.Dir(c.store.Dir()), snapshotsDir)); err != nil {
		return nil, nil, err
	}
	c.sealer, c.id = s, id
	return s, id, nil
}

// Seal writes the signed manifest of a sealed clip. A clip that has its
// manifest already (the store's recovery after a crash between the manifest
// and the metadata) keeps it, and the chain advances to it.
func (c *clipSealer) Seal(info storage.ClipInfo) error {
	s, id, err := c.open()
	if err != nil {
		return err
	}
	if m, ok, err := s.Adopt(info.Manifest); ok {
		if err != nil {
			c.log.Warn("manifest chain", "clip", info.Name, "err", err)
		}
		if covers(m, info) {
			return nil
		}
	}
	m, err := c.describe(info, id.OwnerAt(info.Start))
	if err != nil {
		return err
	}
	if m, err = s.Seal(info.Manifest, m); err != nil {
		return err
	}
	c.log.Info("clip signed", "clip", info.Name, "seq", m.Seq, "device_id", id.id)
	if c.published != nil {
		c.published(event.Event{Kind: event.KindClipSealed, Clip: info.Name, ManifestSeq: m.Seq,
			Bytes: uint64(max(info.Size, 0)), Duration: info.Duration})
	}
	return nil
}

// describe is a clip's manifest before sealing: its objects' hashes, times
// and motion.
func (c *clipSealer) describe(info storage.ClipInfo, owner string) (manifest.Manifest, error) {
	clip, err := hashFile(manifest.RoleClip, "video/mp4", info.Path)
	if err != nil {
		return manifest.Manifest{}, err
	}
	objs := []manifest.Object{clip}
	if info.Thumbnail != "" {
		th, err := hashFile(manifest.RoleThumbnail, "image/jpeg", info.Thumbnail)
		if err != nil {
			return manifest.Manifest{}, err
		}
		objs = append(objs, th)
	}
	m := manifest.Manifest{
		Owner: owner, BootID: c.bootID,
		StartMS: info.Start.UnixMilli(), EndMS: info.Start.Add(info.Duration).UnixMilli(),
		ClockTrusted: c.synced(), Objects: objs,
		Motion: manifest.Motion{PeakPPM: manifest.ScorePPM(info.PeakScore), Boxes: uint32(max(info.PeakBoxes, 0))},
	}
	if !info.EventTime.IsZero() {
		m.Motion.StartMS = info.EventTime.UnixMilli()
		m.Motion.EndMS = max(m.EndMS, m.Motion.StartMS)
	}
	return m, nil
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
