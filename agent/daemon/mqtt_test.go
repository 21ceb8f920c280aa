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
	"github.com/camagent/camagent/agent/outputtest"
	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
	"github.com/camagent/camagent/uplink/mqtt/receiver"
)

// mqttRig is a daemon with the synthetic camera, its device key certified
// by the CA of a real mosquitto, and the cloud's receiver pinning that key.
type mqttRig struct {
	env     *mqtttest.Env
	dir     string
	sock    string
	key     *identity.DeviceKey
	keyPath string
	// cloudKey is identity.cloud_key, when the device is paired.
	cloudKey string
	got      chan event.Message
	d        *Daemon
	// board is the config's board ("" : the default); reboot fakes the
	// init system's reboot (with the agent taken for root) when set.
	board  string
	reboot func(context.Context) error
}

// newMQTTRig prepares the rig.
func newMQTTRig(t *testing.T) *mqttRig {
	env := mqtttest.Start(t)
	r := &mqttRig{env: env, dir: t.TempDir(), got: make(chan event.Message, 256)}
	sockDir, err := os.MkdirTemp("", "cm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	r.sock = filepath.Join(sockDir, "s")

	// The device key and a certificate for it from the broker's CA.
	r.keyPath = filepath.Join(r.dir, "id", "device.key")
	os.MkdirAll(filepath.Dir(r.keyPath), 0o700)
	r.key, _, err = identity.OpenDeviceKey(r.keyPath)
	if err != nil {
		t.Fatal(err)
	}
	ca := env.CA.Certificate()
	cert, err := env.CA.IssueDevice(r.key.Public(), ca.NotBefore, ca.NotAfter)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(identity.CertPath(r.keyPath), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// The cloud side: the receiver pins the device's key.
	subbed := make(chan struct{}, 4)
	rcv, err := receiver.New(receiver.Config{
		Broker: env.URL(), TLS: env.ServiceTLS(mqtttest.ServiceName), ClientID: mqtttest.ServiceName + "-events",
		Devices: func(id string) (receiver.Device, bool) {
			return receiver.Device{Key: r.key.Public()}, id == r.key.DeviceID()
		},
		Dir:          filepath.Join(r.dir, "cloud"),
		Observe:      func(m event.Message, _ string) { r.got <- m },
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
	return r
}

// start runs the daemon with extra appended to its config file; it is
// stopped (and must stop cleanly) at the end of the test.
func (r *mqttRig) start(t *testing.T, extra string) {
	card := filepath.Join(r.dir, "sd")
	os.Mkdir(card, 0o755)
	mounts := filepath.Join(r.dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda "+card+" vfat rw 0 0\n"), 0o644)
	cfgPath := filepath.Join(r.dir, "camagent.toml")
	body := fmt.Sprintf(`shutdown_timeout = "5s"
[control]
socket = %q
[storage]
mount = %q
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
`, r.sock, card, r.env.URL(), r.env.CAFile, filepath.Join(r.dir, "mqtt"))
	ident := fmt.Sprintf("[identity]\nkey = %q\n", r.keyPath)
	if r.cloudKey != "" {
		ident += fmt.Sprintf("cloud_key = %q\n", r.cloudKey)
	}
	if r.board != "" {
		body = fmt.Sprintf("board = %q\n", r.board) + body
	}
	replaceFile(t, cfgPath, body+extra+ident)
	cfg, src, err := config.LoadWith(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{ProcRoot: r.dir, MountTable: mounts, NoBoard: true, Console: &outputtest.Output{}}
	if r.reboot != nil {
		deps.Reboot, deps.Euid = r.reboot, func() int { return 0 }
	}
	r.d = New(cfg, src, deps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run = %v", err)
		}
	})
}

// TestDaemonPublishesMotion runs the daemon with the synthetic camera and a
// real mosquitto: the motion event it detects reaches the cloud's receiver
// signed by the device key, the SD card's state is published, and ctl
// events and the status show the client.
func TestDaemonPublishesMotion(t *testing.T) {
	r := newMQTTRig(t)
	r.start(t, "")
	ctx := t.Context()
	seen := map[event.Kind]event.Message{}
	deadline := time.After(patience)
	for seen[event.KindMotionStart].Kind == "" || seen[event.KindSD].Kind == "" {
		select {
		case m := <-r.got:
			if m.DeviceID != r.key.DeviceID() {
				t.Fatalf("message from %q, want the daemon's device %q", m.DeviceID, r.key.DeviceID())
			}
			seen[m.Kind] = m
		case <-deadline:
			t.Fatalf("no verified motion-start and sd events within %s; saw %v", patience, seen)
		}
	}
	if m := seen[event.KindMotionStart]; m.MotionID == 0 || m.BootID != r.d.bootID {
		t.Errorf("motion-start = %+v, want a motion ID and this run's boot ID", m)
	}
	if m := seen[event.KindSD]; m.State != "ok" {
		t.Errorf("sd = %+v, want state ok", m)
	}

	client := &control.Client{Socket: r.sock}
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

// TestDaemonCommands: the owner's signed commands, through a real mosquitto,
// reach the daemon's handler: a config patch is written to the file and
// hot-reloaded; reboot is refused on a board that does not let the agent
// act (generic-uvc), with the reason in the signed result.
func TestDaemonCommands(t *testing.T) {
	r := newMQTTRig(t)
	owner := r.pair(t)
	r.start(t, "")
	svc, _, ctx := r.connected(t)
	send := func(c command.Command) event.Message {
		t.Helper()
		return r.sendCommand(t, ctx, svc, owner, c)
	}
	patch := command.New(r.key.DeviceID(), command.OpConfigPatch, time.Now(), time.Minute)
	patch.Patch = "[motion]\nthreshold = 20\n"
	if m := send(patch); m.State != event.ResultDone {
		t.Fatalf("config-patch: %s %q", m.State, m.Reason)
	}
	waitFor(t, "the patched config to be reloaded", func() bool {
		cfg, _ := r.d.config()
		return cfg.Motion.Threshold == 20
	})
	data, err := os.ReadFile(filepath.Join(r.dir, "camagent.toml"))
	if err != nil || !strings.Contains(string(data), "threshold = 20") {
		t.Errorf("config file after the patch: %v\n%s", err, data)
	}
	bad := command.New(r.key.DeviceID(), command.OpConfigPatch, time.Now(), time.Minute)
	bad.Patch = "[motion]\nthreshold = 999\n"
	if m := send(bad); m.State != event.ResultRefused || !strings.Contains(m.Reason, "threshold") {
		t.Errorf("bad config-patch: %s %q", m.State, m.Reason)
	}
	// The default board (a developer's machine) lets no one reboot it.
	if m := send(command.New(r.key.DeviceID(), command.OpReboot, time.Now(), time.Minute)); m.State != event.ResultRefused ||
		!strings.Contains(m.Reason, "unsupported operation on board") {
		t.Errorf("reboot: %s %q, want refused as unsupported on this board", m.State, m.Reason)
	}
}
