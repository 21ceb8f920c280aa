package storm

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mosquitto"
	"github.com/camagent/camagent/uplink/mqtt/receiver"
	"github.com/camagent/camagent/uplink/upload"
)

// The MQTT side of the storm: a real mosquitto (started here, as the tests
// start it), every camera's real mqtt.Client (its certificate, its outbox,
// its signed events) and, in the cloud process, the real receiver
// (package receiver) verifying and storing each event under the device
// whose pinned key verified it.

// receiverName is the cloud's service identity on the broker.
const receiverName = "storm-receiver"

// Events each camera raises: before the outage (delivered while all is up)
// and during it (queued in its outbox, delivered after the broker's
// return).
const (
	eventsBefore = 1
	eventsDuring = 2
	eventsEach   = eventsBefore + eventsDuring
)

// MQTTResult is what the MQTT side of a run measured.
type MQTTResult struct {
	// Attempts counts, per Bucket since the outage began, the cameras'
	// connection attempts to the broker (mqtt.Status.ConnectAttempts,
	// sampled every Bucket).
	Attempts []int64
	// Back is each camera's time from "broker back" to "connected and
	// subscribed again", sorted; cameras not back by GiveUp are missing.
	Back []time.Duration
	// EventsSent is what the cameras raised (eventsEach each); Stored the
	// distinct ones the receiver stored under their signer; Lost the
	// difference; Repeats the copies stored twice (must be 0: receivers
	// drop repeats by sequence number) and Duplicates the repeats the
	// receiver dropped.
	EventsSent, Stored, Lost, Repeats int
	Duplicates                        uint64
	// Wrong counts stored messages not shown to their device's account
	// (not verifying with the pinned key, another device's, or signed
	// for another owner) or shown to a stranger's account, or files for a
	// device that does not exist (must be 0).
	Wrong int
	// ReceiverRefused and ReceiverDropped are the receiver's counters.
	ReceiverRefused, ReceiverDropped uint64
	// EventsTime is from "broker back" to every event stored.
	EventsTime time.Duration
	// The broker: peak RSS sampled every 50 ms after its return, VmHWM of
	// the restarted process, and its CPU time from its return to the end.
	BrokerPeakRSS, BrokerHWM uint64
	BrokerCPU                time.Duration
	// ClientMem is this process's heap and stacks per connected camera
	// client (measured when all were first connected).
	ClientMem        uint64
	ClientGoroutines float64
	// Workers is how many processes ran the clients; WorkersHWM the sum of
	// their peak RSS (VmHWM) and WorkersCPU of their CPU time, whole run.
	Workers     int
	WorkersHWM  uint64
	WorkersCPU  time.Duration
	ConnectTime time.Duration // the first phase: all connected and their first event stored
	Errors      []string
}

// Percentile returns the p-th percentile (0..100) of Back.
func (m *MQTTResult) Percentile(p float64) time.Duration {
	if len(m.Back) == 0 {
		return 0
	}
	return m.Back[int(p/100*float64(len(m.Back)-1))]
}

func (m *MQTTResult) errorf(format string, args ...any) {
	if len(m.Errors) < 10 {
		m.Errors = append(m.Errors, fmt.Sprintf(format, args...))
	}
}

// brokerSide is the storm's mosquitto, which goes down and comes back on
// the same port with its persistence.
type brokerSide struct {
	cfg mosquitto.Config
	b   *mosquitto.Broker
}

// startBroker writes the broker's certificate and starts mosquitto on a
// free port of cfg.IP. Mosquitto needs a file descriptor per camera: this
// process's open-file limit (raised to the hard limit here, so that the
// child inherits it) must exceed the fleet.
func startBroker(ctx context.Context, cfg Config) (*brokerSide, error) {
	n := len(cfg.Fleet.Devices)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl) // children inherit it (Go restores the original otherwise)
		if rl.Cur < uint64(n)+256 {
			return nil, fmt.Errorf("storm: mosquitto needs about %d open files for %d cameras; the limit is %d (raise it: ulimit -Hn)", n+256, n, rl.Cur)
		}
	}
	dir := filepath.Join(cfg.Dir, "broker")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	srv, err := cfg.Fleet.CA.ServerCertificate([]string{cfg.IP})
	if err != nil {
		return nil, fmt.Errorf("storm: broker certificate: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("storm: broker key: %w", err)
	}
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate[0]}), 0o600); err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.IP, "0"))
	if err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	bs := &brokerSide{cfg: mosquitto.Config{Dir: filepath.Join(dir, "mosquitto"), Listen: net.JoinHostPort(cfg.IP, strconv.Itoa(port)),
		CAFile: filepath.Join(cfg.Fleet.CADir, devca.CertFile), CertFile: certFile, KeyFile: keyFile,
		Services: []string{receiverName}, MaxQueued: max(mosquitto.DefaultMaxQueued, 8*n), StartTimeout: time.Minute}}
	if err := bs.start(ctx); err != nil {
		return nil, err
	}
	return bs, nil
}

func (bs *brokerSide) start(ctx context.Context) error {
	b, err := mosquitto.Start(ctx, bs.cfg)
	if err != nil {
		return fmt.Errorf("storm: %w", err)
	}
	bs.b = b
	return nil
}

func (bs *brokerSide) url() string { return "tls://" + bs.cfg.Listen }

func (bs *brokerSide) pid() int {
	if bs.b == nil {
		return 0
	}
	return bs.b.PID()
}

func (bs *brokerSide) stop() {
	if bs.b != nil {
		_ = bs.b.Stop()
		bs.b = nil
	}
}

