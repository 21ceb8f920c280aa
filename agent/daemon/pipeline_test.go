package daemon

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/outputtest"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/verify"
)

// TestPipeline runs the daemon on a synthetic scene with moving objects, in
// real time: motion must become an event, the event a sealed clip with a
// thumbnail on the card, and the clip a manifest signed by the device key
// that a viewer paired with this device accepts.
func TestPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a scene in real time (about 6 s)")
	}
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "cp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	card := filepath.Join(dir, "sd")
	os.Mkdir(card, 0o755)
	mounts := filepath.Join(dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda "+card+" vfat rw 0 0\n"), 0o644)
	keyPath := filepath.Join(dir, "identity", "device.key")
	// Pair the device with account "alice" as the cloud would: a binding
	// signed by the cloud's pairing key, next to the device key.
	os.MkdirAll(filepath.Dir(keyPath), 0o700)
	key, _, err := identity.OpenDeviceKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	cloud, _, err := identity.OpenDeviceKey(filepath.Join(dir, "cloud.key"))
	if err != nil {
		t.Fatal(err)
	}
	owner, _, _ := identity.OpenDeviceKey(filepath.Join(dir, "alice.key"))
	ownerDER, _ := identity.PublicKeyDER(owner.Public())
	binding, err := identity.SignOwnerBinding(identity.OwnerBinding{DeviceID: key.DeviceID(), OwnerAccount: "alice",
		OwnerKey: ownerDER, Issued: time.Now()}, cloud)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.SaveOwnerBinding(identity.BindingPath(keyPath), binding, cloud.Public(), key.DeviceID()); err != nil {
		t.Fatal(err)
	}
	// The ingest: mutual TLS on loopback, its CA signs the device's CSR, and
	// its registry knows the pairing.
	env := ingesttest.Start(t, ingesttest.Options{})
	csr, err := identity.CSR(key, key.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := env.CA.SignCSR(csr)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(identity.CertPath(keyPath), certPEM, 0o644)
	caPath := filepath.Join(dir, "ingest-ca.crt")
	os.WriteFile(caPath, env.CA.CertPEM(), 0o644)
	env.Registry.Pair(key.DeviceID(), "alice")
	cloudPEM, _ := identity.PublicKeyPEM(cloud.Public())
	cloudKeyPath := filepath.Join(dir, "cloud.pub")
	os.WriteFile(cloudKeyPath, cloudPEM, 0o644)
	cfgPath := filepath.Join(dir, "camagent.toml")
	replaceFile(t, cfgPath, fmt.Sprintf(`[control]
socket = %q
[capture]
source = "synthetic"
scene = "objects"
width = 320
height = 240
fps = 25
[storage]
mount = %q
pre_roll = "1s"
post_roll = "1s"
clip_fps = 5
fragment = "1s"
[identity]
key = %q
cloud_key = %q
[motion]
event_gap = "1s"
[upload]
url = %q
ca = %q
start_delay = "0s"
`, sock, card, keyPath, cloudKeyPath, env.URL, caPath))
	cfg, src, err := config.LoadWith(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	dp := Deps{ProcRoot: dir, MountTable: mounts, NoBoard: true,
		OpenSource: func(c config.CaptureConfig, _ func(string, ...any)) (capture.Source, error) {
			// One pass of the scene: its first motion span is frames 24..76.
			return capture.NewRealtime(func() (capture.Source, error) {
				return synth.New(synth.Config{Scene: synth.Objects, Width: c.Width, Height: c.Height, FPS: c.FPS, Seed: 1})
			}, false)
		}}
	changed := newChanges()
	console := &outputtest.Output{Wake: changed}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("CAMAGENT_TEST_CONSOLE") != "" {
			t.Logf("agent log:\n%s", console.String())
		}
	})
	dp.Console = console
	d := New(cfg, src, dp)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	}()

	client := &control.Client{Socket: sock}
	var st control.Status
	waitUntil(t, "a sealed clip", changed, func() bool {
		st, err = client.Status(ctx)
		return err == nil && st.Clips != nil && st.Clips.Sealed > 0
	})
	if st.Identity == nil || st.Identity.DeviceID != key.DeviceID() || st.Identity.Owner != "alice" {
		t.Errorf("identity status = %+v, want %s paired with alice", st.Identity, key.DeviceID())
	}
	if st.Motion == nil || st.Motion.Stats.Events == 0 {
		t.Errorf("motion status = %+v, want an event", st.Motion)
	}
	store, err := storage.NewStore(storage.StoreConfig{Card: storage.NewCard(card)})
	if err != nil {
		t.Fatal(err)
	}
	clips, err := store.Clips()
	if err != nil || len(clips) == 0 {
		t.Fatalf("clips = %v, %v", clips, err)
	}
	c := clips[0]
	// The serial shell's and `camagent ctl`'s routes see the same event and
	// clip (how they print them is tested in package main and agent/shell).
	var evs control.EventsResponse
	if err := client.Get(ctx, control.PathEvents, &evs); err != nil || len(evs.Events) == 0 {
		t.Errorf("shell events = %+v, %v; want the event", evs, err)
	}
	var cl control.ClipsResponse
	if err := client.Get(ctx, control.PathClips, &cl); err != nil ||
		!slices.ContainsFunc(cl.Clips, func(x control.Clip) bool { return x.Name == c.Name }) {
		t.Errorf("shell clips = %+v, %v; want %s", cl, err, c.Name)
	}
	if c.Thumbnail == "" || c.Frames == 0 || c.Codec == "" {
		t.Errorf("clip = %+v, want frames and a thumbnail", c)
	}
	cose, err := os.ReadFile(c.Manifest)
	if err != nil {
		t.Fatalf("no manifest for %s: %v", c.Name, err)
	}
	body, _ := os.ReadFile(c.Path)
	viewer := verify.Viewer{Account: "alice", Devices: map[string]crypto.PublicKey{key.DeviceID(): key.Public()}}
	if dec := verify.CheckBytes(body, manifest.RoleClip, cose, viewer); !dec.Show {
		t.Errorf("viewer refuses the clip: %s: %s", dec.Code, dec.Reason)
	} else if dec.Manifest.Seq == 0 || dec.Manifest.BootID == "" {
		t.Errorf("manifest = %+v", dec.Manifest)
	}
	thumb, _ := os.ReadFile(c.Thumbnail)
	if dec := verify.CheckBytes(thumb, manifest.RoleThumbnail, cose, viewer); !dec.Show {
		t.Errorf("viewer refuses the thumbnail: %s: %s", dec.Code, dec.Reason)
	}
	// The clip, its thumbnail and manifest reach the ingest, stored under the
	// device that signed them.
	waitUntil(t, "the clip at the ingest", changed, func() bool { return env.Ingest.Stats().ObjectsStored >= 2 })
	if st := env.Ingest.Stats(); st.ManifestsAccepted == 0 || st.LookupMixups != 0 {
		t.Errorf("ingest stats = %+v", st)
	}
	if _, err := os.Stat(filepath.Join(env.Root, "store", "devices", key.DeviceID())); err != nil {
		t.Errorf("nothing stored under the device's ID: %v", err)
	}
	waitUntil(t, "the clip marked uploaded", changed, func() bool {
		ok, _ := store.IsUploaded(c.Name)
		return ok
	})
	// Neither another account nor a viewer of another device sees it.
	other, _, _ := identity.OpenDeviceKey(filepath.Join(dir, "other.key"))
	for name, v := range map[string]verify.Viewer{
		"another account": {Account: "mallory", Devices: viewer.Devices},
		"another device":  {Account: "alice", Devices: map[string]crypto.PublicKey{other.DeviceID(): other.Public()}},
	} {
		if dec := verify.CheckBytes(body, manifest.RoleClip, cose, v); dec.Show {
			t.Errorf("%s was shown the clip", name)
		}
	}
}
