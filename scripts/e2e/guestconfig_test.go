package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/board"
)

// The guest config's settings the QEMU test's timing and paths depend on
// (clips_test.go); TestGuestConfig checks scripts/qemu/camagent.toml says the
// same.
const (
	cfgEventGap  = 2 * time.Second // [motion] event_gap
	cfgStillTime = 2 * time.Second // [motion] still_time
	cfgPostRoll  = 2 * time.Second // [storage] post_roll
	cfgClipFPS   = 4               // [storage] clip_fps
	cfgSDMount   = "/mnt/sd"       // [storage] mount; /init mounts the SD card there
	// Where /init mounts the flash partition (scripts/flash.sh), on which
	// scripts/cloud.sh flash puts the device identity: never the SD card.
	cfgIdentity = "/var/lib/camagent"
	// The dev cloud as the guest reaches it: the test forwards the guest's
	// 10.0.2.100:8443 to its camcloud serve.
	cfgUploadURL = "https://10.0.2.100:8443"
	// Its broker (camcloud serve -mqtt): the test forwards 10.0.2.100:8883.
	cfgBroker = "tls://10.0.2.100:8883"
)

// TestGuestConfig checks, without QEMU, that the QEMU camera's config
// (scripts/qemu/camagent.toml, installed as /etc/camagent/camagent.toml) is one
// the agent accepts, so a schema change breaks here and not in the guest.
func TestGuestConfig(t *testing.T) {
	path := filepath.Join(repoRoot(t), "scripts", "qemu", "camagent.toml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the guest config: %v", err)
	}
	c, err := config.Parse(data)
	if err != nil {
		t.Fatalf("the agent refuses %s: %v", path, err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"board", c.Board, "qemu-virt"},
		{"storage.mount", c.Storage.Mount, cfgSDMount},
		{"capture.device", c.Capture.Device, "/dev/video0"},
		{"capture.formats", len(c.Capture.Formats) == 1 && c.Capture.Formats[0] == "YUYV", true},
		{"capture.width", c.Capture.Width, 640},
		{"capture.height", c.Capture.Height, 480},
		// A still picture at start (no clock, no movement): the test moves it.
		{"capture.controls OSD Text Mode", c.Capture.Controls["OSD Text Mode"], int32(2)},
		{"capture.controls Horizontal Movement", c.Capture.Controls["Horizontal Movement"], int32(3)},
		{"motion.event_gap", c.Motion.EventGap, cfgEventGap},
		{"motion.still_time", c.Motion.StillTime, cfgStillTime},
		{"storage.post_roll", c.Storage.PostRoll.Duration, cfgPostRoll},
		{"storage.clip_fps", c.Storage.ClipFPS, float64(cfgClipFPS)},
		// The key lives on the flash partition, which survives reboots (the
		// manifests chain and verify) and cannot be pulled out like the card;
		// scripts/cloud.sh flash provisions these files.
		{"identity.key", c.Identity.Key, cfgIdentity + "/device.key"},
		{"identity.key is the board profile's keystore", c.Identity.Key, qemuKeystore(t)},
		{"identity.key off the SD card", strings.HasPrefix(c.Identity.Key, cfgSDMount+"/"), false},
		{"identity.cloud_key", c.Identity.CloudKey, cfgIdentity + "/pairing.pub"},
		{"upload.url", c.Upload.URL, cfgUploadURL},
		{"upload.ca", c.Upload.CA, cfgIdentity + "/ca.crt"},
		// The test waits for the upload: no fleet to spread out.
		{"upload.start_delay at most 1s", c.Upload.StartDelay.Duration <= time.Second, true},
		// The dev cloud's broker, forwarded like the upload; the outbox on
		// the card, the only persistent disk.
		{"mqtt.broker", c.MQTT.Broker, cfgBroker},
		{"mqtt.ca", c.MQTT.CA, cfgIdentity + "/ca.crt"},
		{"mqtt.store", c.MQTT.Store, cfgSDMount + "/camagent/mqtt"},
		{"mqtt.start_delay at most 1s", c.MQTT.StartDelay.Duration <= time.Second, true},
		// Live view through the dev cloud's TURN server (camcloud serve
		// -turn), forwarded like the broker; its credential on the flash.
		{"live.ice_servers", strings.Join(c.Live.ICEServers, " "), fmt.Sprintf("turn:10.0.2.100:%d?transport=tcp", guestTURNPort)},
		{"live.turn_username", c.Live.TURNUsername, "camera"},
		{"live.turn_credential_file", c.Live.TURNCredentialFile, cfgIdentity + "/turn.cred"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// repoRoot is the repository's top folder, found from the test's working
// folder (scripts/e2e under go test) by its go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working folder: %v", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			bytes.HasPrefix(b, []byte("module github.com/camagent/camagent\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod of github.com/camagent/camagent above the working folder")
		}
		dir = parent
	}
}

// qemuKeystore is the qemu-virt board profile's keystore path.
func qemuKeystore(t *testing.T) string {
	t.Helper()
	p, err := board.Lookup("qemu-virt")
	if err != nil {
		t.Fatal(err)
	}
	return p.KeystorePath
}
