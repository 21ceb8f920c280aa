package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/agent/budget"
	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/logring"
	"github.com/camagent/camagent/agent/supervise"
	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/board/timesync"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/capture/synth"
	"github.com/camagent/camagent/capture/y4m"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/upload"
)

// Deps are what the daemon takes from the machine; tests replace them.
// Zero fields get the host's: the real camera, /, /proc, the process's
// mount table, the wall clock, stderr.
type Deps struct {
	// OpenSource opens the camera described by the capture config
	// (default OpenSource).
	OpenSource func(c config.CaptureConfig, warn func(string, ...any)) (capture.Source, error)
	// Root is where the board's /sys and /dev are ("/"); NoBoard runs
	// without the board's LED, watchdog and IR lines (tests).
	Root    string
	NoBoard bool
	// ProcRoot is where /proc is ("/proc").
	ProcRoot string
	// MountTable is the mount table the SD card is looked up in
	// ("/proc/self/mounts").
	MountTable string
	// Console receives the log (besides the ring the control socket serves).
	Console io.Writer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Version is the agent's version, for the log, the status and the run
	// record.
	Version string
	// RuntimeLimits sets the Go memory limit and GC target of the process
	// from the memory plan (the agent does; tests, sharing one process,
	// leave it off).
	RuntimeLimits bool
	// Reboot asks the init system for a clean reboot (nil: the reboot
	// command in PATH) and Euid is the effective user ID (nil:
	// os.Geteuid); the privileged actions (shell, signed commands) use
	// them, tests fake them.
	Reboot func(ctx context.Context) error
	Euid   func() int
}

func (dp *Deps) fill() {
	if dp.Root == "" {
		dp.Root = "/"
	}
	if dp.ProcRoot == "" {
		dp.ProcRoot = "/proc"
	}
	if dp.MountTable == "" {
		dp.MountTable = "/proc/self/mounts"
	}
	if dp.Console == nil {
		dp.Console = os.Stderr
	}
	if dp.Now == nil {
		dp.Now = time.Now
	}
	if dp.Version == "" {
		dp.Version = "dev"
	}
}

// OpenSource opens what capture.source names: the V4L2 device, or a synthetic
// scene or Y4M file played at its own frame rate.
func OpenSource(c config.CaptureConfig, warn func(string, ...any)) (capture.Source, error) {
	return openSource(c, 0, warn)
}

// openSource is OpenSource with a frame pool of pool frames (0: the
// source's default).
func openSource(c config.CaptureConfig, pool int, warn func(string, ...any)) (capture.Source, error) {
	switch c.Source {
	case "synthetic":
		return capture.NewRealtime(func() (capture.Source, error) {
			// The scene loops inside the source: made again at each end it
			// would build its background and frame pool again.
			return synth.New(synth.Config{Scene: synth.Scene(c.Scene), Width: c.Width &^ 1, Height: c.Height &^ 1,
				FPS: c.FPS, Format: capture.FormatYUYV, Pool: pool, Loop: true})
		}, false)
	case "y4m":
		return capture.NewRealtime(func() (capture.Source, error) {
			f, err := os.Open(c.File)
			if err != nil {
				return nil, fmt.Errorf("capture: %w", err)
			}
			r, err := y4m.NewReader(f, y4m.ReaderOptions{Pool: pool})
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("capture: %s: %w", c.File, err)
			}
			return r, nil
		}, c.Loop)
	default:
		return capture.OpenV4L2(capture.V4L2Config{
			Device: c.Device, Formats: c.PixelFormats(), Width: c.Width, Height: c.Height,
			FPS: c.FPS, Buffers: c.Buffers, Controls: c.Controls, Warn: warn, Pool: pool,
		})
	}
}

