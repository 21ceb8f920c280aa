package mqtt_test

import (
	"errors"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestSignaling: through a real mosquitto with the generated ACL, the cloud
// service publishes an offer on the device's live/offer topic and the
// device's Signaling (subscribed before it connected) receives it; the
// device's answer on live/answer reaches the service. Publishing while
// disconnected fails instead of queuing, and bad topics are refused.
func TestSignaling(t *testing.T) {
	env := mqtttest.Start(t)
	dev := newDevice(t, env, env.NewDevice(), t.TempDir(), devOpts{})
	sig := dev.c.Signaling()
	ctx := t.Context()

	if err := sig.Publish(ctx, "live/answer", []byte("x")); !errors.Is(err, mqtt.ErrNotConnected) {
		t.Errorf("publish while disconnected = %v, want ErrNotConnected", err)
	}
	for _, bad := range []string{"", "live/#", "live/+/x", "/live", "live//offer", "live/"} {
		if err := sig.Publish(ctx, bad, nil); !errors.Is(err, mqtt.ErrConfig) {
			t.Errorf("publish on %q = %v, want ErrConfig", bad, err)
		}
	}
	offers := make(chan []byte, 4)
	stop, err := sig.Subscribe(ctx, "live/offer", func(b []byte) { offers <- append([]byte(nil), b...) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := sig.Subscribe(ctx, "live/offer", func([]byte) {}); err == nil {
		t.Error("a second subscription to the same topic was accepted")
	}
	dev.start(t)
	waitConnected(t, dev.c)

	// The cloud service.
	answers := make(chan []byte, 4)
	svc := paho.NewClient(paho.NewClientOptions().AddBroker(env.URL()).SetClientID(mqtttest.ServiceName).
		SetTLSConfig(env.ServiceTLS(mqtttest.ServiceName)).SetConnectTimeout(patience))
	if tok := svc.Connect(); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("service connect: %v", tok.Error())
	}
	defer svc.Disconnect(0)
	topics := dev.c.Topics()
	if tok := svc.Subscribe(topics.Live+"/answer", 1, func(_ paho.Client, m paho.Message) { answers <- m.Payload() }); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("service subscribe: %v", tok.Error())
	}
	if tok := svc.Publish(topics.Live+"/offer", 1, false, []byte("offer-1")); !tok.WaitTimeout(patience) || tok.Error() != nil {
		t.Fatalf("service publish: %v", tok.Error())
	}
	select {
	case b := <-offers:
		if string(b) != "offer-1" {
			t.Errorf("offer = %q", b)
		}
	case <-time.After(patience):
		t.Fatal("the device did not receive the offer")
	}
	if err := sig.Publish(ctx, "live/answer", []byte("answer-1")); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-answers:
		if string(b) != "answer-1" {
			t.Errorf("answer = %q", b)
		}
	case <-time.After(patience):
		t.Fatal("the service did not receive the answer")
	}
}
