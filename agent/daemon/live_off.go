//go:build nolive

package daemon

import (
	"context"

	"github.com/camagent/camagent/agent/control"
)

// liveBuiltIn says that this build has no live view: it was built with the
// nolive tag, which leaves package uplink/live and pion/webrtc out of the
// binary for small boards.
const liveBuiltIn = false

// liveView is empty: there is no live server.
type liveView struct{}

// liveStatus is nil: live view never serves.
func (d *Daemon) liveStatus() *control.LiveStatus { return nil }

// runLive is the "live" part of a build without live view: with [live]
// enabled it says once that live view is not built in, then waits.
func (d *Daemon) runLive(ctx context.Context) error {
	cfg, _ := d.config()
	if cfg.Live.Enabled {
		d.log.With("part", "live").Warn("live view is enabled in the config but not built in (built with -tags nolive)")
	}
	<-ctx.Done()
	return nil
}
