package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ErrNotConnected: the broker is not reachable now; signaling is not queued.
var ErrNotConnected = errors.New("mqtt: not connected to the broker")

// Signaling publishes and subscribes raw payloads on the device's own topics
// (camagent/v1/<device-id>/<topic>), QoS 0, not retained, and not through the
// outbox: live-view offers and answers are worth something only now. It has
// the shape of uplink/live's Transport (this package does not import live).
// The payloads are signed by their senders and verified by their receivers;
// the topic authenticates nothing.
type Signaling struct{ s *signaling }

// Signaling returns the client's signaling transport. Subscriptions are
// renewed on every (re)connection while the client runs.
func (c *Client) Signaling() Signaling { return Signaling{&c.sig} }

// signaling is the state behind Signaling: the live connection (nil while
// disconnected) and the subscriptions to renew on each connection.
type signaling struct {
	c *Client

	mu   sync.Mutex
	cl   paho.Client
	subs map[string]*sigSub // by full topic
}

type sigSub struct{ handle func([]byte) }

func (s *sigSub) onMessage(_ paho.Client, m paho.Message) { s.handle(m.Payload()) }

// topic is the full topic of a device-relative one; wildcards and empty
// levels are refused.
func (s *signaling) topic(rel string) (string, error) {
	if rel == "" || strings.ContainsAny(rel, "+#\x00") || strings.HasPrefix(rel, "/") || strings.HasSuffix(rel, "/") ||
		strings.Contains(rel, "//") {
		return "", fmt.Errorf("%w: signaling topic %q", ErrConfig, rel)
	}
	return TopicRoot + s.c.id + "/" + rel, nil
}

// attach makes cl the live connection and renews the subscriptions on it.
func (s *signaling) attach(ctx context.Context, cl paho.Client) {
	s.mu.Lock()
	s.cl = cl
	subs := make(map[string]*sigSub, len(s.subs))
	for t, sub := range s.subs {
		subs[t] = sub
	}
	s.mu.Unlock()
	for t, sub := range subs {
		if err := wait(ctx, cl.Subscribe(t, 0, sub.onMessage)); err != nil {
			s.c.log.Warn("mqtt: renew signaling subscription", "topic", t, "err", err)
		}
	}
}

func (s *signaling) detach() {
	s.mu.Lock()
	s.cl = nil
	s.mu.Unlock()
}

// Publish sends payload on the device's topic; it fails with
// ErrNotConnected while the broker is away.
func (g Signaling) Publish(ctx context.Context, topic string, payload []byte) error {
	full, err := g.s.topic(topic)
	if err != nil {
		return err
	}
	g.s.mu.Lock()
	cl := g.s.cl
	g.s.mu.Unlock()
	if cl == nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, ErrNotConnected)
	}
	if err := wait(ctx, cl.Publish(full, 0, false, payload)); err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, err)
	}
	return nil
}

// Subscribe calls handle with each payload on the device's topic until stop
// is called or ctx ends; the subscription is made now if the broker is
// connected, and on every later connection. One handler per topic.
func (g Signaling) Subscribe(ctx context.Context, topic string, handle func([]byte)) (stop func(), err error) {
	full, err := g.s.topic(topic)
	if err != nil {
		return nil, err
	}
	sub := &sigSub{handle: handle}
	g.s.mu.Lock()
	if _, ok := g.s.subs[full]; ok {
		g.s.mu.Unlock()
		return nil, fmt.Errorf("mqtt: subscribe %s: already subscribed", topic)
	}
	g.s.subs[full] = sub
	cl := g.s.cl
	g.s.mu.Unlock()
	if cl != nil {
		if err := wait(ctx, cl.Subscribe(full, 0, sub.onMessage)); err != nil {
			g.s.mu.Lock()
			delete(g.s.subs, full)
			g.s.mu.Unlock()
			return nil, fmt.Errorf("mqtt: subscribe %s: %w", topic, err)
		}
	}
	var once sync.Once
	done := make(chan struct{})
	stop = func() {
		once.Do(func() {
			close(done)
			g.s.mu.Lock()
			if g.s.subs[full] == sub {
				delete(g.s.subs, full)
			}
			cl := g.s.cl
			g.s.mu.Unlock()
			if cl != nil {
				cl.Unsubscribe(full) // not waited for: the router drops the route at once
			}
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	return stop, nil
}
