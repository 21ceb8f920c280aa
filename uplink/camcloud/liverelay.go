package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/live"
	"github.com/camagent/camagent/uplink/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqttRelay carries the page's live-view signaling to devices over the
// cloud's broker, as the service identity (whose ACL lets it write
// live/offer and read live/answer of every device). Each relayed offer gets
// its own short MQTT connection, so two viewers never share a subscription.
// It verifies nothing: the device checks the owner's signature, the page
// the device's.
type mqttRelay struct {
	broker string
	tls    *tls.Config
}

func (r *mqttRelay) For(deviceID string) live.Transport {
	return &relayConn{r: r, device: deviceID}
}

// relayConn is one relayed exchange's connection, made on first use and
// closed by the stop function Subscribe returns (relayOffer always
// subscribes first and stops last).
type relayConn struct {
	r      *mqttRelay
	device string

	mu sync.Mutex
	cl paho.Client
}

const relayConnectWait = 10 * time.Second

func (c *relayConn) client(ctx context.Context) (paho.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cl != nil {
		return c.cl, nil
	}
	if identity.ValidDeviceID(c.device) != nil {
		return nil, fmt.Errorf("live relay: bad device ID %q", c.device)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	opts := paho.NewClientOptions().AddBroker(c.r.broker).SetClientID(fmt.Sprintf("%s-live-%x", serviceName, rnd)).
		SetTLSConfig(c.r.tls).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(relayConnectWait)
	cl := paho.NewClient(opts)
	if err := waitToken(ctx, cl.Connect()); err != nil {
		return nil, fmt.Errorf("live relay: connect %s: %w", c.r.broker, err)
	}
	c.cl = cl
	return cl, nil
}

func (c *relayConn) topic(rel string) string { return mqtt.TopicRoot + c.device + "/" + rel }

func (c *relayConn) Publish(ctx context.Context, topic string, payload []byte) error {
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	if err := waitToken(ctx, cl.Publish(c.topic(topic), 1, false, payload)); err != nil {
		return fmt.Errorf("live relay: publish %s: %w", topic, err)
	}
	return nil
}

func (c *relayConn) Subscribe(ctx context.Context, topic string, handle func([]byte)) (func(), error) {
	cl, err := c.client(ctx)
	if err != nil {
		return nil, err
	}
	stop := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.cl != nil {
			c.cl.Disconnect(100)
			c.cl = nil
		}
	}
	h := func(_ paho.Client, m paho.Message) { handle(m.Payload()) }
	if err := waitToken(ctx, cl.Subscribe(c.topic(topic), 1, h)); err != nil {
		stop()
		return nil, fmt.Errorf("live relay: subscribe %s: %w", topic, err)
	}
	return stop, nil
}

// Deliver publishes an owner binding the cloud signed on the device's
// binding topic, retained (QoS 1), on a short connection of its own. The
// broker's retained copy is replaced by each newer binding; the device
// checks it and installs only what the pairing key signed for it, newer
// than what it holds.
func (r *mqttRelay) Deliver(ctx context.Context, deviceID string, signed []byte) error {
	c := &relayConn{r: r, device: deviceID}
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	defer cl.Disconnect(100)
	topic := mqtt.TopicsFor(deviceID).Binding
	if err := waitToken(ctx, cl.Publish(topic, 1, true, signed)); err != nil {
		return fmt.Errorf("binding: publish %s: %w", topic, err)
	}
	return nil
}
