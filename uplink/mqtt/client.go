package mqtt

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/outbox"
)

// Defaults for the zero values of Config.
const (
	DefaultKeepAlive      = 60 * time.Second
	DefaultConnectTimeout = 30 * time.Second
	DefaultBackoffMin     = time.Second
	DefaultBackoffMax     = 5 * time.Minute
	DefaultPublishQueue   = 256
	DefaultCommandQueue   = 16
	DefaultWindow         = 16
	DefaultRecent         = 64
	// ConfirmWindow is how long a format-sd challenge stays valid.
	ConfirmWindow = 2 * time.Minute
)

// Files in Config.StoreDir.
const (
	SeqFile    = "events.seq"   // the event sequence reservation (manifest.Sequencer)
	ReplayFile = "replay.cache" // the command replay cache
	OutboxDir  = "outbox"       // the outbox's messages
)

// ErrConfig: the configuration is not usable.
var ErrConfig = errors.New("mqtt: bad config")

// Handler is what the daemon implements to carry out commands. Each method
// runs on the command worker (never on paho's router) and should return
// promptly; a returned error is published as the refusal's reason.
type Handler interface {
	// ApplyConfigPatch validates patch (a TOML fragment: the keys to change)
	// exactly as the configuration file is validated, and applies it the
	// way a changed file is hot-reloaded. A refused patch changes nothing.
	ApplyConfigPatch(ctx context.Context, patch string) error
	// Snapshot takes a signed JPEG and queues it for upload like a clip's
	// thumbnail; the text returned (its name) goes into the result.
	Snapshot(ctx context.Context) (string, error)
	// UploadNow starts uploading the backlog without waiting.
	UploadNow(ctx context.Context) error
	// Reboot arranges a reboot shortly after it returns (so the result and
	// the offline state can still be published: stop the daemon cleanly).
	Reboot(ctx context.Context) error
	// FormatSD formats the SD card (the second, confirmed command).
	FormatSD(ctx context.Context) error
}

// Config configures a Client. Broker, TLS, Signer, BootID and StoreDir are
// required; New fills in the defaults of the rest.
type Config struct {
	// Broker is the broker's URL: tls://host:8883 (also ssl://, mqtts://).
	Broker string
	// TLS is the client TLS configuration with the device certificate
	// (upload.TLSConfig(key, certPath, caPEM, serverName)).
	TLS *tls.Config
	// Signer is the device key (the keystore's crypto.Signer).
	Signer crypto.Signer
	// BootID is the kernel's boot ID of this run.
	BootID string
	// StoreDir is a directory on persistent storage for the sequence state,
	// the replay cache and the outbox.
	StoreDir string
	// QueueSize bounds the outbox (default outbox.DefaultCapacity).
	QueueSize int
	// PublishQueue bounds the in-memory queue in front of the outbox.
	PublishQueue int
	// KeepAlive is the MQTT keep-alive; ConnectTimeout bounds a connect.
	KeepAlive, ConnectTimeout time.Duration
	// StartDelay is the longest random wait after start and after losing
	// the broker (0: none). BackoffMin and BackoffMax bound the full-jitter
	// exponential backoff between failed attempts.
	StartDelay, BackoffMin, BackoffMax time.Duration
	// Window is how many messages may await the broker's acknowledgement.
	Window int
	// Owner returns the owner account the device is paired to ("" while
	// unpaired); it is written into every message. Nil: always "".
	Owner func() string
	// Keys returns the keys commands are checked against, at each command
	// (the owner key from the verified owner binding, the vendor key). Nil:
	// every command is refused.
	Keys func() (command.Keys, error)
	// Handler carries out commands. Nil: every command is refused.
	Handler Handler
	// InstallBinding installs an owner binding the cloud sent on the
	// device's binding topic (Topics.Binding): it verifies it against the
	// pinned pairing key, this device and the held binding's issue time,
	// and returns what it did, or why it refused. Called on the command
	// worker, one at a time. Nil: the topic is not subscribed.
	InstallBinding func(signed []byte) (string, error)
	// StateInterval is how often State is published (0: never). State
	// returns the periodic state (its Kind is set to event.KindState).
	StateInterval time.Duration
	State         func() event.Event
	// ClockTrusted says whether the device clock is synchronised (nil: no).
	ClockTrusted func() bool
	// Jitter returns a random duration in [0, d] for the waits above
	// (default: uniform, from a generator seeded at random per client). The
	// reconnect-storm load program replaces it with one that returns d, to
	// show by numbers what a fleet without jitter does; nothing else should.
	Jitter func(d time.Duration) time.Duration
	// Now is the clock (default time.Now); Logger the log (default discard).
	Now    func() time.Time
	Logger *slog.Logger
}

// Status is what the client reports for `ctl status`.
type Status struct {
	Connected        bool
	Queued           int    // messages in the outbox
	Dropped          uint64 // outbox drops (full or corrupt), ever
	PublishDropped   uint64 // Publish calls dropped (memory queue full), this run
	CommandsObeyed   uint64
	CommandsRefused  uint64
	CommandsDropped  uint64 // command queue full
	BindingsRefused  uint64 // owner bindings from the cloud not installed
	LastError        string
	LastConnected    time.Time
	ConnectAttempts  uint64
	MessagesAcked    uint64
	RefusalsByReason map[string]uint64
}

