package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/upload"
)

// runMQTT is the "mqtt" part: with [mqtt] broker set it runs the signed
// event/command client (package uplink/mqtt) with the device key and
// certificate; without, it waits.
func (d *Daemon) runMQTT(ctx context.Context) error {
	cfg, _ := d.config()
	m := cfg.MQTT
	if m.Broker == "" {
		<-ctx.Done()
		return nil
	}
	id, err := d.identity()
	if err != nil {
		return err
	}
	caPEM, err := atomicfile.ReadFileMax(m.CA, maxCAFile)
	if err != nil {
		return fmt.Errorf("mqtt: broker CA: %w", err)
	}
	tlsCfg, err := upload.TLSConfig(id.key, identity.CertPath(cfg.Identity.Key), caPEM, m.ServerName)
	if err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	if err := os.MkdirAll(m.Store, 0o700); err != nil {
		return fmt.Errorf("mqtt: %w", err)
	}
	c, err := mqtt.New(mqtt.Config{
		Broker: m.Broker, TLS: tlsCfg, Signer: id.key, BootID: d.bootID, StoreDir: m.Store,
		QueueSize: m.QueueSize, KeepAlive: m.KeepAlive.Duration, StartDelay: m.StartDelay.Duration,
		StateInterval: m.StateInterval.Duration, State: d.mqttState,
		ClockTrusted: d.clockTrusted,
		Owner:        id.Owner,
		Keys:         func() (command.Keys, error) { return d.commandKeys(id.id) },
		Handler:      mqttHandler{d},
		InstallBinding: func(signed []byte) (string, error) {
			return d.installBinding(id, signed)
		},
		Now:    d.deps.Now,
		Logger: d.log.With("part", "mqtt"),
	})
	if err != nil {
		return err
	}
	d.setMQ(c)
	defer d.setMQ(nil)
	// The card's state as the storage part last saw it (its changes from
	// now on are published as they happen).
	d.mu.Lock()
	h := d.health
	d.mu.Unlock()
	if h.State != "" {
		c.Publish(sdMessage(h))
	}
	return c.Run(ctx)
}

// publish hands e to the MQTT client and to the Home Assistant publisher;
// without them (MQTT off or not yet connected to its store) the event is
// only in the log.
func (d *Daemon) publish(e event.Event) {
	if c := d.mq.Load(); c != nil {
		c.Publish(e)
	}
	d.publishLocal(e)
}

// mqttState is the periodic state: uptime, SD space, capture rate, upload
// backlog.
func (d *Daemon) mqttState() event.Event {
	d.mu.Lock()
	h := d.health
	d.mu.Unlock()
	e := event.Event{Kind: event.KindState, Uptime: d.deps.Now().Sub(d.started), SDFree: h.FreeBytes,
		SDTotal: h.TotalBytes, FPS: d.capture.Stats().FPS}
	if up := d.uploader.Load(); up != nil {
		e.Backlog = uint64(up.Status().Queued)
	}
	return e
}

// commandKeys are the keys commands are checked against: every owner key
// the verified owner binding names (read again at each command, so a newly
// installed binding counts at once and a key it drops stops working) (none while unpaired) and the vendor's service
// key (none when the board has no vendor.pub), read at each command.
func (d *Daemon) commandKeys(deviceID string) (command.Keys, error) {
	var keys command.Keys
	var errs []error
	if vk, err := identity.ReadPublicKeyFile(DefaultVendorKeyPath, "vendor key"); err == nil {
		keys.Vendor = vk
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	b, err := d.ownerBinding(deviceID)
	if errors.Is(err, identity.ErrNotPaired) {
		return keys, errors.Join(errs...)
	}
	if err != nil {
		return keys, errors.Join(append(errs, err)...)
	}
	for _, der := range b.OwnerKeys() {
		k, err := identity.ParsePublicKey(der)
		if err != nil { // a verified binding holds only valid keys
			return command.Keys{Vendor: keys.Vendor}, errors.Join(append(errs, err)...)
		}
		keys.Owners = append(keys.Owners, k)
	}
	keys.OwnerAccount = b.OwnerAccount
	return keys, errors.Join(errs...)
}

// ownerBinding is the owner binding beside the device key, verified with
// the cloud's pairing key; an error wrapping identity.ErrNotPaired when
// there is none.
func (d *Daemon) ownerBinding(deviceID string) (identity.OwnerBinding, error) {
	cfg, _ := d.config()
	path := identity.BindingPath(cfg.Identity.Key)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return identity.OwnerBinding{}, fmt.Errorf("%w (no owner binding at %s)", identity.ErrNotPaired, path)
	}
	pairing, err := identity.ReadPublicKeyFile(cfg.Identity.CloudKey, "cloud pairing key (identity.cloud_key)")
	if err != nil {
		return identity.OwnerBinding{}, fmt.Errorf("owner binding cannot be verified: %w", err)
	}
	return identity.LoadOwnerBinding(path, pairing, deviceID)
}

