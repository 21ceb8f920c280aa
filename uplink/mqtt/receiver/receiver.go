package receiver

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// Suffix is the extension of a device's event file.
const Suffix = ".events"

// queueSize bounds the messages waiting for verification.
const queueSize = 1024

// dedupWindow is how many recent sequence numbers per device are remembered
// to drop repeats.
const dedupWindow = 4096

// Device is what pairing pinned about a device.
type Device struct {
	Key     crypto.PublicKey
	Account string
}

// Config configures a Receiver.
type Config struct {
	Broker   string      // tls://HOST:PORT
	TLS      *tls.Config // the service identity's client certificate
	ClientID string      // the service identity (its certificate CN)
	// Devices returns the pinned key of a device (false: not enrolled).
	Devices func(id string) (Device, bool)
	Dir     string // where verified events are kept
	Logger  *slog.Logger
	// Observe, when set, is called (on the verifying goroutine) with each
	// verified, new message and the topic part it came on.
	Observe func(m event.Message, topicPart string)
	// OnSubscribed, when set, is called each time the subscription is up.
	OnSubscribed func()
}

// Stats counts what the receiver saw. Dropped is always 0 since the
// receiver stopped dropping: a message is acknowledged to the broker only
// after it is stored (or refused), and a full queue holds the broker back.
type Stats struct {
	Verified, Duplicates, Refused, Dropped uint64
	RefusedBy                              map[string]uint64
}

type incoming struct {
	topic   string
	payload []byte
	ack     func() // tells the broker the message is taken care of
}

// Receiver subscribes, verifies and stores.
type Receiver struct {
	cfg Config
	log *slog.Logger
	in  chan incoming

	mu     sync.Mutex
	client paho.Client
	stats  Stats
	seen   map[string]*seqSet
}

// New checks cfg.
func New(cfg Config) (*Receiver, error) {
	if cfg.Broker == "" || cfg.TLS == nil || cfg.ClientID == "" || cfg.Devices == nil || cfg.Dir == "" {
		return nil, errors.New("receiver: Broker, TLS, ClientID, Devices and Dir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("receiver: %w", err)
	}
	return &Receiver{cfg: cfg, log: cfg.Logger, in: make(chan incoming, queueSize),
		stats: Stats{RefusedBy: map[string]uint64{}}, seen: map[string]*seqSet{}}, nil
}

// Stats returns the counters.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.RefusedBy = make(map[string]uint64, len(r.stats.RefusedBy))
	for k, v := range r.stats.RefusedBy {
		s.RefusedBy[k] = v
	}
	return s
}

// Run keeps a persistent session to the broker until ctx ends, with a
// randomised capped backoff between attempts.
func (r *Receiver) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.verifyLoop(ctx) }()
	defer wg.Wait()
	delay := time.Duration(0)
	for {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		err := r.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("receiver: broker session ended", "err", err)
		delay = min(max(2*delay, 200*time.Millisecond), 10*time.Second)
	}
}

func (r *Receiver) session(ctx context.Context) error {
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().AddBroker(r.cfg.Broker).SetClientID(r.cfg.ClientID).
		SetTLSConfig(r.cfg.TLS).SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).
		SetKeepAlive(30 * time.Second).SetConnectTimeout(10 * time.Second).
		SetAutoAckDisabled(true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { r.enqueue(ctx, m.Topic(), m.Payload(), m.Ack) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	cl := paho.NewClient(opts)
	if err := wait(ctx, cl.Connect()); err != nil {
		cl.Disconnect(0)
		return fmt.Errorf("receiver: connect: %w", err)
	}
	defer cl.Disconnect(250)
	filters := map[string]byte{
		mqtt.TopicRoot + "+/state": 1, mqtt.TopicRoot + "+/events": 1, mqtt.TopicRoot + "+/cmd/result": 1,
	}
	onMessage := func(_ paho.Client, m paho.Message) { r.enqueue(ctx, m.Topic(), m.Payload(), m.Ack) }
	if err := wait(ctx, cl.SubscribeMultiple(filters, onMessage)); err != nil {
		return fmt.Errorf("receiver: subscribe: %w", err)
	}
	r.mu.Lock()
	r.client = cl
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.client = nil
		r.mu.Unlock()
	}()
	r.log.Info("receiver: subscribed to every device's state, events and command results", "broker", r.cfg.Broker)
	if r.cfg.OnSubscribed != nil {
		r.cfg.OnSubscribed()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-lost:
		return err
	}
}

