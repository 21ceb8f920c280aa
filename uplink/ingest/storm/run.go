package storm

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/camagent/camagent/uplink/upload"
)

// Config is one storm run. Zero fields take the defaults in brackets.
type Config struct {
	Fleet *Fleet // required
	// Dir is the run's directory (the cloud's store goes there); required.
	Dir string
	// StartCloud returns the command that runs ServeCloud(dir) in a new
	// process (a test binary re-executing itself, for example); required.
	StartCloud func(dir string) *exec.Cmd
	// StartWorker returns the command that runs ServeCameras(file) in a
	// new process; required. Workers is how many such processes run the
	// cameras' MQTT clients [one per 2,500 cameras, at least 2].
	StartWorker func(file string) *exec.Cmd
	Workers     int
	// IP is the loopback address the cloud listens on [127.0.0.1]. Give
	// each run its own (127.0.0.2, ...) so the runs do not share the
	// ephemeral ports the previous run left in TIME_WAIT.
	IP string
	// Outage is how long the cloud is down [20 s].
	Outage time.Duration
	// Backoff is the cameras' retry backoff [upload's defaults].
	Backoff upload.Backoff
	// NoJitter makes every camera wait exactly min(Cap, Base*2^(n-1))
	// before retry n, and exactly Retry-After: the design the uploader does
	// not use, for comparison.
	NoJitter bool
	// ClipSize and ThumbSize are the objects' sizes [8 KiB, 1 KiB].
	ClipSize, ThumbSize int
	// Connect is how many cameras connect at once when the run starts
	// (before the outage) [256].
	Connect int
	// Bucket is the width of the attempts-over-time histogram [Outage/20].
	Bucket time.Duration
	// GiveUp ends the storm this long after the cloud is back; cameras not
	// through by then count as lost (their item would still be queued on
	// the card; the run stops waiting) [30 min].
	GiveUp time.Duration
	// FaultShared and FaultEvery configure the cloud's faulty owner lookup
	// (ingesttest.FaultyOwners) [2, 7: as in the incident test].
	FaultShared, FaultEvery uint64
	// Seed seeds the cameras' jitter.
	Seed uint64
	// Progress, if set, is told how the run is going every ProgressEvery
	// [2 s].
	Progress      func(string)
	ProgressEvery time.Duration
	// Viewers is how many viewers read at once in the serving check [32].
	Viewers int
	// RetryAfterDiv divides the ingest's Retry-After before the cameras
	// wait it [1]: the time scale of a run whose times are the uploader's
	// divided by a factor (Retry-After is whole seconds on the wire).
	RetryAfterDiv int
}

