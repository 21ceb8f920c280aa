//go:build nohass

package daemon

import (
	"context"

	"github.com/camagent/camagent/uplink/event"
)

// localPublisher is empty: this build has no Home Assistant publisher. It
// was built with the nohass tag, which leaves package
// uplink/mqtt/homeassistant out of the binary for small boards.
type localPublisher struct{}

// runLocal is the "mqtt-local" part of a build without Home Assistant:
// with [mqtt.local] broker set it says once that it is not built in, then
// waits.
func (d *Daemon) runLocal(ctx context.Context) error {
	cfg, _ := d.config()
	if cfg.MQTT.Local.Broker != "" {
		d.log.With("part", "mqtt-local").Warn("[mqtt.local] is set in the config but Home Assistant is not built in (built with -tags nohass)")
	}
	<-ctx.Done()
	return nil
}

// publishLocal drops e: there is no Home Assistant publisher.
func (d *Daemon) publishLocal(event.Event) {}

// snapshotLocal does nothing: there is no Home Assistant publisher.
func (d *Daemon) snapshotLocal(string) {}
