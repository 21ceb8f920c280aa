package homeassistant

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/camagent/camagent/uplink/event"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// MaxSnapshot bounds the snapshot kept and published.
const MaxSnapshot = 1 << 20

// Config configures the local publisher.
type Config struct {
	// Broker is the LAN broker: tcp://HOST:1883 or tls://HOST:8883.
	Broker string
	// Username and Password log in to it ("" : anonymous). TLS, when set,
	// is used for tls:// brokers.
	Username, Password string
	TLS                *tls.Config
	// DeviceID names the camera (the entities' unique IDs); Name is what
	// Home Assistant shows (default the device ID).
	DeviceID, Name string
	// Prefix is Home Assistant's discovery prefix (default "homeassistant").
	Prefix string
	// BackoffMax caps the wait between connect attempts (default 1 min).
	BackoffMax time.Duration
	Logger     *slog.Logger
}

// Local publishes to the LAN broker.
type Local struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	motion   bool
	state    map[string]any
	snapshot []byte
	dirty    chan struct{}
}

// New checks cfg and fills in defaults.
func New(cfg Config) (*Local, error) {
	if cfg.Broker == "" || cfg.DeviceID == "" {
		return nil, errors.New("homeassistant: Broker and DeviceID are required")
	}
	if cfg.Name == "" {
		cfg.Name = cfg.DeviceID
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "homeassistant"
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Local{cfg: cfg, log: cfg.Logger, dirty: make(chan struct{}, 1)}, nil
}

func (l *Local) base() string { return "camagent/local/" + l.cfg.DeviceID + "/" }

// Publish takes the events Home Assistant shows (motion start and end, the
// periodic state); the others are ignored. It never blocks.
func (l *Local) Publish(e event.Event) {
	l.mu.Lock()
	switch e.Kind {
	case event.KindMotionStart:
		l.motion = true
	case event.KindMotionEnd:
		l.motion = false
	case event.KindState:
		l.state = map[string]any{"sd_free_mb": e.SDFree >> 20, "upload_backlog": e.Backlog,
			"uptime_s": int64(e.Uptime / time.Second), "fps": e.FPS}
	default:
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.kick()
}

// PublishSnapshot sets the last snapshot (a JPEG); larger than MaxSnapshot
// is refused.
func (l *Local) PublishSnapshot(jpeg []byte) error {
	if len(jpeg) > MaxSnapshot {
		return fmt.Errorf("homeassistant: snapshot of %d bytes is over %d", len(jpeg), MaxSnapshot)
	}
	l.mu.Lock()
	l.snapshot = append(l.snapshot[:0], jpeg...)
	l.mu.Unlock()
	l.kick()
	return nil
}

func (l *Local) kick() {
	select {
	case l.dirty <- struct{}{}:
	default:
	}
}

// Run keeps the connection until ctx ends.
func (l *Local) Run(ctx context.Context) error {
	delay := time.Duration(0)
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		connected, err := l.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			delay = 0
		}
		ceil := min(max(2*delay, time.Second), l.cfg.BackoffMax)
		delay = time.Duration(rand.Int64N(int64(ceil)) + 1)
		l.log.Warn("homeassistant: local broker", "err", err, "retry_in", delay.Round(time.Millisecond))
	}
}

func (l *Local) session(ctx context.Context) (bool, error) {
	lost := make(chan error, 1)
	avail := l.base() + "availability"
	opts := paho.NewClientOptions().AddBroker(l.cfg.Broker).SetClientID("camagent-local-"+l.cfg.DeviceID).
		SetUsername(l.cfg.Username).SetPassword(l.cfg.Password).SetTLSConfig(l.cfg.TLS).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetKeepAlive(60*time.Second).SetConnectTimeout(10*time.Second).
		SetWill(avail, "offline", 1, true).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	cl := paho.NewClient(opts)
	if err := wait(ctx, cl.Connect()); err != nil {
		cl.Disconnect(0)
		return false, fmt.Errorf("homeassistant: connect %s: %w", l.cfg.Broker, err)
	}
	defer cl.Disconnect(250)
	for topic, cfg := range l.discovery() {
		b, _ := json.Marshal(cfg)
		if err := wait(ctx, cl.Publish(topic, 1, true, b)); err != nil {
			return true, fmt.Errorf("homeassistant: discovery: %w", err)
		}
	}
	if err := wait(ctx, cl.Publish(avail, 1, true, "online")); err != nil {
		return true, err
	}
	l.log.Info("homeassistant: connected to the local broker", "broker", l.cfg.Broker)
	err := l.loop(ctx, cl, lost)
	if ctx.Err() != nil { // a clean stop: say so rather than leave it to the will
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		if err := wait(sctx, cl.Publish(avail, 1, true, "offline")); err != nil {
			l.log.Warn("homeassistant: could not publish offline", "err", err)
		}
		cancel()
		return true, nil
	}
	return true, err
}

// loop publishes the values whenever they change, until ctx ends or the
// connection is lost.
func (l *Local) loop(ctx context.Context, cl paho.Client, lost <-chan error) error {
	for {
		if err := l.publishValues(ctx, cl); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-lost:
			return err
		case <-l.dirty:
		}
	}
}

func (l *Local) publishValues(ctx context.Context, cl paho.Client) error {
	l.mu.Lock()
	motion := "OFF"
	if l.motion {
		motion = "ON"
	}
	var state []byte
	if l.state != nil {
		state, _ = json.Marshal(l.state)
	}
	snap := append([]byte(nil), l.snapshot...)
	l.mu.Unlock()
	if err := wait(ctx, cl.Publish(l.base()+"motion", 1, true, motion)); err != nil {
		return err
	}
	if state != nil {
		if err := wait(ctx, cl.Publish(l.base()+"state", 1, true, state)); err != nil {
			return err
		}
	}
	if len(snap) > 0 {
		if err := wait(ctx, cl.Publish(l.base()+"snapshot", 1, true, snap)); err != nil {
			return err
		}
	}
	return nil
}

// discovery returns the discovery messages by topic.
func (l *Local) discovery() map[string]map[string]any {
	id, p := l.cfg.DeviceID, l.cfg.Prefix
	dev := map[string]any{"identifiers": []string{id}, "name": l.cfg.Name, "manufacturer": "camagent", "model": "camagent"}
	common := func(name, uid string) map[string]any {
		return map[string]any{"name": name, "unique_id": id + "_" + uid, "device": dev,
			"availability_topic": l.base() + "availability"}
	}
	motion := common("Motion", "motion")
	motion["state_topic"], motion["device_class"], motion["payload_on"], motion["payload_off"] =
		l.base()+"motion", "motion", "ON", "OFF"
	free := common("SD free", "sd_free")
	free["state_topic"], free["value_template"], free["unit_of_measurement"], free["device_class"] =
		l.base()+"state", "{{ value_json.sd_free_mb }}", "MiB", "data_size"
	backlog := common("Upload backlog", "upload_backlog")
	backlog["state_topic"], backlog["value_template"], backlog["unit_of_measurement"] =
		l.base()+"state", "{{ value_json.upload_backlog }}", "clips"
	snap := common("Snapshot", "snapshot")
	snap["image_topic"], snap["content_type"] = l.base()+"snapshot", "image/jpeg"
	return map[string]map[string]any{
		p + "/binary_sensor/" + id + "/motion/config":  motion,
		p + "/sensor/" + id + "/sd_free/config":        free,
		p + "/sensor/" + id + "/upload_backlog/config": backlog,
		p + "/image/" + id + "/snapshot/config":        snap,
	}
}

func wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