func (c *Config) fill() error {
	if c.Fleet == nil || c.Dir == "" || c.StartCloud == nil || c.StartWorker == nil {
		return errors.New("storm: Fleet, Dir, StartCloud and StartWorker are required")
	}
	if c.Workers <= 0 {
		// At least two, so that every run exercises the split (each
		// worker's cameras keep their fleet index and their own outbox).
		c.Workers = max(2, (len(c.Fleet.Devices)+2499)/2500)
	}
	if c.IP == "" {
		c.IP = "127.0.0.1"
	}
	if c.Outage <= 0 {
		c.Outage = 20 * time.Second
	}
	if c.Backoff.Base <= 0 {
		c.Backoff.Base = upload.DefaultBackoffBase
	}
	if c.Backoff.Cap <= 0 {
		c.Backoff.Cap = upload.DefaultBackoffCap
	}
	if c.ClipSize <= 0 {
		c.ClipSize = 8 << 10
	}
	if c.ThumbSize <= 0 {
		c.ThumbSize = 1 << 10
	}
	if c.Connect <= 0 {
		c.Connect = 256
	}
	if c.Bucket <= 0 {
		c.Bucket = c.Outage / 20
	}
	if c.GiveUp <= 0 {
		c.GiveUp = 30 * time.Minute
	}
	if c.FaultShared == 0 && c.FaultEvery == 0 {
		c.FaultShared, c.FaultEvery = 2, 7
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 2 * time.Second
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	if c.Viewers <= 0 {
		c.Viewers = 32
	}
	if c.RetryAfterDiv <= 0 {
		c.RetryAfterDiv = 1
	}
	return nil
}

// Result is what a run measured.
type Result struct {
	Devices  int
	NoJitter bool
	Outage   time.Duration
	Backoff  upload.Backoff
	Bucket   time.Duration
	// Attempts, ConnFailed and Refused count, per Bucket since the outage
	// began, the upload attempts the cameras started, those that failed to
	// connect (the cloud down, or its accept queue full) and those the
	// ingest answered with an error (e.g. lookup-inconsistent, 503).
	Attempts, ConnFailed, Refused []int64
	// Back is each camera's time from "cloud back" to "its item is stored",
	// sorted; cameras not through by GiveUp are missing from it.
	Back []time.Duration
	Lost int // cameras whose item did not get through by GiveUp
	// Cloud: measured from outside its process (/proc) during the storm
	// (from the outage's start to the last camera through), and its own
	// counters (CloudStats).
	CloudPeakRSS   uint64 // bytes, sampled every 50 ms
	CloudHWM       uint64 // VmHWM: the process's peak RSS over its life
	CloudCPU       time.Duration
	CloudCPUStorm  time.Duration // from "cloud back" to the last camera through
	Cloud          CloudStats
	StormDuration  time.Duration // from "cloud back" to the last camera through
	ConnectTime    time.Duration // the first phase: every camera connected and uploaded its first item
	Check          Check
	ProgressReport []string
	// MQTT is the MQTT side: the same cameras' real MQTT clients against
	// the storm's mosquitto, which goes down and comes back with the cloud.
	MQTT MQTTResult
}

// Percentile returns the p-th percentile (0..100) of Back.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Back) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(r.Back)-1))
	return r.Back[i]
}

