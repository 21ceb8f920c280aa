package mqtt_test

import (
	"context"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
	"github.com/camagent/camagent/uplink/mqtt/receiver"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestEventsArriveAndVerify: every kind of event reaches the cloud through
// mosquitto, verifies against the pinned key, on the right topic, in order.
func TestEventsArriveAndVerify(t *testing.T) {
	env := mqtttest.Start(t)
	cl := startCloud(t, env)
	d := newDevice(t, env, env.NewDevice(), t.TempDir(), devOpts{owner: "alice"})
	cl.pin(d.ID, d.Key.Public(), "alice")
	d.start(t)
	on := cl.next(t, "state")
	if on.Kind != event.KindOnline || on.DeviceID != d.ID || on.Owner != "alice" || on.BootID != "test-boot" {
		t.Fatalf("first state message: %+v", on)
	}
	sent := []event.Event{
		{Kind: event.KindMotionStart, ScorePPM: event.ScorePPM(0.123), Boxes: []event.Box{{X: 1, Y: 2, W: 30, H: 40}}, MotionID: 7},
		{Kind: event.KindMotionEnd, ScorePPM: 5000, MotionID: 7},
		{Kind: event.KindClipSealed, Clip: "2026/12/04/054001-e7.mp4", ManifestSeq: 12, Bytes: 1 << 20, Duration: 9 * time.Second},
		{Kind: event.KindClipUploaded, Clip: "2026/12/04/054001-e7.mp4", ManifestSeq: 12, Bytes: 1 << 20},
		{Kind: event.KindRetention, Deleted: 3, Freed: 30 << 20},
		{Kind: event.KindSD, State: "read-only", Reason: "remounted read-only by the kernel"},
		{Kind: event.KindCaptureFault, Reason: "VIDIOC_DQBUF: no such device"},
		{Kind: event.KindDayNight, State: "night"},
	}
	for _, e := range sent {
		d.c.Publish(e)
	}
	d.c.Publish(event.Event{Kind: event.KindState, Uptime: time.Hour, SDFree: 1 << 30, SDTotal: 8 << 30, FPS: 25, Backlog: 2})
	var last uint64 = on.Seq
	for i, want := range sent {
		m := cl.next(t, "events")
		if m.Kind != want.Kind || m.DeviceID != d.ID {
			t.Fatalf("event %d: got %s from %s, want %s from %s", i, m.Kind, m.DeviceID, want.Kind, d.ID)
		}
		if m.Seq <= last {
			t.Fatalf("event %d: seq %d after %d", i, m.Seq, last)
		}
		last = m.Seq
		t.Log(event.Render(m))
	}
	st := cl.next(t, "state")
	if st.Kind != event.KindState || st.FPS != 25 || st.Backlog != 2 {
		t.Fatalf("state: %+v", st)
	}
	// The device's own rendering for ctl events holds what it published.
	if r := d.c.Recent(); len(r) < len(sent)+2 {
		t.Fatalf("Recent has %d messages", len(r))
	}
	if s := cl.r.Stats(); s.Refused != 0 {
		t.Fatalf("the cloud refused messages from a paired device: %+v", s)
	}
}

// TestForeignTopicRefused: a device that publishes under another device's
// topic is refused by the broker (its ACL), and the cloud never shows it.
func TestForeignTopicRefused(t *testing.T) {
	env := mqtttest.Start(t)
	cl := startCloud(t, env)
	victim, mallory := env.NewDevice(), env.NewDevice()
	cl.pin(victim.ID, victim.Key.Public(), "alice")
	cl.pin(mallory.ID, mallory.Key.Public(), "mallory")

	opts := paho.NewClientOptions().AddBroker(env.URL()).SetClientID(mallory.ID).SetTLSConfig(mallory.TLS).
		SetAutoReconnect(false).SetCleanSession(true)
	pc := paho.NewClient(opts)
	if tok := pc.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pc.Disconnect(100)
	sign := func(k event.Kind, seq uint64) []byte {
		b, err := event.Sign(event.Header{Seq: seq, BootID: "b", Owner: "mallory"}, event.Event{Kind: k, Time: time.Now()}, mallory.Key)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Mallory's own valid message, under the victim's topic: the broker
	// must drop it (MQTT 3.1.1 has no negative PUBACK; it never reaches a
	// subscriber).
	victimTopics := mqtt.TopicsFor(victim.ID)
	if tok := pc.Publish(victimTopics.Events, 1, false, sign(event.KindMotionStart, 1)); !tok.WaitTimeout(patience) {
		t.Fatal("publish did not complete")
	}
	// Mallory subscribes to the victim's commands and her own; the cloud
	// sends one to the victim, then one to Mallory. Mosquitto grants the
	// subscription but its ACL withholds the victim's message: the first
	// (and only) one Mallory reads is her own.
	seen := make(chan string, 4)
	h := func(_ paho.Client, m paho.Message) { seen <- m.Topic() }
	for _, topic := range []string{victimTopics.Command, mqtt.TopicsFor(mallory.ID).Command} {
		if tok := pc.Subscribe(topic, 1, h); !tok.WaitTimeout(patience) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
	}
	ctx := context.Background()
	if err := cl.r.Send(ctx, victim.ID, []byte("for the victim")); err != nil {
		t.Fatal(err)
	}
	if err := cl.r.Send(ctx, mallory.ID, []byte("for mallory")); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-seen:
		if topic != mqtt.TopicsFor(mallory.ID).Command {
			t.Fatalf("Mallory read %s", topic)
		}
	case <-time.After(patience):
		t.Fatal("Mallory did not get her own command")
	}
	// A marker on Mallory's own topic, published after: once it arrives,
	// the earlier message would have too.
	if tok := pc.Publish(mqtt.TopicsFor(mallory.ID).Events, 1, false, sign(event.KindDayNight, 2)); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatal("publish on own topic failed")
	}
	m := cl.next(t, "events")
	if m.DeviceID != mallory.ID || m.Kind != event.KindDayNight {
		t.Fatalf("first event the cloud shows: %s from %s; the message on the victim's topic got through", m.Kind, m.DeviceID)
	}
	s := cl.r.Stats()
	if s.Verified != 1 || s.Refused != 0 {
		t.Fatalf("receiver stats %+v: want exactly the marker verified and nothing else seen", s)
	}
	// Nothing is stored for the victim.
	items, err := receiver.ReadVerified(cl.dir, victim.ID, victim.Key.Public(), "alice", 0)
	if err != nil || len(items) != 0 {
		t.Fatalf("the cloud stored %d messages for the victim (err %v)", len(items), err)
	}
}