// ErrNotConnected: Send was called while there is no broker session.
var ErrNotConnected = errors.New("receiver: not connected to the broker")

// Send publishes a signed command to device's command topic (QoS 1).
func (r *Receiver) Send(ctx context.Context, device string, cmd []byte) error {
	r.mu.Lock()
	cl := r.client
	r.mu.Unlock()
	if cl == nil {
		return ErrNotConnected
	}
	if err := wait(ctx, cl.Publish(mqtt.TopicsFor(device).Command, 1, false, cmd)); err != nil {
		return fmt.Errorf("receiver: send command: %w", err)
	}
	return nil
}

// Connected reports whether the subscription is up.
func (r *Receiver) Connected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.client != nil
}

// enqueue runs on paho's router (QoS 1, acknowledgements by hand): it
// hands the message to the verifier and waits while the queue is full, so
// a burst (every camera back after an outage) holds the broker back
// instead of being acknowledged and dropped; paho keeps reading pings
// meanwhile (they are not routed). The verifier acknowledges a message
// once it is stored or refused; a message still queued when the receiver
// stops is not acknowledged, and the broker delivers it again to the
// persistent session next time (a repeat is then dropped by its sequence
// number).
func (r *Receiver) enqueue(ctx context.Context, topic string, payload []byte, ack func()) {
	select {
	case r.in <- incoming{topic: topic, payload: bytes.Clone(payload), ack: ack}:
	case <-ctx.Done():
	}
}

func (r *Receiver) verifyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-r.in:
			if r.verify(m) && m.ack != nil {
				m.ack()
			}
		}
	}
}

func (r *Receiver) refuse(code, topic string, err error) {
	r.mu.Lock()
	r.stats.Refused++
	r.stats.RefusedBy[code]++
	r.mu.Unlock()
	r.log.Warn("receiver: message refused", "code", code, "topic", topic, "err", err)
}

// verify attributes a message by its signature and stores it. It reports
// whether the message is taken care of (stored, a repeat, or refused for
// good); false when storing failed, so that it is not acknowledged.
func (r *Receiver) verify(in incoming) bool {
	topicDev, part, ok := mqtt.SplitTopic(in.topic)
	if !ok {
		r.refuse("bad-topic", in.topic, nil)
		return true
	}
	unverified, err := event.Parse(in.payload)
	if err != nil {
		r.refuse("malformed", in.topic, err)
		return true
	}
	dev, ok := r.cfg.Devices(unverified.DeviceID) // the kid picks the pinned key
	if !ok {
		r.refuse("unknown-device", in.topic, fmt.Errorf("no key pinned for %s", unverified.DeviceID))
		return true
	}
	m, err := event.Verify(in.payload, dev.Key)
	if err != nil {
		r.refuse("bad-signature", in.topic, err)
		return true
	}
	if m.DeviceID != topicDev {
		r.refuse("topic-mismatch", in.topic, fmt.Errorf("signed by %s, on the topics of %.64q", m.DeviceID, topicDev))
		return true
	}
	// Only the verifier goroutine adds to seen, so the check and the add
	// around the append do not race with another add.
	r.mu.Lock()
	s := r.seen[m.DeviceID]
	if s == nil {
		s = newSeqSet()
		if err := r.load(m.DeviceID, s); err != nil {
			r.log.Warn("receiver: reading stored events", "device", m.DeviceID, "err", err)
		}
		r.seen[m.DeviceID] = s
	}
	dup := s.has(m.Seq)
	if dup {
		r.stats.Duplicates++
	}
	r.mu.Unlock()
	if dup {
		return true
	}
	if err := r.append(m.DeviceID, in.payload); err != nil {
		r.log.Error("receiver: store event (not acknowledged: the broker sends it again)", "device", m.DeviceID, "err", err)
		return false
	}
	r.mu.Lock()
	s.add(m.Seq)
	r.stats.Verified++
	r.mu.Unlock()
	r.log.Info("receiver: verified", "device", m.DeviceID, "seq", m.Seq, "kind", m.Kind, "topic", part)
	if r.cfg.Observe != nil {
		r.cfg.Observe(m, part)
	}
	return true
}