// Client is the camera's MQTT client.
type Client struct {
	cfg     Config
	id      string
	topics  Topics
	log     *slog.Logger
	seq     *manifest.Sequencer
	out     *outbox.Outbox
	checker command.Checker

	pubCh  chan event.Event
	cmdCh  chan []byte
	bindCh chan []byte // owner bindings from the cloud, newest kept

	publishDropped  atomic.Uint64
	commandsDropped atomic.Uint64

	storeMu sync.Mutex // sign and append in one order

	mu      sync.Mutex
	st      Status
	recent  []event.Message // ring of what this run queued or published
	pending *confirm        // the format-sd awaiting confirmation
	rnd     *rand.Rand

	sig signaling // live-view signaling (Signaling)
}

type confirm struct {
	challenge []byte
	expires   time.Time
}

// New checks cfg, fills in defaults and opens the store.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.Broker == "":
		return nil, fmt.Errorf("%w: no broker URL", ErrConfig)
	case cfg.TLS == nil:
		return nil, fmt.Errorf("%w: no TLS configuration (the device certificate)", ErrConfig)
	case cfg.Signer == nil:
		return nil, fmt.Errorf("%w: no device key", ErrConfig)
	case cfg.BootID == "":
		return nil, fmt.Errorf("%w: no boot ID", ErrConfig)
	case cfg.StoreDir == "":
		return nil, fmt.Errorf("%w: no store directory", ErrConfig)
	}
	if err := checkBroker(cfg.Broker); err != nil {
		return nil, err
	}
	id, err := identity.DeviceID(cfg.Signer.Public())
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	setDefault(&cfg.KeepAlive, DefaultKeepAlive)
	setDefault(&cfg.ConnectTimeout, DefaultConnectTimeout)
	setDefault(&cfg.BackoffMin, DefaultBackoffMin)
	setDefault(&cfg.BackoffMax, DefaultBackoffMax)
	if cfg.StartDelay < 0 || cfg.BackoffMin < 0 || cfg.BackoffMax < cfg.BackoffMin {
		// A negative cap (an overflowed computation) made every retry wait
		// BackoffMin/2, whatever the failures: a hammered broker.
		return nil, fmt.Errorf("%w: want 0 <= backoff_min <= backoff_max and start_delay >= 0, got %v, %v and %v",
			ErrConfig, cfg.BackoffMin, cfg.BackoffMax, cfg.StartDelay)
	}
	setDefault(&cfg.PublishQueue, DefaultPublishQueue)
	setDefault(&cfg.Window, DefaultWindow)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	seq, err := manifest.OpenSequencer(filepath.Join(cfg.StoreDir, SeqFile), 0)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	replay, err := command.OpenReplayCache(filepath.Join(cfg.StoreDir, ReplayFile), 0)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	out, err := outbox.Open(filepath.Join(cfg.StoreDir, OutboxDir), cfg.QueueSize)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	c := &Client{
		cfg: cfg, id: id, topics: TopicsFor(id), log: cfg.Logger, seq: seq, out: out,
		checker: command.Checker{DeviceID: id, Replay: replay},
		pubCh:   make(chan event.Event, cfg.PublishQueue),
		cmdCh:   make(chan []byte, DefaultCommandQueue),
		bindCh:  make(chan []byte, 1),
		rnd:     newRand(),
	}
	c.st.RefusalsByReason = map[string]uint64{}
	c.sig = signaling{c: c, subs: map[string]*sigSub{}}
	return c, nil
}

// newRand is a client's own generator for its jitter, seeded at random, so
// that cameras started together do not draw the same waits.
func newRand() *rand.Rand { return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// DeviceID returns the device ID the client publishes as.
func (c *Client) DeviceID() string { return c.id }

// Topics returns the device's topics.
func (c *Client) Topics() Topics { return c.topics }

// Publish queues e without blocking; when the queue is full e is dropped
// and counted (Status.PublishDropped). A zero e.Time is set to now.
func (c *Client) Publish(e event.Event) {
	if e.Time.IsZero() {
		e.Time = c.cfg.Now()
	}
	select {
	case c.pubCh <- e:
	default:
		if n := c.publishDropped.Add(1); n&(n-1) == 0 { // log at 1, 2, 4, 8, ...
			c.log.Warn("mqtt: event queue full, event dropped", "kind", e.Kind, "dropped", n)
		}
	}
}

// Status returns a snapshot of the client's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	st := c.st
	st.RefusalsByReason = make(map[string]uint64, len(c.st.RefusalsByReason))
	for k, v := range c.st.RefusalsByReason {
		st.RefusalsByReason[k] = v
	}
	c.mu.Unlock()
	st.Queued = c.out.Len()
	st.Dropped = c.out.Dropped()
	st.PublishDropped = c.publishDropped.Load()
	st.CommandsDropped = c.commandsDropped.Load()
	return st
}

