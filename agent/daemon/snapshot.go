package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/upload"
)

// A signed snapshot is a JPEG in the card's snapshots folder with a
// manifest beside it (NAME.jpg, NAME.manifest) that covers it as one object
// of role snapshotRole. The manifest is the device's next one, from the
// same sequence and chain as the clips' (package manifest's Sealer), so the
// ingest verifies and orders it like any other item. NAME.uploaded marks it
// sent.
const (
	snapshotRole     = manifest.RoleSnapshot
	snapshotType     = "image/jpeg"
	snapshotsDir     = "snapshots" // under the card's agent folder
	extUploaded      = ".uploaded"
	snapshotRescan   = 5 * time.Minute
	snapshotRetryMin = 2 * time.Second
)

// signSnapshot signs the snapshot at jpegPath, taken at `at`, with the
// device's next manifest, written beside it.
func (d *Daemon) signSnapshot(jpegPath string, at time.Time) (manifest.Manifest, error) {
	seal := d.curSeal.Load()
	if seal == nil {
		return manifest.Manifest{}, errors.New("snapshot: no clip store to sign with (storage not configured)")
	}
	s, id, err := seal.open()
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("snapshot: sign: %w", err)
	}
	obj, err := hashFile(snapshotRole, snapshotType, jpegPath)
	if err != nil {
		return manifest.Manifest{}, err
	}
	ms := at.UnixMilli()
	m := manifest.Manifest{Owner: id.Owner(), BootID: d.bootID, StartMS: ms, EndMS: ms,
		ClockTrusted: d.clockTrusted(), Objects: []manifest.Object{obj}}
	m, err = s.Seal(strings.TrimSuffix(jpegPath, filepath.Ext(jpegPath))+".manifest", m)
	if err != nil {
		return manifest.Manifest{}, fmt.Errorf("snapshot: sign: %w", err)
	}
	d.log.Info("snapshot signed", "path", jpegPath, "seq", m.Seq, "device_id", id.id)
	return m, nil
}

// snapshotKick wakes the snapshots part (coalesced). The zero value works.
type snapshotKick struct {
	once sync.Once
	ch   chan struct{}
}

func (k *snapshotKick) c() chan struct{} {
	k.once.Do(func() { k.ch = make(chan struct{}, 1) })
	return k.ch
}

func (k *snapshotKick) kick() {
	select {
	case k.c() <- struct{}{}:
	default:
	}
}

// runSnapshots is the "snapshots" part: with [upload] url set it sends the
// signed snapshots on the card that are not marked uploaded, oldest
// sequence first, when a snapshot is signed and every snapshotRescan;
// after a failure it waits a full-jitter backoff. Without an ingest it
// waits.
func (d *Daemon) runSnapshots(ctx context.Context) error {
	cfg, _ := d.config()
	if cfg.Upload.URL == "" {
		<-ctx.Done()
		return nil
	}
	id, err := d.identity()
	if err != nil {
		return err
	}
	caPEM, err := atomicfile.ReadFileMax(cfg.Upload.CA, maxCAFile)
	if err != nil {
		return fmt.Errorf("snapshots: ingest CA: %w", err)
	}
	tlsCfg, err := upload.TLSConfig(id.key, identity.CertPath(cfg.Identity.Key), caPEM, cfg.Upload.ServerName)
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	cl, err := upload.NewClient(upload.ClientConfig{URL: cfg.Upload.URL, TLS: tlsCfg})
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	defer cl.CloseIdleConnections()
	log := d.log.With("part", "snapshots")
	backoff := time.Duration(0)
	for {
		wait := snapshotRescan
		if err := d.sendSnapshots(ctx, cl, id.id); err != nil && ctx.Err() == nil {
			backoff = min(max(2*backoff, snapshotRetryMin), snapshotRescan)
			wait = time.Duration(rand.Int64N(int64(backoff))) + time.Millisecond
			log.Warn("snapshot upload failed", "err", err, "retry_in", wait.Round(time.Millisecond))
		} else {
			backoff = 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.snapKick.c():
		case <-t.C:
		}
		t.Stop()
	}
}

// sendSnapshots sends every signed snapshot not marked uploaded. A snapshot
// whose manifest does not parse, was signed by another device, or that the
// ingest refuses for good is logged and left (never marked uploaded).
func (d *Daemon) sendSnapshots(ctx context.Context, cl *upload.Client, deviceID string) error {
	d.mu.Lock()
	card := d.card
	d.mu.Unlock()
	dir := filepath.Join(card.Dir(), snapshotsDir)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	type pending struct {
		base string
		item upload.Item
	}
	var todo []pending
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".manifest")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		base := filepath.Join(dir, name)
		if _, err := os.Stat(base + extUploaded); err == nil {
			continue
		}
		cose, err := atomicfile.ReadFileMax(base+".manifest", manifest.MaxSize)
		if err != nil {
			return fmt.Errorf("snapshots: %w", err)
		}
		m, kid, err := manifest.Parse(cose)
		o, ok := m.Object(snapshotRole)
		if err != nil || kid != deviceID || !ok {
			d.log.Warn("snapshot not sent: not this device's snapshot manifest", "path", base+".manifest", "kid", kid, "err", err)
			continue
		}
		todo = append(todo, pending{base, upload.Item{Name: snapshotsDir + "/" + name, Manifest: cose, Seq: m.Seq,
			Objects: []upload.Object{{Object: o, Path: base + ".jpg"}}}})
	}
	// sort.Slice, not slices.SortFunc: no copy of the sort per element type (README "Size budget").
	sort.Slice(todo, func(i, j int) bool { return cmpSeq(todo[i].item.Seq, todo[j].item.Seq) < 0 })
	var errs []error
	for _, p := range todo {
		complete, err := cl.Send(ctx, &p.item, nil, nil)
		if c := upload.Classify(err); err != nil && (c == upload.Permanent || c == upload.Local) {
			d.log.Warn("snapshot refused by the ingest", "snapshot", p.item.Name, "seq", p.item.Seq, "err", err)
			continue
		}
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("snapshots: %s: %w", p.item.Name, err))...)
		}
		if !complete {
			errs = append(errs, fmt.Errorf("snapshots: %s: the ingest does not have it whole", p.item.Name))
			continue
		}
		stamp := []byte(d.deps.Now().UTC().Format(time.RFC3339Nano) + "\n")
		if err := atomicfile.WriteFile(p.base+extUploaded, stamp, 0o644); err != nil {
			errs = append(errs, fmt.Errorf("snapshots: mark %s uploaded: %w", p.item.Name, err))
			continue
		}
		d.log.Info("snapshot uploaded", "snapshot", p.item.Name, "seq", p.item.Seq, "bytes", p.item.Objects[0].Size)
	}
	return errors.Join(errs...)
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
