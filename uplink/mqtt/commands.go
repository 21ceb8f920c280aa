package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/event"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// onMessage runs on paho's router: it only copies the payload into the
// bounded command queue.
func (c *Client) onMessage(_ paho.Client, m paho.Message) {
	if m.Topic() == c.topics.Binding && c.cfg.InstallBinding != nil {
		c.onBinding(m.Payload())
		return
	}
	if m.Topic() != c.topics.Command {
		return
	}
	p := m.Payload()
	if len(p) > command.MaxSize {
		c.refused("too-large", fmt.Errorf("%w: %d bytes", command.ErrTooLarge, len(p)), command.Command{})
		return
	}
	select {
	case c.cmdCh <- bytes.Clone(p):
	default:
		n := c.commandsDropped.Add(1)
		c.log.Warn("mqtt: command queue full, command dropped", "dropped", n)
	}
}

// worker checks and carries out commands one at a time.
func (c *Client) worker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-c.cmdCh:
			c.handle(ctx, b)
		case b := <-c.bindCh:
			c.installBinding(b)
		}
	}
}

// reasonCode names a refusal for the counters.
func reasonCode(err error) string {
	for _, e := range []struct {
		err  error
		code string
	}{
		{command.ErrTooLarge, "too-large"}, {command.ErrMalformed, "malformed"},
		{command.ErrNotPermitted, "not-permitted"}, {command.ErrUnsigned, "unsigned"},
		{command.ErrMisaddressed, "misaddressed"}, {command.ErrExpired, "expired"},
		{command.ErrNotYetValid, "not-yet-valid"}, {command.ErrReplay, "replay"},
		{command.ErrReplayFull, "replay-full"},
	} {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return "failed"
}

func (c *Client) refused(code string, err error, cmd command.Command) {
	c.mu.Lock()
	c.st.CommandsRefused++
	c.st.RefusalsByReason[code]++
	c.mu.Unlock()
	c.log.Warn("mqtt: command refused", "reason", code, "op", cmd.Op, "nonce", fmt.Sprintf("%x", cmd.Nonce), "err", err)
}

// handle checks one command and runs it.
func (c *Client) handle(ctx context.Context, b []byte) {
	var keys command.Keys
	if c.cfg.Keys != nil {
		k, err := c.cfg.Keys()
		if err != nil {
			c.log.Warn("mqtt: command keys", "err", err)
		}
		keys = k
	}
	cmd, who, err := c.checker.Check(b, keys, c.cfg.Now())
	if err != nil {
		code := reasonCode(err)
		c.refused(code, err, cmd)
		// Answer only what the owner or vendor signed for this device and
		// is not a replay: nobody else can make the camera publish.
		if who != "" && code != "replay" && code != "misaddressed" {
			c.result(ctx, cmd, event.ResultRefused, err.Error(), nil)
		}
		return
	}
	c.log.Info("mqtt: command accepted", "op", cmd.Op, "signer", who, "nonce", fmt.Sprintf("%x", cmd.Nonce))
	detail, challenge, err := c.run(ctx, cmd)
	switch {
	case err != nil:
		c.refused("failed", err, cmd)
		c.result(ctx, cmd, event.ResultRefused, err.Error(), nil)
	case challenge != nil:
		c.result(ctx, cmd, event.ResultConfirm, detail, challenge)
	default:
		c.mu.Lock()
		c.st.CommandsObeyed++
		c.mu.Unlock()
		c.result(ctx, cmd, event.ResultDone, detail, nil)
	}
}

// run carries out a checked command.
func (c *Client) run(ctx context.Context, cmd command.Command) (detail string, challenge []byte, err error) {
	h := c.cfg.Handler
	if h == nil {
		return "", nil, errors.New("this device carries out no commands")
	}
	switch cmd.Op {
	case command.OpConfigPatch:
		return "", nil, h.ApplyConfigPatch(ctx, cmd.Patch)
	case command.OpSnapshot:
		d, err := h.Snapshot(ctx)
		return d, nil, err
	case command.OpUploadNow:
		return "", nil, h.UploadNow(ctx)
	case command.OpReboot:
		return "rebooting", nil, h.Reboot(ctx)
	case command.OpFormatSD:
		ch := make([]byte, 16)
		if _, err := rand.Read(ch); err != nil {
			return "", nil, err
		}
		c.mu.Lock()
		c.pending = &confirm{challenge: ch, expires: c.cfg.Now().Add(ConfirmWindow)}
		c.mu.Unlock()
		return fmt.Sprintf("send format-sd-confirm with this challenge within %s", ConfirmWindow), ch, nil
	case command.OpFormatSDConfirm:
		c.mu.Lock()
		p := c.pending
		ok := p != nil && bytes.Equal(p.challenge, cmd.Confirm) && c.cfg.Now().Before(p.expires)
		if ok {
			c.pending = nil
		}
		c.mu.Unlock()
		if !ok {
			return "", nil, errors.New("no format-sd awaits this confirmation (expired, already used, or another challenge)")
		}
		return "formatted", nil, h.FormatSD(ctx)
	}
	return "", nil, fmt.Errorf("unknown op %q", cmd.Op)
}

// result publishes a command's result through the outbox. It waits for
// room in the memory queue (the worker is not paho's router).
func (c *Client) result(ctx context.Context, cmd command.Command, state, reason string, challenge []byte) {
	if len(reason) > event.MaxReason {
		reason = strings.ToValidUTF8(reason[:event.MaxReason], "")
	}
	e := event.Event{Kind: event.KindCommandResult, Time: c.cfg.Now(), State: state, Reason: reason,
		Nonce: cmd.Nonce, Op: string(cmd.Op), Challenge: challenge}
	if len(e.Nonce) > event.MaxNonce {
		e.Nonce = nil
	}
	select {
	case c.pubCh <- e:
	case <-ctx.Done():
		c.store(e)
	}
}

// onBinding queues an owner binding from the cloud (paho's router: copy
// only). The queue holds one: a newer message replaces a waiting one, as
// only the newest binding can be installed anyway.
func (c *Client) onBinding(p []byte) {
	if len(p) > envelope.MaxSize {
		c.bindingRefused(fmt.Errorf("%d bytes (at most %d)", len(p), envelope.MaxSize))
		return
	}
	b := bytes.Clone(p)
	for {
		select {
		case c.bindCh <- b:
			return
		default:
		}
		select {
		case <-c.bindCh: // drop the older waiting one
		default:
		}
	}
}

// installBinding hands a binding to Config.InstallBinding and logs the outcome.
func (c *Client) installBinding(b []byte) {
	detail, err := c.cfg.InstallBinding(b)
	if err != nil {
		c.bindingRefused(err)
		return
	}
	c.log.Info("mqtt: owner binding from the cloud", "result", detail, "topic", c.topics.Binding)
}

func (c *Client) bindingRefused(err error) {
	c.mu.Lock()
	c.st.BindingsRefused++
	c.mu.Unlock()
	c.log.Warn("mqtt: owner binding refused; the held one stays", "topic", c.topics.Binding, "err", err)
}
