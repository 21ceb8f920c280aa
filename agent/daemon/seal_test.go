package daemon

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/outputtest"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/uplink/manifest"
)

// sealTestClip records a small MJPEG clip in the daemon's store and seals it
// (the store's OnSeal signs its manifest).
func sealTestClip(t *testing.T, d *Daemon, start time.Time, event uint64) storage.ClipInfo {
	t.Helper()
	store, err := d.clipStore()
	if err != nil {
		t.Fatal(err)
	}
	cw, err := store.Create(storage.ClipSpec{Start: start, Event: event, FragmentDuration: time.Second,
		Track: fmp4.Track{Codec: fmp4.MJPEG, Width: 64, Height: 48, FrameDuration: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		jpeg := []byte{0xff, 0xd8, byte(event), byte(i), 0xff, 0xd9}
		if err := cw.AddSample(jpeg, start.Add(time.Duration(i)*100*time.Millisecond), true); err != nil {
			t.Fatal(err)
		}
	}
	info, err := cw.Seal(storage.ClipFinish{Events: []uint64{event}, EventTime: start, Part: 1})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func readManifest(t *testing.T, d *Daemon, path string) (manifest.Manifest, [32]byte) {
	t.Helper()
	id, err := d.identity()
	if err != nil {
		t.Fatal(err)
	}
	cose, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Verify(cose, id.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return m, manifest.Hash(cose)
}

// TestSealChainAfterCrash is issue 9's first defect through the daemon: the
// card holds what a crash at the rename of manifest.chain leaves (clip 2's
// manifest written, the chain still at clip 1, clip 2 without metadata).
// The restarted agent's recovery must advance the chain to clip 2, so clip 3
// names clip 2, not clip 1 a second time. Before the fix the sealer was
// opened at start, before the clip store existed, so nothing was adopted,
// and recovery kept clip 2's manifest without advancing the chain.
func TestSealChainAfterCrash(t *testing.T) {
	dir := t.TempDir()
	card := filepath.Join(dir, "sd")
	os.Mkdir(card, 0o755)
	mounts := filepath.Join(dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda "+card+" vfat rw 0 0\n"), 0o644)
	sockDir, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	cfg := config.Default()
	cfg.Storage.Mount = card
	cfg.Identity.Key = filepath.Join(dir, "identity", "device.key")
	cfg.Control.Socket = filepath.Join(sockDir, "s")
	cfg.Upload.URL = ""
	changed := newChanges()
	deps := Deps{Console: &outputtest.Output{Wake: changed}, NoBoard: true, ProcRoot: dir, MountTable: mounts,
		OpenSource: func(config.CaptureConfig, func(string, ...any)) (capture.Source, error) {
			return newTickSource(nil), nil
		}}
	chainPath := filepath.Join(dir, "identity", manifest.ChainFile)
	t0 := time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)

	// The first run: clip 1 sealed; clip 2 sealed, then the chain and the
	// metadata put back as the crash left them.
	first := New(cfg, config.Source{}, deps)
	sealTestClip(t, first, t0, 1)
	atClip1, err := os.ReadFile(chainPath)
	if err != nil {
		t.Fatal(err)
	}
	c2 := sealTestClip(t, first, t0.Add(time.Minute), 2)
	m2, h2 := readManifest(t, first, c2.Manifest)
	if err := os.WriteFile(chainPath, atClip1, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(c2.Metadata); err != nil {
		t.Fatal(err)
	}

	// The restart: the daemon runs until its recovery completed clip 2.
	second := New(cfg, config.Source{}, deps)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- second.Run(ctx) }()
	store, _ := second.clipStore()
	waitUntil(t, "clip 2 recovered", changed, func() bool {
		clips, _ := store.Clips()
		for _, c := range clips {
			if c.Name == c2.Name && c.State == storage.ClipSealed {
				return true
			}
		}
		return false
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	id, _ := second.identity()
	chain, err := manifest.OpenChain(chainPath, id.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if chain.Seq() != m2.Seq || chain.Last() != h2 {
		t.Errorf("after recovery the chain is at seq %d, want clip 2's manifest (seq %d)", chain.Seq(), m2.Seq)
	}

	// The next clip names clip 2.
	third := New(cfg, config.Source{}, deps)
	c3 := sealTestClip(t, third, t0.Add(2*time.Minute), 3)
	m3, _ := readManifest(t, third, c3.Manifest)
	if m3.Prev == m2.Prev {
		t.Fatalf("chain forked: manifests %d and %d both name %x", m2.Seq, m3.Seq, m3.Prev)
	}
	if m3.Prev != h2 || m3.Seq <= m2.Seq {
		t.Errorf("manifest %d names %x, want manifest %d (%x)", m3.Seq, m3.Prev, m2.Seq, h2)
	}
}

// TestSealManifestMotion is issue 15's third defect: the manifest said
// "(0 boxes)" for a clip whose peak frame had boxes. The peak's score and
// box count travel from the recorder's finish info through the metadata to
// the signed manifest.
func TestSealManifestMotion(t *testing.T) {
	dir := t.TempDir()
	card := filepath.Join(dir, "sd")
	os.Mkdir(card, 0o755)
	mounts := filepath.Join(dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda "+card+" vfat rw 0 0\n"), 0o644)
	cfg := config.Default()
	cfg.Storage.Mount = card
	cfg.Identity.Key = filepath.Join(dir, "identity", "device.key")
	cfg.Upload.URL = ""
	d := New(cfg, config.Source{}, Deps{Console: io.Discard, NoBoard: true, ProcRoot: dir, MountTable: mounts})
	store, err := d.clipStore()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)
	cw, err := store.Create(storage.ClipSpec{Start: start, Event: 7, FragmentDuration: time.Second,
		Track: fmp4.Track{Codec: fmp4.MJPEG, Width: 64, Height: 48, FrameDuration: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cw.AddSample([]byte{0xff, 0xd8, 7, 0xff, 0xd9}, start, true); err != nil {
		t.Fatal(err)
	}
	info, err := cw.Seal(storage.ClipFinish{Events: []uint64{7}, EventTime: start, Part: 1, PeakScore: 0.25, PeakBoxes: 3, PeakTime: start})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := readManifest(t, d, info.Manifest)
	if m.Motion.Boxes != 3 || m.Motion.PeakPPM != 250_000 {
		t.Errorf("manifest motion %+v, want 3 boxes at 250000 ppm", m.Motion)
	}
}