// Daemon wires the agent's parts and holds what the status report shows.
type Daemon struct {
	deps    Deps
	log     *slog.Logger
	level   *slog.LevelVar
	ring    *logring.Ring
	console *consoleGate // the log on the console, held while a shell shows it
	started time.Time
	bootID  string

	mu  sync.Mutex
	cfg config.Config
	src config.Source

	// card is the SD card the storage part probes; store is the clip store
	// on it, created before any part that uses it and replaced (with
	// those parts restarted) when [storage] changes.
	card     *storage.Card
	store    *storage.Store
	storeErr error
	health   storage.Health

	hub      *capture.Hub
	capture  *capture.Runner
	sup      *supervise.Supervisor
	parts    []part
	motion   *motionPart   // frames to events; its sink is rec
	rec      *recorderPart // events to clips in the store
	hw       *hardware
	mem      memory                          // the memory budget's plan (memory.go)
	uploader atomic.Pointer[upload.Uploader] // nil while the upload part is not running
	mq       atomic.Pointer[mqtt.Client]     // nil while the mqtt part is not running; set by setMQ
	mqMu     sync.Mutex
	mqCh     chan struct{} // closed when mq changes (mqChanged)
	live     liveView      // live view's server (live.go; none in a nolive build)

	// clock says whether the clock is trusted; its Run is the "time" part
	// while [time] enable is on.
	clock *timesync.Sync

	idMu sync.Mutex
	id   *deviceIdentity // nil until the device key opened

	// ha is the Home Assistant publisher, nil while the mqtt-local part
	// is not running.
	ha localPublisher
	// hold keeps the recorder off the card while format-sd erases it.
	hold cardHold
	// curSeal signs the current clip store's manifests (and snapshots');
	// snapKick wakes the snapshots part.
	curSeal  atomic.Pointer[clipSealer]
	snapKick snapshotKick
}

// New wires a daemon for cfg (loaded from src). Run runs it.
func New(cfg config.Config, src config.Source, dp Deps) *Daemon {
	dp.fill()
	var err error
	d := &Daemon{deps: dp, cfg: cfg, src: src, started: dp.Now(), level: new(slog.LevelVar),
		ring: logring.New(cfg.Log.RingLines), hub: &capture.Hub{}, mqCh: make(chan struct{})}
	d.level.Set(cfg.Log.SlogLevel())
	d.console = newConsoleGate(dp.Console, dp.Now)
	out := io.MultiWriter(d.console, d.ring)
	opts := &slog.HandlerOptions{Level: d.level}
	if cfg.Log.Format == "json" {
		d.log = slog.New(slog.NewJSONHandler(out, opts))
	} else {
		d.log = slog.New(slog.NewTextHandler(out, opts))
	}
	d.bootID, err = board.BootID(dp.ProcRoot)
	if err != nil {
		// Manifests name the run; without the kernel's ID, make one up.
		var b [16]byte
		rand.Read(b[:])
		d.bootID = fmt.Sprintf("%x", b)
		d.log.Warn("no kernel boot ID; using a random one", "err", err, "boot_id", d.bootID)
	}
	d.clock = d.newClock(cfg.Time)
	d.card = d.newCard(cfg.Storage.Mount)
	d.store, d.storeErr = d.newStore(cfg)
	d.rec = &recorderPart{hub: d.hub, store: d.clipStore, log: d.log.With("part", "recorder"),
		config: func() config.StorageConfig { c, _ := d.config(); return c.Storage },
		plan:   func() budget.Plan { c, _ := d.config(); return d.memoryPlan(c) },
		hold:   &d.hold, credentials: d.credentials}
	d.motion = &motionPart{hub: d.hub, sink: d.rec, publish: d.publish, log: d.log.With("part", "motion"),
		feed:   NewMotionFeed(control.MaxMotion),
		config: func() motion.Config { c, _ := d.config(); return c.Motion }}
	prof, _ := board.Lookup(cfg.Board)
	d.hw = &hardware{}
	if !dp.NoBoard {
		d.hw = openHardware(prof, dp.Root, d.log, d.nightMode)
	}
	lightLog := d.motion.log
	d.motion.light = func(at time.Time, b float64) { d.hw.observeLight(at, b, lightLog) }
	d.capture = capture.NewRunner(capture.RunnerConfig{
		Open:   d.openCamera,
		Hub:    d.hub,
		Logger: d.log.With("part", "capture"),
	})
	d.sup = d.wire(cfg.ShutdownTimeout.Duration)
	return d
}

