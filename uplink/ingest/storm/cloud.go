package storm

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/mqtt/receiver"
)

// cloudConfig is what the cloud process reads from cloud.json in its
// directory.
type cloudConfig struct {
	CADir  string     `json:"ca_dir"`
	IP     string     `json:"ip"`
	Shared uint64     `json:"fault_shared"` // ingesttest.FaultyOwners
	Every  uint64     `json:"fault_every"`
	Sync   bool       `json:"sync"`
	Pairs  [][]string `json:"pairs"` // [device, account]
	// Broker, when set, is the storm's mosquitto: the cloud runs the event
	// receiver there as ReceiverName, with the device keys in Keys
	// (device -> PKIX DER), pinned as at pairing.
	Broker       string            `json:"broker,omitempty"`
	ReceiverName string            `json:"receiver_name,omitempty"`
	Keys         map[string][]byte `json:"keys,omitempty"`
}

// cloudReady is the cloud's first line on stdout.
type cloudReady struct {
	Addr   string            `json:"addr"`
	Tokens map[string]string `json:"tokens"` // account -> viewer token
}

// CloudStats is the cloud's answer to "stats".
type CloudStats struct {
	Ingest       ingest.Stats `json:"ingest"`
	LookupCalls  uint64       `json:"lookup_calls"`
	LookupFaults uint64       `json:"lookup_faults"` // answers about another device handed out
	// HeapPeak and GoroutinesPeak are the highest values sampled (every
	// 10 ms) since the last "mark"; ConnsPeak the most open connections.
	HeapNow        uint64 `json:"heap_now"`
	HeapPeak       uint64 `json:"heap_peak"`
	GoroutinesPeak uint64 `json:"goroutines_peak"`
	ConnsPeak      int64  `json:"conns_peak"`
	Conns          int64  `json:"conns"`
	// Receiver is the event receiver's counters; Motion the new verified
	// motion events it stored (the storm's events).
	Receiver receiver.Stats `json:"receiver"`
	Motion   uint64         `json:"motion"`
}

// cloudFile is the cloud's configuration file in its directory.
const cloudFile = "cloud.json"

// ServeCloud is the cloud process: the ingest (with the faulty owner lookup)
// on a loopback mutual-TLS server, configured by dir/cloud.json, its store
// under dir/ingest. It prints its address and viewer tokens as one JSON line
// on out, then answers one JSON line per command line on in: "down" (close
// the listener and every connection: the outage), "up" (listen again on the
// same address), "mark" (restart the peak measurements), "stats"
// (CloudStats), "quit". It returns at "quit", EOF or when ctx ends.
func ServeCloud(ctx context.Context, dir string, in io.Reader, out io.Writer) error {
	var cfg cloudConfig
	if err := readChildConfig(filepath.Join(dir, cloudFile), &cfg); err != nil {
		return fmt.Errorf("storm: cloud: %w", err)
	}
	ca, _, err := devca.Open(cfg.CADir, nil)
	if err != nil {
		return fmt.Errorf("storm: cloud: %w", err)
	}
	reg := ingesttest.NewRegistry()
	ready := cloudReady{Tokens: map[string]string{}}
	for _, p := range cfg.Pairs {
		if len(p) != 2 {
			return fmt.Errorf("storm: cloud: bad pair %q", p)
		}
		reg.Pair(p[0], p[1])
		if _, ok := ready.Tokens[p[1]]; !ok {
			ready.Tokens[p[1]] = reg.Viewer(p[1])
		}
	}
	faulty := &ingesttest.FaultyOwners{Inner: reg, Shared: cfg.Shared, Every: cfg.Every}
	ing, err := ingest.New(ingest.Config{Root: filepath.Join(dir, "ingest"), ClientCAs: ca.Pool(), Owners: faulty,
		Accounts: reg, NoSync: !cfg.Sync})
	if err != nil {
		return fmt.Errorf("storm: cloud: %w", err)
	}
	cert, err := ca.ServerCertificate([]string{cfg.IP})
	if err != nil {
		return fmt.Errorf("storm: cloud: %w", err)
	}
	c := &cloud{ing: ing, tlsCert: cert}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.IP, "0"))
	if err != nil {
		return fmt.Errorf("storm: cloud: %w", err)
	}
	c.addr = ln.Addr().String()
	c.serve(ln)
	defer c.down()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	var recv *receiver.Receiver
	var motion atomic.Uint64
	if cfg.Broker != "" {
		if recv, err = startReceiver(ctx, &wg, cfg, ca, dir, &motion); err != nil {
			return err
		}
	}
	wg.Add(1)
	go func() { // the peak sampler
		defer wg.Done()
		c.sample(ctx)
	}()

	enc := json.NewEncoder(out)
	ready.Addr = c.addr
	if err := enc.Encode(ready); err != nil {
		return fmt.Errorf("storm: cloud: %w", err)
	}
	lines := make(chan string)
	wg.Add(1)
	go func() { // stdin; ends at EOF (the parent closes it or dies)
		defer wg.Done()
		scanLines(ctx, in, lines)
	}()
	for {
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case line, ok = <-lines:
		}
		if !ok || line == "quit" {
			cancel()
			return nil
		}
		var ans any = map[string]bool{"ok": true}
		switch line {
		case "down":
			c.down()
		case "up":
			if err := c.up(ctx); err != nil {
				return err
			}
		case "mark":
			c.heapPeak.Store(0)
			c.gorPeak.Store(0)
			c.connsPeak.Store(c.conns.Load())
		case "stats":
			st := CloudStats{Ingest: ing.Stats(), LookupCalls: faulty.Calls(), LookupFaults: faulty.Faults(),
				HeapNow: c.heapNow.Load(), HeapPeak: c.heapPeak.Load(), GoroutinesPeak: c.gorPeak.Load(),
				ConnsPeak: c.connsPeak.Load(), Conns: c.conns.Load(), Motion: motion.Load()}
			if recv != nil {
				st.Receiver = recv.Stats()
			}
			ans = st
		default:
			ans = map[string]string{"error": "unknown command " + line}
		}
		if err := enc.Encode(ans); err != nil {
			return fmt.Errorf("storm: cloud: %w", err)
		}
	}
}

