package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt/homeassistant"
)

// maxPasswordFile bounds [mqtt.local] password_file.
const maxPasswordFile = 4 << 10

// defaultLocalState is how often the Home Assistant publisher gets the
// state when [mqtt] state_interval is "0s" (the cloud's state is off, but
// Home Assistant's SD free and backlog sensors still want values).
const defaultLocalState = 5 * time.Minute

// runLocal is the "mqtt-local" part: with [mqtt.local] broker set it runs
// the Home Assistant publisher (package uplink/mqtt/homeassistant) beside
// the cloud's channel; without, it waits. It gets the events the daemon
// publishes (d.publish), the state every [mqtt] state_interval, and the
// snapshots signed commands take. It subscribes to nothing: no command
// reaches the camera through the LAN broker.
func (d *Daemon) runLocal(ctx context.Context) error {
	cfg, _ := d.config()
	l := cfg.MQTT.Local
	if l.Broker == "" {
		<-ctx.Done()
		return nil
	}
	id, err := d.identity()
	if err != nil {
		return err
	}
	hc := homeassistant.Config{Broker: l.Broker, Username: l.Username, DeviceID: id.id, Name: l.Name,
		Prefix: l.Prefix, Logger: d.log.With("part", "mqtt-local")}
	if l.PasswordFile != "" {
		b, err := atomicfile.ReadFileMax(l.PasswordFile, maxPasswordFile)
		if err != nil {
			return fmt.Errorf("mqtt-local: password_file: %w", err)
		}
		hc.Password = string(bytes.TrimRight(b, "\r\n"))
	}
	if l.CA != "" {
		caPEM, err := atomicfile.ReadFileMax(l.CA, maxCAFile)
		if err != nil {
			return fmt.Errorf("mqtt-local: ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return fmt.Errorf("mqtt-local: ca: %s holds no PEM certificate", l.CA)
		}
		hc.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	loc, err := homeassistant.New(hc)
	if err != nil {
		return fmt.Errorf("mqtt-local: %w", err)
	}
	every := cfg.MQTT.StateInterval.Duration
	if every <= 0 {
		every = defaultLocalState
	}
	loc.Publish(d.mqttState())
	d.ha.Store(loc)
	defer d.ha.Store(nil)

	done := make(chan error, 1)
	go func() { done <- loc.Run(ctx) }() // owned here: waited for below
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if ctx.Err() == nil && err == nil {
				err = errors.New("mqtt-local: the publisher stopped")
			}
			return err
		case <-t.C:
			loc.Publish(d.mqttState())
		}
	}
}

// publishLocal hands e to the Home Assistant publisher when it runs.
func (d *Daemon) publishLocal(e event.Event) {
	if l := d.ha.Load(); l != nil {
		l.Publish(e)
	}
}

// snapshotLocal hands a snapshot (JPEG) to the Home Assistant publisher
// when it runs.
func (d *Daemon) snapshotLocal(jpeg []byte) {
	if l := d.ha.Load(); l != nil {
		if err := l.PublishSnapshot(jpeg); err != nil {
			d.log.Warn("mqtt-local: snapshot not published", "err", err)
		}
	}
}
