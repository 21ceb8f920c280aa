package daemon

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
	"github.com/camagent/camagent/uplink/mqtt/receiver"
)

// TestDaemonPublishesMotion runs the daemon with the synthetic camera and a
// real mosquitto: the motion event it detects reaches the cloud's receiver
// signed by the device key, the SD card's state is published, and ctl
// events and the status show the client.
func TestDaemonPublishesMotion(t *testing.T) {
	env := mqtttest.Start(t)
	dir := t.TempDir()
	sockDir, err := os.MkdirTemp("", "cm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "s")
	card := filepath.Join(dir, "sd")
	os.Mkdir(card, 0o755)
	mounts := filepath.Join(dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda "+card+" vfat rw 0 0\n"), 0o644)

	// The device key and a certificate for it from the broker's CA.
	keyPath := filepath.Join(dir, "id", "device.key")
	os.MkdirAll(filepath.Dir(keyPath), 0o700)
	key, _, err := identity.OpenDeviceKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	ca := env.CA.Certificate()
	cert, err := env.CA.IssueDevice(key.Public(), ca.NotBefore, ca.NotAfter)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(identity.CertPath(keyPath), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// The cloud side: the receiver pins the device's key.
	got := make(chan event.Message, 256)
	subbed := make(chan struct{}, 4)
	rcv, err := receiver.New(receiver.Config{
		Broker: env.URL(), TLS: env.ServiceTLS(mqtttest.ServiceName), ClientID: mqtttest.ServiceName,
		Devices: func(id string) (receiver.Device, bool) {
			return receiver.Device{Key: key.Public()}, id == key.DeviceID()
		},
		Dir:          filepath.Join(dir, "cloud"),
		Observe:      func(m event.Message, _ string) { got <- m },
		OnSubscribed: func() { subbed <- struct{}{} },
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(t.Context())
	rdone := make(chan struct{})
	go func() { defer close(rdone); _ = rcv.Run(rctx) }()
	t.Cleanup(func() { rcancel(); <-rdone })
	select {
	case <-subbed:
	case <-time.After(patience):
		t.Fatal("the receiver did not subscribe")
	}

	cfgPath := filepath.Join(dir, "camagent.toml")
	body := fmt.Sprintf(`shutdown_timeout = "5s"
[control]
socket = %q
[storage]
mount = %q
[identity]
key = %q
[capture]
source = "synthetic"
scene = "objects"
width = 160
height = 120
fps = 10
[mqtt]
broker = %q
ca = %q
store = %q
start_delay = "0s"
`, sock, card, keyPath, env.URL(), env.CAFile, filepath.Join(dir, "mqtt"))
	replaceFile(t, cfgPath, body)
	cfg, src, err := config.LoadWith(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg, src, Deps{ProcRoot: dir, MountTable: mounts, NoBoard: true, Console: &syncBuffer{}})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	}()

	seen := map[event.Kind]event.Message{}
	deadline := time.After(patience)
	for seen[event.KindMotionStart].Kind == "" || seen[event.KindSD].Kind == "" {
		select {
		case m := <-got:
			if m.DeviceID != key.DeviceID() {
				t.Fatalf("message from %q, want the daemon's device %q", m.DeviceID, key.DeviceID())
			}
			seen[m.Kind] = m
		case <-deadline:
			t.Fatalf("no verified motion-start and sd events within %s; saw %v", patience, seen)
		}
	}
	if m := seen[event.KindMotionStart]; m.MotionID == 0 || m.BootID != d.bootID {
		t.Errorf("motion-start = %+v, want a motion ID and this run's boot ID", m)
	}
	if m := seen[event.KindSD]; m.State != "ok" {
		t.Errorf("sd = %+v, want state ok", m)
	}

	client := &control.Client{Socket: sock}
	var ev control.MQTTEventsResponse
	if err := client.Get(ctx, control.PathMQTTEvents, &ev); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(ev.Lines, "\n"), "motion") {
		t.Errorf("ctl events = %q, want the motion event", ev.Lines)
	}
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.MQTT == nil || !st.MQTT.Connected || st.Time == nil {
		t.Errorf("status mqtt = %+v, time = %+v; want connected, and the clock's state", st.MQTT, st.Time)
	}
}

// patience bounds the waits for the broker and the camera: a hang guard,
// not a timing assertion.
const patience = 60 * time.Second
