//go:build !nolive

package daemon

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"image/jpeg"
	"testing"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/live"
	"github.com/camagent/camagent/uplink/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// serviceTransport is the cloud relay's side of live signaling for one
// device: offers published, answers subscribed, as the service identity.
type serviceTransport struct {
	cl     paho.Client
	prefix string
}

func (s serviceTransport) Publish(ctx context.Context, topic string, payload []byte) error {
	tok := s.cl.Publish(s.prefix+topic, 1, false, payload)
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s serviceTransport) Subscribe(ctx context.Context, topic string, handle func([]byte)) (func(), error) {
	tok := s.cl.Subscribe(s.prefix+topic, 1, func(_ paho.Client, m paho.Message) { handle(m.Payload()) })
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	return func() { s.cl.Unsubscribe(s.prefix + topic) }, nil
}

// TestDaemonLiveView: a paired daemon with [mqtt] and [live] answers the
// owner's signed offer, relayed through a real mosquitto by the cloud
// service identity, and the viewer receives JPEG pictures of the synthetic
// camera; the status shows the session.
func TestDaemonLiveView(t *testing.T) {
	r := newMQTTRig(t)
	owner := r.pair(t)
	r.start(t, "[live]\nenabled = true\nfps = 10\n")

	tr := serviceTransport{cl: r.service(t), prefix: mqtt.TopicRoot + r.key.DeviceID() + "/"}

	// The daemon subscribes to offers once its MQTT client is connected and
	// live serves; until then an offer is lost (QoS 0), so wait for both.
	client := &control.Client{Socket: r.sock}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	waitFor(t, "mqtt connected and live serving", func() bool {
		st, err := client.Status(ctx)
		return err == nil && st.MQTT != nil && st.MQTT.Connected && st.Live != nil
	})
	v, err := live.Dial(ctx, live.ViewerConfig{DeviceID: r.key.DeviceID(), DeviceKey: r.key.Public().(*ecdsa.PublicKey),
		Owner: owner, Transport: tr, IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if v.Answer.Media != live.MediaJPEG {
		t.Fatalf("media %q, want jpeg", v.Answer.Media)
	}
	select {
	case p := <-v.Pictures:
		img, err := jpeg.Decode(bytes.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != 160 || b.Dy() != 120 {
			t.Errorf("picture %v, want 160x120", b)
		}
	case <-ctx.Done():
		t.Fatal("no picture from the live session")
	}
	st, err := client.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Live == nil || st.Live.Accepted != 1 || st.Live.Viewers != 1 {
		t.Errorf("live status = %+v, want one accepted offer and one viewer", st.Live)
	}
}