// installBinding installs an owner binding the cloud sent over MQTT (see
// identity.InstallOwnerBinding: pinned pairing key, this device, a strictly
// later issue time than the held one), beside the device key on the flash.
// Commands and live view read the binding at each use, so it counts at
// once. The MQTT client's one worker is the only caller.
func (d *Daemon) installBinding(id *deviceIdentity, signed []byte) (string, error) {
	cfg, _ := d.config()
	pairing, err := identity.ReadPublicKeyFile(cfg.Identity.CloudKey, "cloud pairing key (identity.cloud_key)")
	if err != nil {
		return "", fmt.Errorf("owner binding cannot be verified: %w", err)
	}
	path := identity.BindingPath(cfg.Identity.Key)
	b, held, installed, err := identity.InstallOwnerBinding(path, signed, pairing, id.id)
	if err != nil {
		return "", err
	}
	keys := make([]string, 0, len(b.OwnerKeys()))
	for _, der := range b.OwnerKeys() {
		if k, err := identity.ParsePublicKey(der); err == nil {
			keys = append(keys, identity.Fingerprint(k))
		}
	}
	what := fmt.Sprintf("account %s, owner keys %s, issued %s", b.OwnerAccount, strings.Join(keys, " "),
		b.Issued.Format(time.RFC3339Nano))
	if !installed {
		return "already held: " + what, nil
	}
	d.log.Info("owner binding installed", "path", path, "account", b.OwnerAccount, "owner_keys", keys,
		"issued", b.Issued, "replaces_issued", held.Issued)
	switch was := id.setOwner(b.OwnerAccount, time.Now()); {
	case was == "":
		d.log.Info("paired", "owner", b.OwnerAccount)
	case was != b.OwnerAccount:
		// Items signed before keep the account they name (the cloud refuses
		// to file them under the new one: owner-mismatch); a clip being
		// recorded names the owner of its first frame.
		d.log.Warn("the owner account changed: clips begun, snapshots and events made from now on name the new one",
			"was", was, "now", b.OwnerAccount)
	}
	return "installed: " + what, nil
}

// setMQ publishes the running MQTT client (nil: none) to the parts that
// wait for it (live view).
func (d *Daemon) setMQ(c *mqtt.Client) {
	d.mq.Store(c)
	d.mqMu.Lock()
	close(d.mqCh)
	d.mqCh = make(chan struct{})
	d.mqMu.Unlock()
}

// mqChanged returns a channel closed at the next setMQ.
func (d *Daemon) mqChanged() <-chan struct{} {
	d.mqMu.Lock()
	defer d.mqMu.Unlock()
	return d.mqCh
}

// mqttHandler carries out verified commands.
type mqttHandler struct{ d *Daemon }

// ApplyConfigPatch lays the patch over the config file as it is on disk
// (not the running config, so environment overrides stay out of the file),
// and writes the result atomically; the config watcher then hot-reloads it
// like any edit.
func (h mqttHandler) ApplyConfigPatch(_ context.Context, patch string) error {
	_, src := h.d.config()
	if src.Path == "" {
		return errors.New("config-patch: the agent runs without a config file")
	}
	path := src.Path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config-patch: %w", err)
	}
	data, err := atomicfile.ReadFileMax(path, config.MaxFileSize)
	if err != nil {
		return fmt.Errorf("config-patch: %w", err)
	}
	onDisk, err := config.Parse(data)
	if err != nil {
		return fmt.Errorf("config-patch: the file on disk is invalid now: %s", config.OneLine(err))
	}
	next, err := config.Patch(onDisk, []byte(patch))
	if err != nil {
		return fmt.Errorf("config-patch refused: %s", config.OneLine(err))
	}
	out, err := config.Marshal(next)
	if err != nil {
		return fmt.Errorf("config-patch: %w", err)
	}
	if err := atomicfile.WriteFile(path, out, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("config-patch: %w", err)
	}
	h.d.log.Info("config patched by a signed command", "path", path, "changed", config.Changed(onDisk, next))
	return nil
}

// Snapshot saves the next frame as a JPEG on the card (as the shell's
// snapshot does), signs it with the device's next manifest and wakes the
// snapshots part, which uploads it; Home Assistant gets it too.
func (h mqttHandler) Snapshot(ctx context.Context) (string, error) {
	r, _, err := h.d.shell().snapshot(ctx)
	if err != nil {
		return "", err
	}
	h.d.snapshotLocal(r.Path)
	m, err := h.d.signSnapshot(r.Path, r.Time)
	if err != nil {
		return "", fmt.Errorf("snapshot %s saved but not signed: %w", r.Path, err)
	}
	h.d.snapKick.kick()
	where := "uploading"
	if cfg, _ := h.d.config(); cfg.Upload.URL == "" {
		where = "not uploaded: [upload] url is not set"
	}
	return fmt.Sprintf("%s signed (manifest #%d), %s", r.Path, m.Seq, where), nil
}

// UploadNow wakes the uploader to rescan and send the backlog.
func (h mqttHandler) UploadNow(context.Context) error {
	up := h.d.uploader.Load()
	if up == nil {
		return errors.New("upload-now: uploads are off ([upload] url) or the uploader is not running")
	}
	up.UploadNow()
	return nil
}

// mqttEventsRoute serves GET control.PathMQTTEvents: the messages this run
// queued or published, rendered.
func (d *Daemon) mqttEventsRoute() control.Route {
	return control.Route{Method: http.MethodGet, Path: control.PathMQTTEvents, Handler: http.HandlerFunc(
		func(w http.ResponseWriter, _ *http.Request) {
			c := d.mq.Load()
			if c == nil {
				control.WriteError(w, http.StatusConflict, "events: MQTT is off ([mqtt] broker) or not running")
				return
			}
			out := control.MQTTEventsResponse{Lines: []string{}}
			for _, m := range c.Recent() {
				out.Lines = append(out.Lines, event.Render(m))
			}
			control.WriteJSON(w, http.StatusOK, out)
		})}
}