// Recent returns the last messages this run queued or published (oldest
// first), for
// `camagent ctl events` and the shell: render each with event.Render.
func (c *Client) Recent() []event.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Message(nil), c.recent...)
}

// Run connects and keeps the link until ctx ends. It returns nil after a
// clean stop (the offline state published when the broker is reachable).
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wctx, stopWorkers := context.WithCancel(ctx)
	wg.Add(2)
	go func() { defer wg.Done(); c.writer(wctx) }()
	go func() { defer wg.Done(); c.worker(wctx) }()
	if c.cfg.StateInterval > 0 && c.cfg.State != nil {
		wg.Add(1)
		go func() { defer wg.Done(); c.stateLoop(wctx) }()
	}
	c.connectLoop(ctx)
	stopWorkers()
	wg.Wait()
	return nil
}

// sign signs e with the next sequence number.
func (c *Client) sign(e event.Event) (uint64, []byte, event.Message, error) {
	n, err := c.seq.Next()
	if err != nil {
		return 0, nil, event.Message{}, fmt.Errorf("mqtt: sign %s: %w", e.Kind, err)
	}
	h := event.Header{DeviceID: c.id, Seq: n, BootID: c.cfg.BootID}
	if c.cfg.Owner != nil {
		h.Owner = c.cfg.Owner()
	}
	if c.cfg.ClockTrusted != nil {
		h.ClockTrusted = c.cfg.ClockTrusted()
	}
	if e.Time.IsZero() {
		e.Time = c.cfg.Now()
	}
	b, err := event.Sign(h, e, c.cfg.Signer)
	if err != nil {
		return 0, nil, event.Message{}, fmt.Errorf("mqtt: sign %s: %w", e.Kind, err)
	}
	return n, b, event.Message{Header: h, Event: e}, nil
}

// remember adds m to Recent: what was queued or published (not the will
// of every connect attempt).
func (c *Client) remember(m event.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.recent) >= DefaultRecent {
		c.recent = append(c.recent[:0], c.recent[1:]...)
	}
	c.recent = append(c.recent, m)
}

// store signs e and appends it to the outbox.
func (c *Client) store(e event.Event) {
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	n, b, m, err := c.sign(e)
	if err == nil {
		err = c.out.Append(outbox.Message{Seq: n, Route: routeOf(e.Kind), Payload: b})
	}
	if err == nil {
		c.remember(m)
	}
	if err != nil {
		c.log.Error("mqtt: event lost", "kind", e.Kind, "err", err)
		c.setError(err)
	}
}

// storeBatch signs es in order and appends them to the outbox in one group
// commit (package outbox: three fsyncs for the batch, not per event).
func (c *Client) storeBatch(es []event.Event) {
	if len(es) == 1 {
		c.store(es[0])
		return
	}
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	ms := make([]outbox.Message, 0, len(es))
	signed := make([]event.Message, 0, len(es))
	for _, e := range es {
		n, b, m, err := c.sign(e)
		if err != nil {
			c.log.Error("mqtt: event lost", "kind", e.Kind, "err", err)
			c.setError(err)
			continue
		}
		ms = append(ms, outbox.Message{Seq: n, Route: routeOf(e.Kind), Payload: b})
		signed = append(signed, m)
	}
	if err := c.out.AppendBatch(ms); err != nil {
		c.log.Error("mqtt: events lost", "events", len(ms), "err", err)
		c.setError(err)
		return
	}
	for _, m := range signed {
		c.remember(m)
	}
}

// maxGroup bounds one group commit: events waiting in the memory queue
// when the writer takes one are stored with it, up to this many (and
// outbox.MaxBatchBytes: a signed event is at most event.MaxSize).
const maxGroup = 32

// writer moves events from the memory queue to the outbox, in group
// commits of what has queued meanwhile; at the end it stores what is still
// queued, so nothing raised before a clean stop is lost.
func (c *Client) writer(ctx context.Context) {
	batch := make([]event.Event, 0, maxGroup)
	take := func(e event.Event) {
		batch = append(batch[:0], e)
		for len(batch) < maxGroup {
			select {
			case e := <-c.pubCh:
				batch = append(batch, e)
				continue
			default:
			}
			break
		}
		c.storeBatch(batch)
		clear(batch)
	}
	for {
		select {
		case e := <-c.pubCh:
			take(e)
		case <-ctx.Done():
			for {
				select {
				case e := <-c.pubCh:
					take(e)
				default:
					return
				}
			}
		}
	}
}

func (c *Client) stateLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.StateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e := c.cfg.State()
			e.Kind = event.KindState
			e.Dropped = c.out.Dropped() + c.publishDropped.Load()
			c.Publish(e)
		}
	}
}

func (c *Client) setError(err error) {
	c.mu.Lock()
	c.st.LastError = err.Error()
	c.mu.Unlock()
}

// Routes of outbox messages (the topic they go to).
const (
	routeEvents byte = iota
	routeState
	routeResult
)

func routeOf(k event.Kind) byte {
	switch k {
	case event.KindState, event.KindOnline, event.KindOffline:
		return routeState
	case event.KindCommandResult:
		return routeResult
	}
	return routeEvents
}