// cameras is every camera's MQTT client, running.
type cameras struct {
	clients []*mqtt.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// startCameras makes and runs each camera's client. Times are the agent's
// defaults (mqtt.start_delay 30 s, backoff 1 s .. 5 min) scaled like the
// uploader's: Backoff.Base / upload's base.
func startCameras(ctx context.Context, cfg Config, url string, scale func(time.Duration) time.Duration) (*cameras, error) {
	roots := cfg.Fleet.CA.Pool()
	cs := &cameras{clients: make([]*mqtt.Client, len(cfg.Fleet.Devices))}
	var jitter func(time.Duration) time.Duration
	if cfg.NoJitter {
		jitter = func(d time.Duration) time.Duration { return d }
	}
	for i, d := range cfg.Fleet.Devices {
		dir := filepath.Join(cfg.Dir, "cameras", strconv.Itoa(d.Index)) // the fleet's index: workers share cfg.Dir
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("storm: %w", err)
		}
		acct := d.Account
		c, err := mqtt.New(mqtt.Config{Broker: url, TLS: d.TLS(roots), Signer: d.Key, BootID: "boot-storm", StoreDir: dir,
			StartDelay: scale(30 * time.Second), BackoffMin: scale(mqtt.DefaultBackoffMin), BackoffMax: scale(mqtt.DefaultBackoffMax),
			Owner: func() string { return acct }, ClockTrusted: func() bool { return true }, Jitter: jitter})
		if err != nil {
			return nil, fmt.Errorf("storm: camera %d: %w", d.Index, err)
		}
		cs.clients[i] = c
	}
	rctx, cancel := context.WithCancel(ctx)
	cs.cancel = cancel
	for _, c := range cs.clients {
		cs.wg.Add(1)
		go func() { defer cs.wg.Done(); _ = c.Run(rctx) }()
	}
	return cs, nil
}

// stop ends every client and waits for them.
func (cs *cameras) stop() {
	cs.cancel()
	cs.wg.Wait()
}

// attempts is the sum of the clients' connection attempts.
func (cs *cameras) attempts() int64 {
	var s int64
	for _, c := range cs.clients {
		s += int64(c.Status().ConnectAttempts)
	}
	return s
}

// connectedSince counts the clients connected at or after t, and those
// with nothing left in their outbox.
func (cs *cameras) connectedSince(t time.Time) (connected, drained int) {
	for _, c := range cs.clients {
		st := c.Status()
		if st.Connected && !st.LastConnected.Before(t) {
			connected++
		}
		if st.Queued == 0 {
			drained++
		}
	}
	return connected, drained
}

// publish raises motion events first..last on every camera.
func (cs *cameras) publish(first, last uint64) {
	for _, c := range cs.clients {
		for id := first; id <= last; id++ {
			c.Publish(event.Event{Kind: event.KindMotionStart, MotionID: id, ScorePPM: 1000})
		}
	}
}

// scaleTime is d (one of the agent's default times) on the run's time
// scale: d * base / upload.DefaultBackoffBase, without overflowing. (The
// product alone overflows int64 for 5 min * 2 s: the clients' BackoffMax
// came out negative, and every camera retried every BackoffMin/2 while the
// broker was down, whatever the jitter.)
func scaleTime(d, base time.Duration) time.Duration {
	q, r := d/upload.DefaultBackoffBase, d%upload.DefaultBackoffBase
	return q*base + r*base/upload.DefaultBackoffBase
}

// waitFor polls cond every 20 ms until it holds, ctx ends or limit passes.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errors.New("timed out")
		case <-t.C:
		}
	}
	return nil
}

// clientMemory is this process's heap in use plus goroutine stacks, and
// its goroutines.
func clientMemory() (uint64, int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
}

// checkEvents reads what the receiver stored (dir: Dir/<device>.events)
// back as each device's account and as a stranger's, with the pinned keys.
func (m *MQTTResult) checkEvents(dir string, cfg Config) {
	byID := map[string]bool{}
	for _, d := range cfg.Fleet.Devices {
		byID[d.ID] = true
	}
	if ents, err := os.ReadDir(dir); err == nil {
		for _, e := range ents {
			id, ok := strings.CutSuffix(e.Name(), receiver.Suffix)
			if !ok || !byID[id] {
				m.Wrong++
				m.errorf("events stored for an unknown device: %q", e.Name())
			}
		}
	} else {
		m.errorf("events: %v", err)
	}
	devs := cfg.Fleet.Devices
	m.EventsSent = eventsEach * len(devs)
	for i, d := range devs {
		items, err := receiver.ReadVerified(dir, d.ID, d.Key.Public(), d.Account, 0)
		if err != nil {
			m.errorf("device %d: %v", i, err)
		}
		seen := map[uint64]int{}
		for _, it := range items {
			if !it.Show {
				m.Wrong++
				m.errorf("device %d: a stored message its account is not shown: %s", i, it.Reason)
				continue
			}
			if it.Message.Kind == event.KindMotionStart {
				seen[it.Message.MotionID]++
			}
		}
		for id := uint64(1); id <= eventsEach; id++ {
			switch k := seen[id]; {
			case k == 0:
				m.Lost++
				m.errorf("device %d: event %d never stored", i, id)
			case k > 1:
				m.Repeats += k - 1
				m.Stored++
				m.errorf("device %d: event %d stored %d times", i, id, k)
			default:
				m.Stored++
			}
		}
		// A stranger's account (another device's owner) is shown nothing.
		other := devs[(i+1)%len(devs)]
		if other.Account != d.Account {
			items, _ := receiver.ReadVerified(dir, d.ID, d.Key.Public(), other.Account, 0)
			for _, it := range items {
				if it.Show {
					m.Wrong++
					m.errorf("device %d: shown to the stranger %s", i, other.Account)
				}
			}
		}
	}
}