// wire lists the parts, what config sections each depends on (a change of
// one restarts it), and the stages they stop in: the camera and motion
// first, so that the recorder then seals its open clip with the last frames;
// then the upload; then the control socket and watchers; the board (LED,
// watchdog) last. Each stage gets its share of shutdown_timeout.
func (d *Daemon) wire(shutdown time.Duration) *supervise.Supervisor {
	const (
		capture  = config.SectionCapture
		control  = config.SectionControl
		motion   = config.SectionMotion
		storage_ = config.SectionStorage
		upload   = config.SectionUpload
		time_    = config.SectionTime
		mqtt_    = config.SectionMQTT
		live_    = config.SectionLive
		ident    = config.SectionIdentity
	)
	stage := func(name string, share time.Duration, parts ...part) supervise.Stage {
		st := supervise.Stage{Name: name, Grace: shutdown * share / 10}
		for _, p := range parts {
			d.parts = append(d.parts, p)
			st.Parts = append(st.Parts, p)
		}
		return st
	}
	return supervise.NewStaged(supervise.Config{Logger: d.log},
		stage("capture", 2,
			part{name: "capture", run: d.runCapture, sections: []string{capture}},
			part{name: "motion", run: d.motion.Run, sections: []string{motion}}),
		stage("recorder", 4, part{name: "recorder", run: d.rec.Run, sections: []string{storage_}}),
		stage("upload", 2, part{name: "upload", run: d.runUpload, sections: []string{storage_, upload}},
			part{name: "mqtt", run: d.runMQTT, sections: []string{mqtt_}},
			part{name: "mqtt-local", run: d.runLocal, sections: []string{mqtt_}},
			part{name: "snapshots", run: d.runSnapshots, sections: []string{storage_, upload, ident}},
			part{name: "live", run: d.runLive, sections: []string{live_, mqtt_, ident}}),
		stage("service", 1,
			part{name: "control", run: d.serveControl, sections: []string{control}},
			part{name: "config", run: d.watchConfig},
			part{name: "storage", run: d.watchStorage, sections: []string{storage_}},
			part{name: "time", run: d.runClock, sections: []string{time_}},
			part{name: "memory", run: d.watchMemory}),
		stage("board", 1, part{name: "board", run: d.runHardware}),
	)
}

// part adapts a function to supervise.Part.
type part struct {
	name string
	run  func(context.Context) error
	// sections are the config sections the part reads when it starts.
	sections []string
}

func (p part) Name() string                  { return p.name }
func (p part) Run(ctx context.Context) error { return p.run(ctx) }

func (d *Daemon) config() (config.Config, config.Source) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg, d.src
}

// Run runs the daemon's parts until ctx ends, then stops them and marks the
// run record clean.
func (d *Daemon) Run(ctx context.Context) error {
	cfg, src := d.config()
	prof, _ := board.Lookup(cfg.Board)
	d.log.Info("camagent starting", "version", d.deps.Version, "board", prof.Name, "config", src.Path,
		"config_hash", src.Hash, "boot_id", d.bootID)
	// The device key is created at first start; a failure here is retried
	// when the first clip is sealed.
	_, _ = d.identity()
	// Keep the rest of the agent going while the supervisor runs the parts; a
	// clean exit is ctx ending and every part returning within the grace period.
	err := d.sup.Run(ctx, cfg.ShutdownTimeout.Duration)
	d.finish()
	if err != nil {
		d.log.Error("shutdown", "err", err)
		return err
	}
	d.log.Info("camagent stopped", "uptime", d.deps.Now().Sub(d.started).Round(time.Second))
	return nil
}

// openCamera opens the camera with the current capture config, its frame
// pool sized by the memory plan.
func (d *Daemon) openCamera() (capture.Source, error) {
	cfg, _ := d.config()
	warn := d.log.With("part", "capture").Warn
	if d.deps.OpenSource != nil {
		return d.deps.OpenSource(cfg.Capture, warn)
	}
	return openSource(cfg.Capture, d.memoryPlan(cfg).Frames, warn)
}

func (d *Daemon) newCard(mount string) *storage.Card {
	c := storage.NewCard(mount)
	c.MountTable = d.deps.MountTable
	return c
}

// serveControl runs the control socket.
func (d *Daemon) serveControl(ctx context.Context) error {
	cfg, _ := d.config()
	srv := control.NewServer(control.ServerConfig{
		Path:   cfg.Control.Socket,
		Logger: d.log.With("part", "control"),
		Routes: append([]control.Route{
			control.StatusRoute(func(context.Context) (control.Status, error) { return d.status(), nil }),
			control.LogsRoute(d.tail),
			uploadsRoute(d.uploadStatus),
			d.mqttEventsRoute(),
			{Method: http.MethodPost, Path: control.PathCaptureControl, Write: true, Handler: http.HandlerFunc(d.serveCaptureControl)},
		}, d.shellRoutes()...),
	})
	return srv.Run(ctx)
}

