//go:build !nolive

package daemon

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/live"
	"github.com/camagent/camagent/uplink/mqtt"
)

// maxCredentialFile bounds live.turn_credential_file.
const maxCredentialFile = 4 << 10

// liveBuiltIn says that this build has live view (built without the
// nolive tag).
const liveBuiltIn = true

// liveView is the live server while it serves.
type liveView struct {
	srv atomic.Pointer[live.Server] // nil while live view is not serving
}

// liveStatus is live view's part of the status report; nil while it does
// not serve.
func (d *Daemon) liveStatus() *control.LiveStatus {
	srv := d.live.srv.Load()
	if srv == nil {
		return nil
	}
	ls := srv.Status()
	out := &control.LiveStatus{Viewers: ls.Viewers, MaxViewers: ls.MaxViewers, Accepted: ls.Accepted,
		Refused: ls.Refused, Dropped: ls.Dropped, LastRefusal: ls.LastRefusal,
		Sessions: make([]control.LiveSessionStatus, 0, len(ls.Sessions))}
	for _, s := range ls.Sessions {
		out.Sessions = append(out.Sessions, control.LiveSessionStatus{ID: s.ID, Media: s.Media, State: s.State,
			Started: s.Started, Sent: s.Sent, Skipped: s.Skipped, Bytes: s.Bytes})
	}
	return out
}

// runLive is the "live" part: with [live] enabled and MQTT configured it
// answers the owner's signed live-view offers (package uplink/live), with
// the MQTT client's signaling as the transport. When the mqtt part restarts
// its client, the server starts over on the new one.
func (d *Daemon) runLive(ctx context.Context) error {
	cfg, _ := d.config()
	if !cfg.Live.Enabled || cfg.MQTT.Broker == "" {
		<-ctx.Done()
		return nil
	}
	id, err := d.identity()
	if err != nil {
		return err
	}
	ice, err := iceServers(cfg.Live.ICEServers, cfg.Live.TURNUsername, cfg.Live.TURNCredentialFile)
	if err != nil {
		return err
	}
	for {
		changed := d.mqChanged()
		c := d.mq.Load()
		if c == nil {
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
				continue
			}
		}
		if err := d.serveLive(ctx, c, changed, id, ice); err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// serveLive runs a live server on client c until ctx ends or the MQTT
// client changes.
func (d *Daemon) serveLive(ctx context.Context, c *mqtt.Client, changed <-chan struct{}, id *deviceIdentity, ice []live.ICEServer) error {
	cfg, _ := d.config()
	l := cfg.Live
	viewers := d.memoryPlan(cfg).Viewers
	if viewers == 0 {
		d.log.With("part", "live").Warn("live view off: the memory budget leaves no room for a viewer", "max_viewers", l.MaxViewers)
		select {
		case <-ctx.Done():
		case <-changed:
		}
		return nil
	}
	srv, err := live.NewServer(live.Config{
		DeviceID: id.id, Signer: id.key,
		Owner:  func() (identity.OwnerBinding, error) { return d.ownerBinding(id.id) },
		Hub:    d.hub,
		Format: func() capture.Format { return d.capture.Stats().Format },
		// Transport is the MQTT client's signaling on the device's own
		// topics; offers and answers are verified by signature alone.
		Transport:  c.Signaling(),
		MaxViewers: viewers, IdleTimeout: l.IdleTimeout.Duration, MaxSession: l.MaxSession.Duration,
		FPS: l.FPS, Quality: l.JPEGQuality, OfferMaxLife: l.OfferMaxLife.Duration,
		ICEServers: ice,
		Logger:     d.log.With("part", "live"),
		Now:        d.deps.Now,
	})
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-sctx.Done():
		}
	}()
	d.live.srv.Store(srv)
	defer d.live.srv.Store(nil)
	return srv.Run(sctx)
}

// iceServers maps live.ice_servers onto live's ICE servers; turn: and
// turns: ones get the TURN user and the credential read from its file.
func iceServers(urls []string, user, credFile string) ([]live.ICEServer, error) {
	var cred string
	out := make([]live.ICEServer, 0, len(urls))
	for _, u := range urls {
		s := live.ICEServer{URLs: []string{u}}
		if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
			if cred == "" && credFile != "" {
				b, err := atomicfile.ReadFileMax(credFile, maxCredentialFile)
				if err != nil {
					return nil, fmt.Errorf("live: TURN credential: %w", err)
				}
				cred = strings.TrimSpace(string(b))
			}
			if user == "" || cred == "" {
				return nil, errors.New("live: " + u + " needs live.turn_username and live.turn_credential_file")
			}
			s.Username, s.Credential = user, cred
		}
		out = append(out, s)
	}
	return out, nil
}