// cloud is the cloud process's HTTP server, which can go down and come back.
type cloud struct {
	ing     *ingest.Server
	tlsCert tls.Certificate
	addr    string

	mu   sync.Mutex
	srv  *http.Server
	done chan struct{} // closed when srv's Serve returned

	conns, connsPeak           atomic.Int64
	heapNow, heapPeak, gorPeak atomic.Uint64
}

func (c *cloud) serve(ln net.Listener) {
	srv := &http.Server{Handler: c.ing.Handler(), TLSConfig: ingest.TLSConfig(c.tlsCert), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: log.New(io.Discard, "", 0),
		ConnState: c.connState}
	done := make(chan struct{})
	c.mu.Lock()
	c.srv, c.done = srv, done
	c.mu.Unlock()
	go func() { // owned by c: down waits for it
		defer close(done)
		_ = c.ing.Serve(srv, ln) // under the ingest's admission control
	}()
}

// down closes the listener and every connection, and waits for Serve.
func (c *cloud) down() {
	c.mu.Lock()
	srv, done := c.srv, c.done
	c.srv, c.done = nil, nil
	c.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

// up listens again on the same address (retrying while the port is not
// yet free).
func (c *cloud) up(ctx context.Context) error {
	var err error
	for range 100 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			c.serve(ln)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("storm: cloud: listen again on %s: %w", c.addr, err)
}

func (c *cloud) connState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		n := c.conns.Add(1)
		for p := c.connsPeak.Load(); n > p && !c.connsPeak.CompareAndSwap(p, n); p = c.connsPeak.Load() {
		}
	case http.StateClosed, http.StateHijacked:
		c.conns.Add(-1)
	}
}

// sample records the heap (live and not yet swept objects) and goroutine
// peaks every 10 ms.
func (c *cloud) sample(ctx context.Context) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(s)
		h, g := s[0].Value.Uint64(), s[1].Value.Uint64()
		c.heapNow.Store(h)
		if h > c.heapPeak.Load() {
			c.heapPeak.Store(h)
		}
		if g > c.gorPeak.Load() {
			c.gorPeak.Store(g)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// startReceiver runs the event receiver (package receiver, as camcloud runs
// it) on wg until ctx ends: a service certificate from the dev CA, the
// devices' keys pinned, verified events stored under dir/events.
func startReceiver(ctx context.Context, wg *sync.WaitGroup, cfg cloudConfig, ca *devca.CA, dir string, motion *atomic.Uint64) (*receiver.Receiver, error) {
	keys := make(map[string]receiver.Device, len(cfg.Keys))
	account := map[string]string{}
	for _, p := range cfg.Pairs {
		account[p[0]] = p[1]
	}
	for id, der := range cfg.Keys {
		pub, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return nil, fmt.Errorf("storm: cloud: key of %s: %w", id, err)
		}
		keys[id] = receiver.Device{Key: pub, Account: account[id]}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf, err := ca.IssueService(key.Public(), cfg.ReceiverName)
	if err != nil {
		return nil, fmt.Errorf("storm: cloud: service certificate: %w", err)
	}
	tc := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}}
	r, err := receiver.New(receiver.Config{Broker: cfg.Broker, TLS: tc, ClientID: cfg.ReceiverName,
		Devices: func(id string) (receiver.Device, bool) { d, ok := keys[id]; return d, ok },
		Dir:     filepath.Join(dir, "events"),
		Observe: func(m event.Message, _ string) {
			if m.Kind == event.KindMotionStart {
				motion.Add(1)
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("storm: cloud: %w", err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = r.Run(ctx) }()
	return r, nil
}