// Run runs one storm (see the package doc).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	n := len(cfg.Fleet.Devices)
	res := &Result{Devices: n, NoJitter: cfg.NoJitter, Outage: cfg.Outage, Backoff: cfg.Backoff, Bucket: cfg.Bucket}
	bs, err := startBroker(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer bs.stop()
	var brokerPID atomic.Int64
	brokerPID.Store(int64(bs.pid()))
	cl, err := startCloud(cfg, bs.url())
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	url := "https://" + cl.ready.Addr
	roots := cfg.Fleet.CA.Pool()

	// Every camera's client, with the transport the camera uses.
	clients := make([]*upload.Client, n)
	for i, d := range cfg.Fleet.Devices {
		if clients[i], err = upload.NewClient(upload.ClientConfig{URL: url, TLS: d.TLS(roots)}); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	// Each camera keeps its connection open between uploads, as cameras
	// do, unless this process could not hold that many files open.
	// (and its MQTT connection, always open).
	keepConns := 2*n+512 < nofile()
	chains := make([]chain, n)
	sent := make([][][]byte, n) // the manifests each camera sent, by seq-1

	// Phase 1: every camera connects and uploads its first item.
	t1 := time.Now()
	var done1 atomic.Int64
	stopProgress := progress(ctx, cfg, func() string {
		return fmt.Sprintf("connect: %d/%d cameras uploaded their first item", done1.Load(), n)
	})
	err = parallel(ctx, n, cfg.Connect, func(i int) error {
		d := cfg.Fleet.Devices[i]
		it, err := item(d, &chains[i], cfg)
		if err != nil {
			return err
		}
		sent[i] = append(sent[i], it.Manifest)
		for try := 0; ; try++ {
			ok, err := clients[i].Send(ctx, it, nil, nil)
			if err == nil && ok {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if try > 50 || (err != nil && upload.Classify(err) != upload.Transient) {
				return fmt.Errorf("storm: camera %d first upload: %v (complete %v)", i, err, ok)
			}
		}
		if !keepConns {
			clients[i].CloseIdleConnections()
		}
		done1.Add(1)
		return nil
	})
	stopProgress()
	if err != nil {
		return nil, err
	}
	res.ConnectTime = time.Since(t1)
	cfg.Progress(fmt.Sprintf("connect: %d cameras uploaded their first item in %v", n, res.ConnectTime.Round(time.Millisecond)))

	// Phase 1, MQTT: every camera's client connects and its first event
	// reaches the receiver.
	t1 = time.Now()
	cams, err := startWorkers(ctx, cfg, bs.url())
	if err != nil {
		return nil, err
	}
	defer cams.stop()
	if err := cams.publish(1, eventsBefore); err != nil {
		return nil, err
	}
	motion := func() uint64 {
		b, err := cl.cmd("stats")
		var st CloudStats
		if err == nil && json.Unmarshal(b, &st) == nil {
			return st.Motion
		}
		return 0
	}
	stopProgress = progress(ctx, cfg, func() string {
		c, _ := cams.connectedSince(time.Time{})
		return fmt.Sprintf("connect: %d/%d cameras on MQTT, %d/%d events stored", c, n, motion(), eventsBefore*n)
	})
	err = waitFor(ctx, cfg.GiveUp, func() bool {
		c, d := cams.connectedSince(time.Time{})
		return c == n && d == n && motion() >= uint64(eventsBefore*n)
	})
	stopProgress()
	if err != nil {
		return nil, fmt.Errorf("storm: MQTT: cameras connected and first events stored: %w", err)
	}
	res.MQTT.ConnectTime = time.Since(t1)
	if mem, gor, err := cams.mem(); err == nil {
		res.MQTT.ClientMem = mem / uint64(n)
		res.MQTT.ClientGoroutines = float64(gor) / float64(n)
	}
	res.MQTT.Workers = len(cams.ws)
	cfg.Progress(fmt.Sprintf("connect: %d cameras on MQTT and their first event stored in %v; %d KiB and %.1f goroutines per client",
		n, res.MQTT.ConnectTime.Round(time.Millisecond), res.MQTT.ClientMem>>10, res.MQTT.ClientGoroutines))

	// The items the cameras will have during the outage.
	items := make([]*upload.Item, n)
	for i, d := range cfg.Fleet.Devices {
		if items[i], err = item(d, &chains[i], cfg); err != nil {
			return nil, err
		}
		sent[i] = append(sent[i], items[i].Manifest)
	}

	// Phase 2: the outage, and the storm when the cloud comes back.
	if _, err := cl.cmd("mark"); err != nil {
		return nil, err
	}
	buckets := int(cfg.Outage+cfg.GiveUp)/int(cfg.Bucket) + 1
	attempts, connFailed, refused := make([]atomic.Int64, buckets), make([]atomic.Int64, buckets), make([]atomic.Int64, buckets)
	var up atomic.Int64 // when the cloud came back, ns since t0; 0 while down
	back := make([]time.Duration, n)
	var through atomic.Int64
	cpu0, _ := procCPU(cl.pid())
	var peakRSS, brokerRSS atomic.Uint64
	var brokerBack atomic.Bool
	sctx, stopStorm := context.WithCancel(ctx)
	defer stopStorm()
	var swg sync.WaitGroup
	swg.Add(1)
	go func() { // the RSS sampler, stopped by stopStorm
		defer swg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if rss, _ := procRSS(cl.pid()); rss > peakRSS.Load() {
				peakRSS.Store(rss)
			}
			if brokerBack.Load() {
				if rss, _ := procRSS(int(brokerPID.Load())); rss > brokerRSS.Load() {
					brokerRSS.Store(rss)
				}
			}
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	mAttempts := make([]atomic.Int64, buckets)
	if _, err := cl.cmd("down"); err != nil {
		return nil, err
	}
	t0 := time.Now()
	outage := time.NewTimer(cfg.Outage) // from now: stopping the broker is part of the outage
	defer outage.Stop()
	bs.stop()
	if err := cams.publish(eventsBefore+1, eventsEach); err != nil { // queued in the outboxes while the broker is down
		return nil, err
	}
	swg.Add(1)
	go func() { // the MQTT attempts sampler, stopped by stopStorm
		defer swg.Done()
		t := time.NewTicker(cfg.Bucket)
		defer t.Stop()
		prev := cams.attempts()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			k := min(int((time.Since(t0)-cfg.Bucket/2)/cfg.Bucket), buckets-1)
			cur := cams.attempts()
			mAttempts[max(k, 0)].Add(cur - prev)
			prev = cur
		}
	}()
	stopProgress = progress(ctx, cfg, func() string {
		el := time.Since(t0)
		k := min(int(el/cfg.Bucket), buckets-1)
		rate := float64(attempts[k].Load()) / (el - time.Duration(k)*cfg.Bucket).Seconds()
		if k > 0 {
			rate = float64(attempts[k-1].Load()) / cfg.Bucket.Seconds()
		}
		rss, _ := procRSS(cl.pid())
		cpu, _ := procCPU(cl.pid())
		state := "cloud down"
		if up.Load() != 0 {
			state = "cloud up"
		}
		mq := 0
		if brokerBack.Load() {
			mq, _ = cams.connectedSince(t0)
		}
		return fmt.Sprintf("storm +%5.1fs (%s): %d/%d cameras through, %d/%d back on MQTT, %.0f attempts/s, cloud RSS %d MiB, CPU %.1fs",
			el.Seconds(), state, through.Load(), n, mq, n, rate, rss>>20, (cpu - cpu0).Seconds())
	})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
			fails := 0
			for {
				k := min(int(time.Since(t0)/cfg.Bucket), buckets-1)
				attempts[k].Add(1)
				ok, err := clients[i].Send(sctx, items[i], nil, nil)
				if err == nil && ok {
					back[i] = time.Since(t0) - time.Duration(up.Load())
					through.Add(1)
					items[i] = nil
					if !keepConns {
						clients[i].CloseIdleConnections()
					}
					return
				}
				if sctx.Err() != nil {
					return
				}
				var re *upload.RefusedError
				if errors.As(err, &re) {
					refused[k].Add(1)
				} else if err != nil {
					connFailed[k].Add(1)
				}
				if err != nil && upload.Classify(err) != upload.Transient {
					back[i] = -1 // refused for good: the run reports it as lost
					return
				}
				fails++
				d := delay(cfg, fails, re, rnd)
				t := time.NewTimer(d)
				select {
				case <-sctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-outage.C:
	}
	if _, err := cl.cmd("up"); err != nil {
		stopStorm()
		wg.Wait()
		return nil, err
	}
	tUp := time.Since(t0)
	up.Store(int64(tUp))
	cpuUp, _ := procCPU(cl.pid())
	// The broker restarts after the ingest: loading its saved sessions
	// takes a while at 13,000 cameras, and the MQTT times count from here.
	tBroker := time.Now()
	if err := bs.start(ctx); err != nil {
		stopStorm()
		wg.Wait()
		return nil, err
	}
	brokerPID.Store(int64(bs.pid()))
	brokerBack.Store(true)
	// The MQTT side is back when every camera is connected again, its
	// outbox empty, and the receiver stored every event.
	mqttDone := make(chan struct{})
	var mqttErr error
	var eventsAt time.Duration
	go func() { // owned here: ends by itself or at GiveUp/ctx
		defer close(mqttDone)
		mqttErr = waitFor(ctx, cfg.GiveUp, func() bool {
			c, d := cams.connectedSince(tBroker)
			if eventsAt == 0 && motion() >= uint64(eventsEach*n) {
				eventsAt = time.Since(tBroker)
			}
			return c == n && d == n && eventsAt != 0
		})
	}()
	allDone := make(chan struct{})
	go func() { // owned here: ends when the cameras' goroutines have
		wg.Wait()
		close(allDone)
	}()
	select {
	case <-allDone:
	case <-time.After(cfg.GiveUp):
	case <-ctx.Done():
	}
	<-mqttDone
	tEnd := time.Since(t0)
	cpuEnd, _ := procCPU(cl.pid())
	res.MQTT.BrokerCPU, _ = procCPU(bs.pid())
	res.MQTT.BrokerHWM, _ = procHWM(bs.pid())
	res.MQTT.EventsTime = eventsAt
	if mqttErr != nil {
		res.MQTT.errorf("MQTT: not every camera back with its events by GiveUp: %v", mqttErr)
	}
	if res.MQTT.Back, err = cams.back(tBroker); err != nil {
		res.MQTT.errorf("MQTT: %v", err)
	}
	slices.Sort(res.MQTT.Back)
	for _, pid := range cams.pids() {
		hwm, _ := procHWM(pid)
		res.MQTT.WorkersHWM += hwm
		cpu, _ := procCPU(pid)
		res.MQTT.WorkersCPU += cpu
	}
	stopStorm()
	<-allDone
	swg.Wait()
	stopProgress()
	res.CloudPeakRSS = peakRSS.Load()
	res.MQTT.BrokerPeakRSS = brokerRSS.Load()
	res.CloudCPU = cpuEnd - cpu0
	res.CloudCPUStorm = cpuEnd - cpuUp
	res.StormDuration = tEnd - tUp
	last := int((tEnd)/cfg.Bucket) + 1
	for k := 0; k < min(last, buckets); k++ {
		res.MQTT.Attempts = append(res.MQTT.Attempts, mAttempts[k].Load())
		res.Attempts = append(res.Attempts, attempts[k].Load())
		res.ConnFailed = append(res.ConnFailed, connFailed[k].Load())
		res.Refused = append(res.Refused, refused[k].Load())
	}
	for i := range n {
		if items[i] != nil || back[i] < 0 {
			res.Lost++
			continue
		}
		res.Back = append(res.Back, back[i])
	}
	slices.Sort(res.Back)
	cfg.Progress(fmt.Sprintf("storm: %d/%d cameras through %v after the cloud came back; %d lost",
		len(res.Back), n, res.StormDuration.Round(time.Millisecond), res.Lost))
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Phase 3: what the cloud serves and what it stored.
	res.Check.serve(ctx, cfg, url, cl.ready.Tokens, sent)
	b, err := cl.cmd("stats")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &res.Cloud); err != nil {
		return nil, fmt.Errorf("storm: cloud stats: %w", err)
	}
	res.CloudHWM, _ = procHWM(cl.pid())
	res.MQTT.Duplicates = res.Cloud.Receiver.Duplicates
	res.MQTT.ReceiverRefused = res.Cloud.Receiver.Refused
	res.MQTT.ReceiverDropped = res.Cloud.Receiver.Dropped
	cams.stop()
	cl.stop()
	bs.stop()
	res.MQTT.checkEvents(filepath.Join(cfg.Dir, "events"), cfg)
	cfg.Progress(fmt.Sprintf("check MQTT: %d/%d events stored once, %d lost, %d stored twice, %d wrong; %d repeats dropped by the receiver",
		res.MQTT.Stored, res.MQTT.EventsSent, res.MQTT.Lost, res.MQTT.Repeats, res.MQTT.Wrong, res.MQTT.Duplicates))
	if err := res.Check.store(filepath.Join(cfg.Dir, "ingest", "store", "devices"), cfg, sent); err != nil {
		return nil, err
	}
	cfg.Progress(fmt.Sprintf("check: %d items stored, %d wrong; %d objects served and shown, %d wrong; strangers refused %d/%d",
		res.Check.Stored, res.Check.StoredWrong, res.Check.Served, res.Check.ServedWrong, res.Check.StrangerRefused, res.Check.Strangers))
	return res, nil
}

// delay is the wait before retry n (n >= 1) after err: the uploader's
// policy (upload.Uploader: full jitter, Retry-After plus jitter of up to
// Base), or the same without any jitter.
func delay(cfg Config, n int, re *upload.RefusedError, rnd *rand.Rand) time.Duration {
	if re != nil && re.HasRetryAfter {
		ra := re.RetryAfter / time.Duration(cfg.RetryAfterDiv)
		if cfg.NoJitter {
			return ra
		}
		return ra + time.Duration(rnd.Int64N(int64(cfg.Backoff.Base)+1))
	}
	if !cfg.NoJitter {
		return cfg.Backoff.Delay(n, rnd)
	}
	d := cfg.Backoff.Cap
	if n-1 < 30 {
		d = min(cfg.Backoff.Cap, cfg.Backoff.Base<<(n-1))
	}
	return d
}

// item signs a camera's next item, with its objects in memory.
func item(d *Device, c *chain, cfg Config) (*upload.Item, error) {
	cose, m, err := d.sign(c, cfg.ClipSize, cfg.ThumbSize)
	if err != nil {
		return nil, err
	}
	it := &upload.Item{Name: strconv.FormatUint(m.Seq, 10), Manifest: cose, Seq: m.Seq}
	for role, o := range m.Objects {
		it.Objects = append(it.Objects, upload.Object{Object: o, Data: d.Blob(m.Seq, role, int(o.Size))})
	}
	return it, nil
}

// parallel calls f(0..n-1) on at most width goroutines and returns the
// first error.
func parallel(ctx context.Context, n, width int, f func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(width, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return first
}

// progress calls cfg.Progress with line() every ProgressEvery until the
// returned stop is called; stop waits for the goroutine.
func progress(ctx context.Context, cfg Config, line func() string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				cfg.Progress(line())
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// cloudProc is the running cloud process.
type cloudProc struct {
	proc  *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	ready cloudReady
	once  sync.Once
	mu    sync.Mutex
}

func startCloud(cfg Config, broker string) (*cloudProc, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	cc := cloudConfig{CADir: cfg.Fleet.CADir, IP: cfg.IP, Shared: cfg.FaultShared, Every: cfg.FaultEvery,
		Broker: broker, ReceiverName: receiverName, Keys: map[string][]byte{}}
	for _, d := range cfg.Fleet.Devices {
		cc.Pairs = append(cc.Pairs, []string{d.ID, d.Account})
		der, err := x509.MarshalPKIXPublicKey(d.Key.Public())
		if err != nil {
			return nil, err
		}
		cc.Keys[d.ID] = der
	}
	b, err := json.Marshal(cc)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, cloudFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	logf, err := os.Create(filepath.Join(cfg.Dir, "cloud.log"))
	if err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	defer logf.Close() // the child has its own copy
	cmd := cfg.StartCloud(cfg.Dir)
	cmd.Stderr = logf
	in, out, err := startPiped(cmd)
	if err != nil {
		return nil, fmt.Errorf("storm: start the cloud: %w", err)
	}
	c := &cloudProc{proc: cmd, in: in, out: out}
	line, err := c.out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &c.ready)
	}
	if err != nil || c.ready.Addr == "" {
		c.stop()
		log, _ := os.ReadFile(filepath.Join(cfg.Dir, "cloud.log"))
		return nil, fmt.Errorf("storm: the cloud did not start: %v %q: %s", err, line, log)
	}
	return c, nil
}

func (c *cloudProc) pid() int { return c.proc.Process.Pid }

// cmd sends a command line and returns the answer line.
func (c *cloudProc) cmd(line string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		return nil, fmt.Errorf("storm: cloud %s: %w", line, err)
	}
	b, err := c.out.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("storm: cloud %s: %w", line, err)
	}
	if strings.Contains(string(b), `"error"`) {
		return nil, fmt.Errorf("storm: cloud %s: %s", line, b)
	}
	return b, nil
}

// stop ends the cloud ("quit", closing its stdin) and waits for it.
func (c *cloudProc) stop() {
	c.once.Do(func() {
		_, _ = io.WriteString(c.in, "quit\n")
		_ = c.in.Close()
		done := make(chan struct{})
		go func() { _ = c.proc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = c.proc.Process.Kill()
			<-done
		}
	})
}

// nofile is this process's open-file limit (Go raises the soft limit to
// the hard one at start).
func nofile() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 1024
	}
	return int(min(r.Cur, 1<<30))
}
