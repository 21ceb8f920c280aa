package livetest

import (
	"context"
	"slices"
	"sync"

	"github.com/camagent/camagent/uplink/live"
)

// Bus is an in-process publish/subscribe bus keyed by device ID and topic.
// Delivery is synchronous: Publish calls every current subscriber's handler
// before it returns (handlers must not block, as Transport requires).
type Bus struct {
	mu   sync.Mutex
	subs map[string][]*sub // "device/topic" -> subscribers
	// Tap, when set, sees (and may replace) every payload before delivery;
	// tests use it to tamper with messages in flight.
	Tap func(device, topic string, payload []byte) []byte
}

type sub struct{ handle func([]byte) }

// For returns the Transport of one device's topics.
func (b *Bus) For(deviceID string) live.Transport { return busTransport{b: b, device: deviceID} }

type busTransport struct {
	b      *Bus
	device string
}

func (t busTransport) Publish(ctx context.Context, topic string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b := t.b
	b.mu.Lock()
	tap := b.Tap
	subs := slices.Clone(b.subs[t.device+"/"+topic])
	b.mu.Unlock()
	if tap != nil {
		payload = tap(t.device, topic, payload)
	}
	for _, s := range subs {
		s.handle(payload)
	}
	return nil
}

func (t busTransport) Subscribe(ctx context.Context, topic string, handle func([]byte)) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := t.b
	key := t.device + "/" + topic
	s := &sub{handle: handle}
	b.mu.Lock()
	if b.subs == nil {
		b.subs = map[string][]*sub{}
	}
	b.subs[key] = append(b.subs[key], s)
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		b.subs[key] = slices.DeleteFunc(b.subs[key], func(x *sub) bool { return x == s })
		b.mu.Unlock()
	}, nil
}
