package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mosquitto"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// haMsg is one message Home Assistant received.
type haMsg struct {
	topic   string
	payload []byte
}

// startLAN starts a plain mosquitto like a Home Assistant user's LAN broker
// (anonymous, no TLS) and subscribes as Home Assistant would.
func startLAN(t *testing.T) (*mosquitto.Broker, paho.Client, <-chan haMsg) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	b, err := mosquitto.Start(t.Context(), mosquitto.Config{Dir: filepath.Join(t.TempDir(), "lan"), Listen: addr, Plain: true})
	if err != nil {
		t.Fatalf("%v (make deps installs mosquitto)", err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	got := make(chan haMsg, 1024)
	ha := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("home-assistant").SetConnectTimeout(patience))
	if tok := ha.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("home assistant connect: %v", tok.Error())
	}
	t.Cleanup(func() { ha.Disconnect(0) })
	h := func(_ paho.Client, m paho.Message) {
		select {
		case got <- haMsg{m.Topic(), m.Payload()}:
		default:
		}
	}
	if tok := ha.SubscribeMultiple(map[string]byte{"homeassistant/#": 1, "camagent/local/#": 1}, h); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("home assistant subscribe: %v", tok.Error())
	}
	return b, ha, got
}

// TestDaemonHomeAssistant runs the daemon with [mqtt.local] pointing at a
// real plain mosquitto (a Home Assistant LAN broker) beside the cloud's
// mosquitto: Home Assistant gets the discovery, "online", the motion the
// synthetic camera makes, the state, and the snapshot an owner-signed
// command takes; a "command" published on the LAN broker reaches nothing.
func TestDaemonHomeAssistant(t *testing.T) {
	r := newMQTTRig(t)
	owner := r.pair(t)
	lan, ha, got := startLAN(t)
	r.start(t, fmt.Sprintf("state_interval = \"10s\"\n[mqtt.local]\nbroker = %q\nname = \"Porch\"\n", lan.URL()))
	id := r.key.DeviceID()
	base := "camagent/local/" + id + "/"
	seen := map[string][]byte{}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	wait := func(topic string, ok func([]byte) bool) []byte {
		t.Helper()
		for {
			select {
			case m := <-got:
				seen[m.topic] = m.payload
				if m.topic == topic && (ok == nil || ok(m.payload)) {
					return m.payload
				}
			case <-ctx.Done():
				t.Fatalf("Home Assistant got nothing (matching) on %s; saw %d topics", topic, len(seen))
			}
		}
	}
	wait(base+"availability", func(p []byte) bool { return string(p) == "online" })
	var disc map[string]any
	if err := json.Unmarshal(seen["homeassistant/binary_sensor/"+id+"/motion/config"], &disc); err != nil ||
		disc["state_topic"] != base+"motion" || disc["device_class"] != "motion" {
		t.Fatalf("motion discovery: %v %v", err, disc)
	}
	if dev, _ := disc["device"].(map[string]any); dev["name"] != "Porch" {
		t.Errorf("discovery device = %v, want the name Porch", disc["device"])
	}
	// The state at start (the SD card the storage part watches).
	st := wait(base+"state", nil)
	var s map[string]any
	if err := json.Unmarshal(st, &s); err != nil || s["sd_free_mb"] == nil || s["upload_backlog"] == nil {
		t.Fatalf("state %s: %v", st, err)
	}
	// The synthetic scene's objects move: a motion event.
	wait(base+"motion", func(p []byte) bool { return string(p) == "ON" })

	// A LAN client publishing a "command" where the cloud's would go: the
	// agent subscribes to nothing on this broker, so nothing happens (the
	// next check would see a changed threshold otherwise).
	patch := command.New(id, command.OpConfigPatch, time.Now(), time.Minute)
	patch.Patch = "[motion]\nthreshold = 99\n"
	b, err := command.Sign(patch, owner)
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{mqtt.TopicsFor(id).Command, base + "cmd", base + "set"} {
		if tok := ha.Publish(topic, 1, false, b); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatalf("LAN publish: %v", tok.Error())
		}
	}

	// The owner's snapshot command through the cloud: Home Assistant's
	// image entity gets the JPEG.
	svc := r.service(t)
	snap := command.New(id, command.OpSnapshot, time.Now(), time.Minute)
	sb, err := command.Sign(snap, owner)
	if err != nil {
		t.Fatal(err)
	}
	if tok := svc.Publish(mqtt.TopicsFor(id).Command, 1, false, sb); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish snapshot command: %v", tok.Error())
	}
	for {
		select {
		case m := <-r.got:
			if m.Kind != event.KindCommandResult || string(m.Nonce) != string(snap.Nonce) {
				continue
			}
			if m.State != event.ResultDone {
				t.Fatalf("snapshot: %s %q", m.State, m.Reason)
			}
		case <-ctx.Done():
			t.Fatal("no result for the snapshot command")
		}
		break
	}
	jpeg := wait(base+"snapshot", nil)
	if len(jpeg) < 4 || jpeg[0] != 0xff || jpeg[1] != 0xd8 {
		t.Errorf("snapshot on %s: %d bytes, not a JPEG", base+"snapshot", len(jpeg))
	}
	cfg, _ := r.d.config()
	data, _ := os.ReadFile(filepath.Join(r.dir, "camagent.toml"))
	if cfg.Motion.Threshold == 99 || strings.Contains(string(data), "threshold = 99") {
		t.Errorf("a command published on the LAN broker changed the config")
	}
	if lanCfg := cfg.MQTT.Local; lanCfg.Broker != lan.URL() {
		t.Errorf("running config [mqtt.local] broker = %q", lanCfg.Broker)
	}
}