func (r *Receiver) path(device string) string {
	return filepath.Join(r.cfg.Dir, device+Suffix)
}

func (r *Receiver) append(device string, cose []byte) error {
	f, err := os.OpenFile(r.path(device), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	line := base64.StdEncoding.AppendEncode(nil, cose)
	_, err = f.Write(append(line, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// load fills s with the sequence numbers already stored for device. r.mu
// is held; the file holds only what verified when it was stored.
func (r *Receiver) load(device string, s *seqSet) error {
	raw, err := readLines(r.path(device))
	if err != nil {
		return err
	}
	for _, b := range raw {
		if m, err := event.Parse(b); err == nil && m.DeviceID == device {
			s.add(m.Seq)
		}
	}
	return nil
}

// Item is a stored message as a reader sees it.
type Item struct {
	Message event.Message
	COSE    []byte
	Show    bool   // verified with the pinned key and owned by the account
	Reason  string // why not, when Show is false
}

// ReadVerified reads device's stored messages from dir and checks each
// again: signature by key (the key pinned at pairing), the device, and that
// its signed owner is account. Messages with seq <= after are skipped.
func ReadVerified(dir, device string, key crypto.PublicKey, account string, after uint64) ([]Item, error) {
	if err := identity.ValidDeviceID(device); err != nil {
		return nil, err
	}
	raw, err := readLines(filepath.Join(dir, device+Suffix))
	if err != nil {
		return nil, err
	}
	var out []Item
	for _, b := range raw {
		m, err := event.Verify(b, key)
		it := Item{Message: m, COSE: b}
		switch {
		case err != nil:
			it.Reason = err.Error()
		case m.DeviceID != device:
			it.Reason = "another device's message"
		case m.Owner != account:
			it.Reason = fmt.Sprintf("owned by %q, not by this account", m.Owner)
		default:
			it.Show = true
		}
		if it.Show && m.Seq <= after {
			continue
		}
		out = append(out, it)
	}
	return out, nil
}

// maxFile bounds a device's event file as read.
const maxFile = 64 << 20

func readLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > maxFile {
		return nil, fmt.Errorf("%s: over %d bytes", path, maxFile)
	}
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 8<<10), 2*event.MaxSize)
	for sc.Scan() {
		b, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil {
			continue
		}
		out = append(out, b)
	}
	return out, sc.Err()
}

// seqSet remembers the last dedupWindow sequence numbers of a device.
type seqSet struct {
	set  map[uint64]struct{}
	ring []uint64
	next int
}

func newSeqSet() *seqSet { return &seqSet{set: map[uint64]struct{}{}} }

// has reports whether n is remembered.
func (s *seqSet) has(n uint64) bool {
	_, ok := s.set[n]
	return ok
}

// add records n and reports whether it was new.
func (s *seqSet) add(n uint64) bool {
	if _, ok := s.set[n]; ok {
		return false
	}
	if len(s.ring) < dedupWindow {
		s.ring = append(s.ring, n)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = n
		s.next = (s.next + 1) % dedupWindow
	}
	s.set[n] = struct{}{}
	return true
}

func wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
