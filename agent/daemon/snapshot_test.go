package daemon

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
)

// TestDaemonSnapshotSigned: the owner's snapshot command, through a real
// mosquitto, makes a JPEG signed by the device's next manifest; the
// snapshots part uploads it to a real ingest, which verifies it (signature,
// TLS identity, owner) and serves it to the owner's viewer byte for byte.
func TestDaemonSnapshotSigned(t *testing.T) {
	r := newMQTTRig(t)
	owner := r.pair(t)
	const account = "owner@example.com" // r.pair's

	// The ingest, trusting the rig's CA (which issued the device's
	// certificate) and pairing the device to the owner.
	reg := ingesttest.NewRegistry()
	reg.Pair(r.key.DeviceID(), account)
	srv, err := ingest.New(ingest.Config{Root: ingesttest.TempDir(t), ClientCAs: r.env.CA.Pool(), Owners: reg,
		Accounts: reg, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := r.env.CA.ServerCertificate([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = ingest.TLSConfig(cert)
	hs.Config.ErrorLog = log.New(io.Discard, "", 0)
	hs.StartTLS()
	t.Cleanup(hs.Close)

	r.start(t, fmt.Sprintf("[upload]\nurl = %q\nca = %q\nstart_delay = \"0s\"\n", hs.URL, r.env.CAFile))
	svc, _, ctx := r.connected(t)
	m := r.sendCommand(t, ctx, svc, owner, command.New(r.key.DeviceID(), command.OpSnapshot, time.Now(), time.Minute))
	sm := regexp.MustCompile(`^(\S+\.jpg) signed \(manifest #(\d+)\), uploading$`).FindStringSubmatch(m.Reason)
	if m.State != event.ResultDone || sm == nil {
		t.Fatalf("snapshot: %s %q, want done naming the JPEG and its manifest", m.State, m.Reason)
	}
	jpg := sm[1]
	base := strings.TrimSuffix(jpg, ".jpg")
	waitFor(t, "the snapshot marked uploaded", func() bool {
		_, err := os.Stat(base + ".uploaded")
		return err == nil
	})
	cose, err := os.ReadFile(base + ".manifest")
	if err != nil {
		t.Fatal(err)
	}
	man, err := manifest.Verify(cose, r.key.Public())
	if err != nil || fmt.Sprint(man.Seq) != sm[2] || man.Owner != account || len(man.Objects) != 1 ||
		man.Objects[0].Role != snapshotRole {
		t.Fatalf("the snapshot's manifest: %v %+v", err, man)
	}
	local, err := os.ReadFile(jpg)
	if err != nil {
		t.Fatal(err)
	}
	get := func(role string) []byte {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
			fmt.Sprintf("%s/v1/items/%s/%d/%s", hs.URL, r.key.DeviceID(), man.Seq, role), nil)
		req.Header.Set("Authorization", "Bearer "+reg.Viewer(account))
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET the snapshot's %s: %s %s", role, resp.Status, b)
		}
		return b
	}
	if got := get(snapshotRole); !bytes.Equal(got, local) || len(local) < 4 || local[0] != 0xff || local[1] != 0xd8 {
		t.Errorf("the ingest serves %d bytes for the snapshot, the card holds %d (a JPEG: %v)", len(got), len(local),
			len(local) > 2 && local[0] == 0xff)
	}
	if got := get(protocol.ManifestRole); !bytes.Equal(got, cose) {
		t.Errorf("the ingest serves another manifest for the snapshot")
	}
}

// TestSnapshotChainAfterCrash: a crash between a snapshot's manifest and
// the chain's advance is caught up at the next start, so the next clip's
// manifest names the snapshot's and the chain does not fork.
func TestSnapshotChainAfterCrash(t *testing.T) {
	dir := t.TempDir()
	card := filepath.Join(dir, "sd")
	os.Mkdir(card, 0o755)
	mounts := filepath.Join(dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda "+card+" vfat rw 0 0\n"), 0o644)
	cfg := config.Default()
	cfg.Storage.Mount = card
	cfg.Identity.Key = filepath.Join(dir, "identity", "device.key")
	cfg.Control.Socket = filepath.Join(dir, "s")
	cfg.Upload.URL = ""
	deps := Deps{Console: io.Discard, NoBoard: true, ProcRoot: dir, MountTable: mounts}
	chainPath := filepath.Join(dir, "identity", manifest.ChainFile)
	t0 := time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)

	first := New(cfg, config.Source{}, deps)
	sealTestClip(t, first, t0, 1)
	atClip1, err := os.ReadFile(chainPath)
	if err != nil {
		t.Fatal(err)
	}
	jpg := filepath.Join(card, "camagent", snapshotsDir, "s.jpg")
	os.MkdirAll(filepath.Dir(jpg), 0o755)
	writeTestFile(t, jpg, []byte{0xff, 0xd8, 1, 2, 0xff, 0xd9})
	sm, err := first.signSnapshot(jpg, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	_, hs := readManifest(t, first, filepath.Join(filepath.Dir(jpg), "s.manifest"))
	if err := os.WriteFile(chainPath, atClip1, 0o600); err != nil { // the crash
		t.Fatal(err)
	}

	second := New(cfg, config.Source{}, deps)
	c2 := sealTestClip(t, second, t0.Add(time.Minute), 2)
	m2, _ := readManifest(t, second, c2.Manifest)
	if m2.Prev != hs || m2.Seq <= sm.Seq {
		t.Errorf("clip 2's manifest (seq %d) names %x, want the snapshot's (seq %d, %x)", m2.Seq, m2.Prev[:8], sm.Seq, hs[:8])
	}
}
