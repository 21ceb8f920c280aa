package mqtt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/outbox"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// quiesce is how long a clean disconnect waits for work in flight (ms).
const quiesce = 250

// stopTimeout bounds publishing the offline state at a clean stop.
const stopTimeout = 2 * time.Second

// connectLoop connects, keeps the session until it is lost, and reconnects:
// a random delay up to StartDelay after start and after losing the broker,
// full-jitter exponential backoff after failed attempts.
func (c *Client) connectLoop(ctx context.Context) {
	delay := c.jitter(c.cfg.StartDelay)
	failures := 0
	for {
		if delay > 0 {
			c.log.Info("mqtt: waiting before connecting", "delay", delay.Round(time.Millisecond))
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		connected, err := c.session(ctx)
		if ctx.Err() != nil {
			return
		}
		c.setConnected(false)
		if err != nil {
			c.setError(err)
		}
		if connected {
			failures = 0
			c.log.Warn("mqtt: lost the broker", "err", err)
			delay = c.jitter(c.cfg.StartDelay)
			continue
		}
		failures++
		delay = c.backoff(failures)
		c.log.Warn("mqtt: connect failed", "err", err, "attempt", failures, "retry_in", delay.Round(time.Millisecond))
	}
}

// jitter returns a uniformly random duration in [0, d].
func (c *Client) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	if c.cfg.Jitter != nil {
		return max(0, min(d, c.cfg.Jitter(d)))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.rnd.Int64N(int64(d) + 1))
}

// backoff is full jitter: uniform in [0, min(max, min*2^(n-1))], but at
// least BackoffMin/2 so a refusing broker is not hammered.
func (c *Client) backoff(n int) time.Duration {
	ceil := c.cfg.BackoffMin
	for i := 1; i < n && ceil < c.cfg.BackoffMax; i++ {
		ceil *= 2
	}
	ceil = min(ceil, c.cfg.BackoffMax)
	return c.cfg.BackoffMin/2 + c.jitter(ceil-c.cfg.BackoffMin/2)
}

func (c *Client) setConnected(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.st.Connected = on
	if on {
		c.st.LastConnected = c.cfg.Now()
	}
}

// session makes one connection and runs it until it is lost or ctx ends.
func (c *Client) session(ctx context.Context) (connected bool, err error) {
	_, will, _, err := c.sign(event.Event{Kind: event.KindOffline, Reason: "connection lost"})
	if err != nil {
		return false, err
	}
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker(c.cfg.Broker).
		SetClientID(c.id).
		SetTLSConfig(c.cfg.TLS).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(c.cfg.KeepAlive).
		SetPingTimeout(min(c.cfg.KeepAlive, 10*time.Second)).
		SetConnectTimeout(c.cfg.ConnectTimeout).
		SetWriteTimeout(c.cfg.ConnectTimeout).
		SetBinaryWill(c.topics.State, will, 1, true).
		SetDefaultPublishHandler(c.onMessage).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	cl := paho.NewClient(opts)
	c.mu.Lock()
	c.st.ConnectAttempts++
	c.mu.Unlock()
	if err := wait(ctx, cl.Connect()); err != nil {
		cl.Disconnect(0)
		return false, fmt.Errorf("mqtt: connect %s: %w", c.cfg.Broker, err)
	}
	defer cl.Disconnect(quiesce)
	if err := waitLost(ctx, lost, cl.Subscribe(c.topics.Command, 1, c.onMessage)); err != nil {
		return true, fmt.Errorf("mqtt: subscribe %s: %w", c.topics.Command, err)
	}
	if c.cfg.InstallBinding != nil {
		if err := wait(ctx, cl.Subscribe(c.topics.Binding, 1, c.onMessage)); err != nil {
			return true, fmt.Errorf("mqtt: subscribe %s: %w", c.topics.Binding, err)
		}
	}
	c.sig.attach(ctx, cl)
	defer c.sig.detach()
	c.setConnected(true)
	c.log.Info("mqtt: connected", "broker", c.cfg.Broker, "device", c.id, "queued", c.out.Len())
	if err := c.publishNow(ctx, cl, lost, event.Event{Kind: event.KindOnline}); err != nil {
		return true, err
	}
	err = c.send(ctx, cl, lost)
	if ctx.Err() != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		if err := c.publishNow(sctx, cl, lost, event.Event{Kind: event.KindOffline, Reason: "stopped"}); err != nil {
			c.log.Warn("mqtt: could not publish the offline state", "err", err)
		}
		return true, nil
	}
	return true, err
}

// publishNow signs e and publishes it directly (retained on the state
// topic), without the outbox: online and offline are news only now.
func (c *Client) publishNow(ctx context.Context, cl paho.Client, lost <-chan error, e event.Event) error {
	_, b, m, err := c.sign(e)
	if err != nil {
		return err
	}
	if err := waitLost(ctx, lost, cl.Publish(c.topics.State, 1, true, b)); err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", e.Kind, err)
	}
	c.remember(m)
	return nil
}

type flight struct {
	seq uint64
	tok paho.Token
}

// send publishes the outbox in order, at most Window unacknowledged, and
// removes what the broker acknowledged.
func (c *Client) send(ctx context.Context, cl paho.Client, lost <-chan error) error {
	var inflight []flight
	var last uint64
	for {
		for len(inflight) < c.cfg.Window {
			m, ok, err := c.out.Next(last)
			if errors.Is(err, outbox.ErrCorrupt) {
				c.log.Error("mqtt: dropped a corrupt queued message", "err", err)
				continue
			}
			if err != nil || !ok {
				break
			}
			tok := cl.Publish(c.topics.forRoute(m.Route), 1, m.Route == routeState, m.Payload)
			inflight = append(inflight, flight{seq: m.Seq, tok: tok})
			last = m.Seq
		}
		var acked <-chan struct{}
		if len(inflight) > 0 {
			acked = inflight[0].tok.Done()
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-lost:
			return fmt.Errorf("mqtt: connection lost: %w", err)
		case <-c.out.Changed():
		case <-acked:
			f := inflight[0]
			if err := f.tok.Error(); err != nil {
				return fmt.Errorf("mqtt: publish %d: %w", f.seq, err)
			}
			if err := c.out.Remove(f.seq); err != nil {
				c.log.Error("mqtt: remove a delivered message", "err", err)
			}
			inflight = inflight[1:]
			c.mu.Lock()
			c.st.MessagesAcked++
			c.mu.Unlock()
		}
	}
}

// waitLost waits for a paho token, ctx, or the connection's loss. The loss
// must end the wait: with a persistent session (clean session off) paho
// keeps a QoS 1 token open across a lost connection, to complete it after
// a reconnect of its own that this client never makes, so a wait on the
// token alone hangs for good. That hung cameras in the reconnect storm:
// marked connected, their outbox never sent.
func waitLost(ctx context.Context, lost <-chan error, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case err := <-lost:
		return fmt.Errorf("mqtt: connection lost: %w", err)
	}
}

// wait waits for a paho token or ctx.
func wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
