package daemon

import (
	"context"
	"crypto/ecdsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// sendCommand signs c with key, publishes it as the cloud's service and
// returns the device's verified result.
func (r *mqttRig) sendCommand(t *testing.T, ctx context.Context, svc paho.Client, key *ecdsa.PrivateKey, c command.Command) event.Message {
	t.Helper()
	b, err := command.Sign(c, key)
	if err != nil {
		t.Fatal(err)
	}
	if tok := svc.Publish(mqtt.TopicsFor(r.key.DeviceID()).Command, 1, false, b); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("publish command: %v", tok.Error())
	}
	for {
		select {
		case m := <-r.got:
			if m.Kind == event.KindCommandResult && string(m.Nonce) == string(c.Nonce) {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("no result for %s", c.Op)
		}
	}
}

// TestDaemonRebootFormatSD: on a board that lets the agent act (qemu-virt,
// with the init system's reboot faked behind the same function), the
// owner's signed reboot reboots through the board; format-sd answers a
// challenge, and the signed confirmation stops the recorder (it seals its
// clip), erases the agent's folder on the card and starts recording again.
func TestDaemonRebootFormatSD(t *testing.T) {
	r := newMQTTRig(t)
	owner := r.pair(t)
	rebooted := make(chan struct{}, 4)
	r.board = "qemu-virt"
	r.reboot = func(context.Context) error { rebooted <- struct{}{}; return nil }
	r.start(t, "")
	svc, client, ctx := r.connected(t)
	id := r.key.DeviceID()

	if m := r.sendCommand(t, ctx, svc, owner, command.New(id, command.OpReboot, time.Now(), time.Minute)); m.State != event.ResultDone {
		t.Fatalf("reboot: %s %q", m.State, m.Reason)
	}
	select {
	case <-rebooted:
	default:
		t.Fatal("reboot answered done but the board's reboot was not called")
	}

	// Something of ours on the card, and the synthetic scene's motion
	// being recorded.
	card := filepath.Join(r.dir, "sd")
	old := filepath.Join(card, "camagent", "snapshots", "old.jpg")
	os.MkdirAll(filepath.Dir(old), 0o755)
	writeTestFile(t, old, []byte("old"))
	writeTestFile(t, filepath.Join(card, "not-ours.txt"), []byte("kept"))
	waitFor(t, "a clip being recorded", func() bool {
		st, err := client.Status(ctx)
		return err == nil && st.Recorder != nil && st.Recorder.Clips+st.Recorder.Recorded > 0
	})

	m := r.sendCommand(t, ctx, svc, owner, command.New(id, command.OpFormatSD, time.Now(), time.Minute))
	if m.State != event.ResultConfirm || len(m.Challenge) == 0 {
		t.Fatalf("format-sd: %s %q, want a challenge to confirm", m.State, m.Reason)
	}
	if _, err := os.Stat(old); err != nil {
		t.Fatalf("format-sd erased before the confirmation: %v", err)
	}
	confirm := command.New(id, command.OpFormatSDConfirm, time.Now(), time.Minute)
	confirm.Confirm = m.Challenge
	if m := r.sendCommand(t, ctx, svc, owner, confirm); m.State != event.ResultDone {
		t.Fatalf("format-sd-confirm: %s %q", m.State, m.Reason)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("after format-sd, %s: %v, want it gone", old, err)
	}
	if _, err := os.Stat(filepath.Join(card, "not-ours.txt")); err != nil {
		t.Errorf("format-sd removed a file outside the agent's folder: %v", err)
	}
	if _, err := os.Stat(r.keyPath); err != nil {
		t.Errorf("the device key: %v", err)
	}
	// Recording goes on, on the erased card.
	waitFor(t, "the recorder writing to the card again", func() bool {
		ents, _ := os.ReadDir(filepath.Join(card, "camagent", "clips"))
		return len(ents) > 0
	})
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st.Parts {
		if p.Name == "recorder" && (p.State != "running" || p.LastError != "") {
			t.Errorf("recorder part after format-sd: %+v", p)
		}
	}
	var log strings.Builder
	for _, l := range r.d.ring.Tail(1000) {
		log.WriteString(l.Text)
	}
	if !strings.Contains(log.String(), "format-sd by a signed command") {
		t.Errorf("no log line of the format")
	}
}

// TestRemoveAllExcept: erasing the agent's folder keeps the paths a board
// keeps there (the QEMU camera's identity and MQTT store) and removes the
// rest.
func TestRemoveAllExcept(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "camagent")
	for _, f := range []string{"clips/2026/a.mp4", "state.json", "identity/device.key", "mqtt/outbox/1.msg", "mqtt/seq",
		"snapshots/b.jpg"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o700)
		writeTestFile(t, filepath.Join(dir, f), []byte("x"))
	}
	keep := []string{filepath.Join(dir, "identity"), filepath.Join(dir, "mqtt") + "/", "/elsewhere/mqtt"}
	if err := removeAllExcept(dir, keep); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{"identity/device.key": true, "mqtt/outbox/1.msg": true, "mqtt/seq": true,
		"clips": false, "state.json": false, "snapshots": false} {
		_, err := os.Stat(filepath.Join(dir, f))
		if got := err == nil; got != want {
			t.Errorf("%s exists = %v, want %v", f, got, want)
		}
	}
	// Nothing kept inside: the folder goes.
	if err := removeAllExcept(dir, []string{"/elsewhere"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want it removed", dir, err)
	}
}
