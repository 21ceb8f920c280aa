package homeassistant

import (
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt/mosquitto"
	paho "github.com/eclipse/paho.mqtt.golang"
)

type msg struct {
	topic   string
	payload []byte
}

// TestHomeAssistant runs against a real plain mosquitto, like a Home
// Assistant user's LAN broker, and reads what Home Assistant would.
func TestHomeAssistant(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	b, err := mosquitto.Start(context.Background(), mosquitto.Config{Dir: filepath.Join(t.TempDir(), "b"), Listen: addr, Plain: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()

	got := make(chan msg, 256)
	ha := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("home-assistant"))
	if tok := ha.Connect(); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer ha.Disconnect(100)
	h := func(_ paho.Client, m paho.Message) { got <- msg{m.Topic(), m.Payload()} }
	if tok := ha.SubscribeMultiple(map[string]byte{"homeassistant/#": 1, "camagent/local/#": 1}, h); !tok.WaitTimeout(time.Minute) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	const id = "cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	loc, err := New(Config{Broker: b.URL(), DeviceID: id, Name: "Porch"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = loc.Run(ctx) }()

	// wait returns the next payload on topic; seen keeps the last payload
	// of every topic read on the way.
	seen := map[string][]byte{}
	wait := func(topic string, ok func([]byte) bool) []byte {
		t.Helper()
		deadline := time.After(time.Minute)
		for {
			select {
			case m := <-got:
				seen[m.topic] = m.payload
				if m.topic == topic && (ok == nil || ok(m.payload)) {
					return m.payload
				}
			case <-deadline:
				t.Fatalf("nothing on %s", topic)
			}
		}
	}
	// Discovery comes before "online".
	wait("camagent/local/"+id+"/availability", func(p []byte) bool { return string(p) == "online" })
	for _, topic := range []string{"binary_sensor/" + id + "/motion", "sensor/" + id + "/sd_free",
		"sensor/" + id + "/upload_backlog", "image/" + id + "/snapshot"} {
		var disc map[string]any
		if err := json.Unmarshal(seen["homeassistant/"+topic+"/config"], &disc); err != nil {
			t.Fatalf("discovery %s: %v", topic, err)
		}
		if dev, _ := disc["device"].(map[string]any); dev["name"] != "Porch" || disc["availability_topic"] == nil {
			t.Fatalf("discovery %s: %v", topic, disc)
		}
	}
	var disc map[string]any
	_ = json.Unmarshal(seen["homeassistant/binary_sensor/"+id+"/motion/config"], &disc)
	if disc["device_class"] != "motion" || disc["unique_id"] != id+"_motion" || disc["state_topic"] != "camagent/local/"+id+"/motion" {
		t.Fatalf("motion discovery: %v", disc)
	}

	loc.Publish(event.Event{Kind: event.KindMotionStart})
	wait("camagent/local/"+id+"/motion", func(p []byte) bool { return string(p) == "ON" })
	loc.Publish(event.Event{Kind: event.KindMotionEnd})
	wait("camagent/local/"+id+"/motion", func(p []byte) bool { return string(p) == "OFF" })
	loc.Publish(event.Event{Kind: event.KindState, SDFree: 300 << 20, Backlog: 4})
	st := wait("camagent/local/"+id+"/state", nil)
	var s map[string]any
	if err := json.Unmarshal(st, &s); err != nil || s["sd_free_mb"] != float64(300) || s["upload_backlog"] != float64(4) {
		t.Fatalf("state %s", st)
	}
	jpeg := []byte("\xff\xd8 a jpeg \xff\xd9")
	if err := loc.PublishSnapshot(jpeg); err != nil {
		t.Fatal(err)
	}
	if p := wait("camagent/local/"+id+"/snapshot", nil); string(p) != string(jpeg) {
		t.Fatalf("snapshot %q", p)
	}
	cancel()
	<-done
	wait("camagent/local/"+id+"/availability", func(p []byte) bool { return string(p) == "offline" })
}