func (d *Daemon) tail(n int) []string {
	lines := d.ring.Tail(n)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

// watchConfig applies valid changes of the config file as they happen.
func (d *Daemon) watchConfig(ctx context.Context) error {
	cfg, src := d.config()
	w := config.NewWatcher(src.Path, d.log.With("part", "config"), os.Getenv)
	w.SetCurrent(cfg, src)
	return w.Run(ctx, d.apply)
}

// apply switches to a new, already validated config and restarts the parts
// that depend on a section that changed.
func (d *Daemon) apply(next config.Config, src config.Source) {
	d.mu.Lock()
	prev := d.cfg
	d.cfg, d.src = next, src
	d.mu.Unlock()
	// The watcher logs "config reloaded" with the path, hash and changed
	// sections once apply returns.
	changed := config.Changed(prev, next)
	for _, section := range changed {
		switch section {
		case config.SectionLog:
			d.level.Set(next.Log.SlogLevel())
			if next.Log.Format != prev.Log.Format || next.Log.RingLines != prev.Log.RingLines {
				d.log.Warn("log.format and log.ring_lines take effect at the next start")
			}
		case config.SectionStorage:
			store, err := d.newStore(next)
			d.mu.Lock()
			d.card = d.newCard(next.Storage.Mount)
			d.store, d.storeErr = store, err
			d.mu.Unlock()
		case config.SectionIdentity, config.SectionBoard:
			d.log.Warn(section + " takes effect at the next start")
		}
	}
	for _, p := range d.parts {
		if slices.ContainsFunc(p.sections, func(s string) bool { return slices.Contains(changed, s) }) {
			d.sup.Restart(p.name)
		}
	}
}

// newStore is the clip store on the card of cfg, whose sealed clips the
// store's clipSealer signs.
func (d *Daemon) newStore(cfg config.Config) (*storage.Store, error) {
	s := cfg.Storage
	log := d.log.With("part", "storage")
	seal := &clipSealer{identity: d.identity, stateDir: filepath.Dir(cfg.Identity.Key), bootID: d.bootID,
		synced: d.clockTrusted, log: d.log.With("part", "identity"), published: d.publish}
	store, err := storage.NewStore(storage.StoreConfig{
		Card:   d.newCard(s.Mount),
		Logger: log,
		Now:    d.deps.Now,
		Retention: storage.Retention{FreeFloor: mib(s.FreeFloorMB), CriticalFloor: mib(s.CriticalFloorMB),
			Quota: mib(s.QuotaMB)},
		OnSeal:      seal.Seal,
		Credentials: d.clipCredentials(),
		OnDelete: func(del storage.Deletion) {
			what := "clip"
			if del.Snapshot {
				what = "snapshot" // del.Name is snapshots/NAME
			}
			log.Warn("retention deleted a "+what, what, del.Name, "uploaded", del.Uploaded, "reason", del.Reason)
			d.publish(event.Event{Kind: event.KindRetention, Time: del.Time, Clip: del.Name, Deleted: 1,
				Freed: uint64(max(del.Size, 0)), Reason: del.Reason})
		},
	})
	seal.store = store
	d.curSeal.Store(seal)
	return store, err
}

// clipStore is the current clip store.
func (d *Daemon) clipStore() (*storage.Store, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.store, d.storeErr
}

// identity opens the device key (creating it at first start) and the owner
// binding, once; after a failure the next call tries again.
func (d *Daemon) identity() (*deviceIdentity, error) {
	d.idMu.Lock()
	defer d.idMu.Unlock()
	if d.id != nil {
		return d.id, nil
	}
	cfg, _ := d.config()
	id, err := openIdentity(identityConfig{key: cfg.Identity.Key, cloudKey: cfg.Identity.CloudKey}, d.log.With("part", "identity"))
	if err != nil {
		d.log.Warn("device key unavailable: clips are kept unsigned until it is", "err", err)
		return nil, err
	}
	d.id = id
	return id, nil
}

// watchStorage probes the SD card every few seconds, logs each change of its
// state, and keeps the run record on it.
func (d *Daemon) watchStorage(ctx context.Context) error {
	const every = 5 * time.Second
	wrote := false
	last := ""
	for {
		d.mu.Lock()
		card := d.card
		d.mu.Unlock()
		h := card.Probe()
		d.mu.Lock()
		d.health = h
		d.mu.Unlock()
		if h.State != last {
			if h.Err != nil {
				d.log.Warn("sd card", "state", h.State, "err", h.Err)
			} else {
				d.log.Info("sd card", "state", h.State, "device", h.Device, "fs", h.FSType,
					"free_mb", h.FreeBytes>>20, "total_mb", h.TotalBytes>>20)
			}
			last = h.State
			d.publish(sdMessage(h))
		}
		if h.State == storage.StateWritable {
			if !wrote {
				wrote = d.startRunRecord(card)
			} else {
				d.keepRunRecord(card)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// sdMessage is the MQTT event of a change of the card's state.
func sdMessage(h storage.Health) event.Event {
	e := event.Event{Kind: event.KindSD, State: "error"}
	switch h.State {
	case storage.StateWritable:
		e.State = "ok"
	case storage.StateMissing, storage.StateReadOnly, storage.StateFull:
		e.State = h.State
	}
	if h.Err != nil {
		e.Reason = h.Err.Error()
	} else if e.State == "error" {
		e.Reason = h.State
	}
	return e
}

// runCapture is the capture part; a failure of the camera is also a
// capture-fault event (the supervisor restarts the part).
func (d *Daemon) runCapture(ctx context.Context) error {
	err := d.capture.Run(ctx)
	if err != nil && ctx.Err() == nil {
		d.publish(event.Event{Kind: event.KindCaptureFault, Reason: err.Error()})
	}
	return err
}

// startRunRecord reports how the previous run ended and marks this one as
// running (not yet cleanly stopped).
func (d *Daemon) startRunRecord(card *storage.Card) bool {
	prev, ok, err := card.LoadRunRecord()
	switch {
	case err != nil:
		d.log.Warn("previous run record unreadable", "err", err)
	case ok && !prev.CleanShutdown:
		d.log.Warn("previous run did not shut down cleanly (power loss or crash)", "boot_id", prev.BootID, "started", prev.Started)
	case ok:
		d.log.Info("previous run shut down cleanly", "boot_id", prev.BootID, "frames", prev.Frames)
	}
	if err := card.SaveRunRecord(d.runRecord(false)); err != nil {
		d.log.Warn("cannot write the run record", "err", err)
		return false
	}
	return true
}

// keepRunRecord writes this run's record again when it is gone from the
// card (the agent's folder removed behind its back, no write failing): a
// power cut after that must still show at the next start as an unclean end.
func (d *Daemon) keepRunRecord(card *storage.Card) {
	if _, ok, err := card.LoadRunRecord(); ok && err == nil {
		return
	}
	d.log.Warn("run record gone from the card (was the agent's folder removed?); writing it again")
	if err := card.SaveRunRecord(d.runRecord(false)); err != nil {
		d.log.Warn("cannot write the run record", "err", err)
	}
}

func (d *Daemon) runRecord(clean bool) storage.RunRecord {
	r := storage.RunRecord{BootID: d.bootID, Version: d.deps.Version, Started: d.started.UTC(),
		CleanShutdown: clean, Frames: d.capture.Stats().Frames}
	if clean {
		r.Stopped = d.deps.Now().UTC()
	}
	return r
}

// finish runs after every part has stopped: it marks the run record clean
// and stops the watchdog (magic close) and the status LED.
func (d *Daemon) finish() {
	defer d.hw.close(d.log)
	d.mu.Lock()
	card := d.card
	d.mu.Unlock()
	if h := card.Probe(); h.State != storage.StateWritable && h.State != storage.StateFull {
		d.log.Warn("run record not written", "sd", h.State)
		return
	}
	if err := card.SaveRunRecord(d.runRecord(true)); err != nil {
		d.log.Warn("run record not written", "err", err)
	}
}

// status assembles the control socket's status report.
func (d *Daemon) status() control.Status {
	cfg, src := d.config()
	d.mu.Lock()
	h := d.health
	d.mu.Unlock()
	cs := d.capture.Stats()
	st := control.Status{
		Version: d.deps.Version, Started: d.started, UptimeSeconds: d.deps.Now().Sub(d.started).Seconds(),
		ConfigPath: src.Path, ConfigHash: src.Hash, ConfigLoaded: src.Loaded,
		Capture: control.CaptureStatus{
			Device: sourceName(cfg.Capture), State: cs.State,
			Width: cs.Format.Width, Height: cs.Format.Height, Stride: cs.Format.Stride,
			FPS: cs.FPS, NegotiatedFPS: cs.Format.FPS,
			Frames: cs.Frames, Dropped: cs.Dropped, BadFrames: cs.BadFrames,
		},
		Storage: control.StorageStatus{Mount: cfg.Storage.Mount, State: h.State,
			FreeBytes: h.FreeBytes, TotalBytes: h.TotalBytes},
	}
	if cs.Format.Pixel != 0 {
		st.Capture.Format = cs.Format.Pixel.String()
	}
	for _, q := range d.hub.Stats() {
		st.Capture.Queues = append(st.Capture.Queues, control.QueueStatus{Name: q.Name, Delivered: q.Delivered, Dropped: q.Dropped})
	}
	if ms, last, events, ok := d.motion.status(); ok {
		if len(events) > 10 {
			events = events[len(events)-10:]
		}
		recent := make([]control.Event, 0, len(events))
		for i := range events {
			recent = append(recent, shellEvent(&events[i]))
		}
		st.Motion = &control.MotionStatus{Stats: ms, ScorePercent: control.Percent(last.Score), Threshold: last.Threshold,
			Boxes: last.Boxes, Recent: recent}
	}
	if rec := d.rec.current(); rec != nil {
		rs := rec.Status()
		st.Recorder = &rs
	}
	if c := d.mq.Load(); c != nil {
		ms := c.Status()
		st.MQTT = &ms
	}
	st.Live = d.liveStatus()
	ts := d.clockSync().Status()
	st.Time = &ts
	d.idMu.Lock()
	if id := d.id; id != nil {
		st.Identity = &control.IdentityStatus{DeviceID: id.id, Owner: id.Owner()}
	}
	d.idMu.Unlock()
	if store, _ := d.clipStore(); store != nil {
		ss := store.Status()
		st.Clips = &ss
	}
	st.Memory = d.memoryStatus(&st)
	for _, p := range d.sup.Status() {
		st.Parts = append(st.Parts, control.PartStatus{Name: p.Name, State: p.State, Since: p.Since,
			Restarts: p.Restarts, LastError: p.LastError})
	}
	return st
}

// newClock is the clock's tracker for [time]. Servers were checked with the
// config, so New fails only on a config that skipped validation: then the
// tracker has no servers and only reads the kernel's state.
func (d *Daemon) newClock(c config.TimeConfig) *timesync.Sync {
	log := d.log.With("part", "time")
	ts, err := timesync.New(timesync.Config{Servers: c.Servers, Log: log})
	if err != nil {
		log.Warn("time servers refused; the clock is trusted only when the kernel says so", "err", err)
		ts, _ = timesync.New(timesync.Config{Log: log})
	}
	return ts
}

func (d *Daemon) clockSync() *timesync.Sync {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.clock
}

// clockTrusted says whether the clock is synchronised (the manifests'
// clock_trusted flag).
func (d *Daemon) clockTrusted() bool { return d.clockSync().Trusted() }

// runClock is the "time" part: with [time] enable on it keeps the clock
// (SNTP to the servers when no NTP client does); off, it waits, and the
// tracker still reads the kernel's state for the manifests.
func (d *Daemon) runClock(ctx context.Context) error {
	cfg, _ := d.config()
	if !cfg.Time.Enable {
		<-ctx.Done()
		return nil
	}
	ts := d.newClock(cfg.Time)
	d.mu.Lock()
	d.clock = ts
	d.mu.Unlock()
	return ts.Run(ctx)
}

// sourceName says where frames come from, for the status report.
func sourceName(c config.CaptureConfig) string {
	switch c.Source {
	case "synthetic":
		return "synthetic:" + c.Scene
	case "y4m":
		return "y4m:" + c.File
	}
	return c.Device
}

// serveCaptureControl sets a V4L2 control on the running camera (the QEMU
// camera's vivid movement, a real camera's exposure) without a restart.
func (d *Daemon) serveCaptureControl(w http.ResponseWriter, r *http.Request) {
	var req control.CaptureControl
	if !control.ReadJSON(w, r, &req) {
		return
	}
	if err := d.capture.SetControl(req.Name, req.Value); err != nil {
		control.WriteError(w, http.StatusConflict, err.Error())
		return
	}
	d.log.Info("capture control set", "name", req.Name, "value", req.Value)
	control.WriteJSON(w, http.StatusOK, req)
}
