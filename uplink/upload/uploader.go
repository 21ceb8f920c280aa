package upload

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/manifest"
)

// Store is what the uploader needs of the clip store (storage.Store). The
// uploader knows nothing of the card's folders or sidecar files: the store
// announces each clip that becomes complete, says which clips are still to
// upload, and names each clip's files (ClipInfo's Path, Thumbnail and
// Manifest).
type Store interface {
	// Subscribe announces each clip that becomes complete, and signals
	// Changed when clips may be pending that it did not announce.
	Subscribe(depth int) *storage.Subscription
	// Pending lists the complete clips not uploaded yet, oldest first: the
	// queue.
	Pending() ([]storage.ClipInfo, error)
	// MarkUploaded records that a clip is uploaded.
	MarkUploaded(name string) error
	// Checked reports whether the store has put the card in order since it
	// started: until then clips a power cut left unsealed are not pending
	// yet, and the status says so (Status.Unchecked).
	Checked() bool
}

// Defaults of Config.
const (
	DefaultStartDelay    = 30 * time.Second
	DefaultBackoffBase   = 2 * time.Second
	DefaultBackoffCap    = 5 * time.Minute
	DefaultRefusedCap    = 6 * time.Hour // backoff cap while the ingest refuses the device
	DefaultItemRate      = 1.0           // upload steps per second
	DefaultItemBurst     = 4
	DefaultParkFor       = time.Hour
	DefaultRescan        = 5 * time.Minute
	DefaultMaxQueue      = 1024 // about 1 KiB of memory each
	DefaultProgressEvery = 30 * time.Second
	MaxStatusItems       = 50
	// announceQueue is how many announced clips wait for the uploader
	// while it is busy; beyond it the store signals Changed and the
	// uploader asks Pending.
	announceQueue = 64
)

// Config configures an Uploader. Zero fields take their defaults.
type Config struct {
	Store  Store   // required
	Client *Client // required
	// DeviceID is this camera's ID: manifests on the card signed by another
	// device (a card moved from another camera) are not sent.
	DeviceID string
	Logger   *slog.Logger
	// Now and After are the clock (default time.Now and time.After): every
	// wait (start delay, backoff, pacing, parking) goes through After.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Rand draws the jitter; default seeded from crypto/rand. Used by the
	// Run goroutine only.
	Rand *rand.Rand
	// StartDelay is the most the first attempt after start waits (a random
	// time in [0, StartDelay]), so that cameras powered up together (after
	// a power cut) do not all connect at once. Negative: no delay.
	StartDelay time.Duration
	// Backoff is the retry backoff after a failure (full jitter).
	Backoff Backoff
	// RefusedCap caps the backoff (from Backoff.Base) while the ingest
	// refuses the device itself (certificate, pairing): that is not fixed by
	// waiting five minutes, and thousands of refused cameras must not knock
	// every five minutes. Default DefaultRefusedCap.
	RefusedCap time.Duration
	// ItemRate and ItemBurst pace the upload steps (a step posts one
	// manifest and sends the objects it may) through a token bucket, so a
	// backlog drains at a steady rate. The bandwidth cap is the Client's
	// Limiter.
	ItemRate  float64
	ItemBurst int
	// ParkFor is how long an item the ingest refused for good is set aside
	// before it is tried again.
	ParkFor time.Duration
	// Rescan is how often the store is asked again what is pending, in
	// case an announcement was missed. Negative: never (tests).
	Rescan time.Duration
	// MaxQueue bounds the items held in memory; the rest wait on the card.
	MaxQueue int
	// ProgressEvery is how often a long drain logs its progress.
	ProgressEvery time.Duration
	// OnUploaded is told of each clip once the ingest has all of it and it
	// is marked uploaded. It must not block.
	OnUploaded func(name string)
}

// Uploader sends the sealed clips on the card to the ingest: oldest
// (lowest sequence number) first, every pending manifest and thumbnail
// before clip bodies, resumable, paced and with backoff. The card is the
// queue: a clip is pending until it is marked uploaded.
type Uploader struct {
	store    Store
	cl       *Client
	deviceID string
	log      *slog.Logger
	clk      clock
	rnd      *rand.Rand
	cfg      Config
	items    *bucket

	wake     chan struct{}
	needScan atomic.Bool

	mu          sync.Mutex
	queue       map[string]*qitem
	truncated   bool // the last scan found more than MaxQueue items
	state       string
	current     string
	failures    int
	lastErr     string
	lastCode    string
	lastErrAt   time.Time
	blocked     string // why the ingest refuses this device, until an upload succeeds
	nextAttempt time.Time
	busy        int // 503s with Retry-After in a row (the cloud busy)
	uploaded    uint64
	bytesSent   uint64
	lastUpload  time.Time

	drainStart time.Time // when the current backlog started draining
	drainDone  int       // items uploaded since
	lastLog    time.Time
}

// qitem is one clip in the queue.
type qitem struct {
	name   string
	item   Item
	body   bool      // manifest and small objects are at the ingest: only the clip body is left
	parked time.Time // not tried before this
	code   string    // why it is parked
	broken string    // why it can never be sent (bad or foreign manifest); it stays listed
	sent   map[string]uint64
	total  uint64
	first  time.Time // the first attempt since the uploader started
	done   bool      // uploaded and marked (under mu)
}

// New returns an uploader; Run starts it.
func New(cfg Config) (*Uploader, error) {
	if cfg.Store == nil || cfg.Client == nil || cfg.DeviceID == "" {
		return nil, fmt.Errorf("%w: Store, Client and DeviceID are required", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.StartDelay == 0 {
		cfg.StartDelay = DefaultStartDelay
	}
	if cfg.Backoff.Base <= 0 {
		cfg.Backoff.Base = DefaultBackoffBase
	}
	if cfg.Backoff.Cap <= 0 {
		cfg.Backoff.Cap = DefaultBackoffCap
	}
	if cfg.RefusedCap <= 0 {
		cfg.RefusedCap = DefaultRefusedCap
	}
	if cfg.Backoff.Cap < cfg.Backoff.Base {
		return nil, fmt.Errorf("%w: backoff cap %v below base %v", ErrConfig, cfg.Backoff.Cap, cfg.Backoff.Base)
	}
	if cfg.ItemRate <= 0 {
		cfg.ItemRate = DefaultItemRate
	}
	if cfg.ItemBurst <= 0 {
		cfg.ItemBurst = DefaultItemBurst
	}
	if cfg.ParkFor <= 0 {
		cfg.ParkFor = DefaultParkFor
	}
	if cfg.Rescan == 0 {
		cfg.Rescan = DefaultRescan
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.Rand == nil {
		var seed [16]byte
		_, _ = crand.Read(seed[:])
		cfg.Rand = rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	}
	clk := clock{now: cfg.Now, after: cfg.After}.fill()
	return &Uploader{store: cfg.Store, cl: cfg.Client, deviceID: cfg.DeviceID, log: cfg.Logger, clk: clk,
		rnd: cfg.Rand, cfg: cfg, items: newBucket(cfg.ItemRate, cfg.ItemBurst, clk.now()),
		wake: make(chan struct{}, 1), queue: map[string]*qitem{}, state: "starting"}, nil
}

// UploadNow makes the uploader ask the store what is pending and try the clips waiting
// now, without waiting for the next pass (the remote upload-now command).
func (u *Uploader) UploadNow() {
	u.needScan.Store(true)
	u.nudge()
}

func (u *Uploader) nudge() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Run uploads until ctx ends, then returns nil after its goroutines exit.
func (u *Uploader) Run(ctx context.Context) error {
	defer u.setState("stopped")
	// Subscribed from the start: clips completed during the start delay
	// are announced (and Pending after it lists them anyway).
	sub := u.store.Subscribe(announceQueue)
	defer sub.Close()
	if d := u.jitter(u.cfg.StartDelay); d > 0 {
		u.setWaiting("starting", d)
		u.log.Info("first upload attempt after a random delay", "delay", d.Round(time.Millisecond))
		if u.clk.wait(ctx, d) != nil {
			return nil
		}
	}
	u.scan()
	rescanAt := u.clk.now().Add(u.cfg.Rescan)
	for ctx.Err() == nil {
		u.drain(sub)
		now := u.clk.now()
		if u.needScan.Swap(false) || (u.cfg.Rescan > 0 && !now.Before(rescanAt)) {
			u.scan()
			rescanAt = now.Add(u.cfg.Rescan)
		}
		q, due := u.pick(now)
		if q == nil {
			u.idle(ctx, sub, now, due, rescanAt)
			continue
		}
		if d := u.items.take(now, 1); d > 0 {
			u.setWaiting("pacing", d)
			if u.clk.wait(ctx, d) != nil {
				break
			}
		}
		err := u.step(ctx, q)
		if err != nil && ctx.Err() != nil {
			break
		}
		u.handle(ctx, q, err)
	}
	return nil
}

// idle waits for a new clip, a parked item's time, or the next rescan.
func (u *Uploader) idle(ctx context.Context, sub *storage.Subscription, now, due, rescanAt time.Time) {
	var timer <-chan time.Time
	until := due
	if u.cfg.Rescan > 0 && (until.IsZero() || rescanAt.Before(until)) {
		until = rescanAt
	}
	u.mu.Lock()
	u.state, u.current, u.nextAttempt = "idle", "", due
	u.mu.Unlock()
	if !until.IsZero() {
		timer = u.clk.after(max(until.Sub(now), 0))
	}
	select {
	case <-ctx.Done():
	case <-u.wake:
	case <-timer:
	case info := <-sub.C:
		u.enqueue(info)
	case <-sub.Changed:
		u.needScan.Store(true)
	}
}

// jitter returns a uniformly random duration in [0, d].
func (u *Uploader) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(u.rnd.Int64N(int64(d) + 1))
}

// handle reacts to the outcome of a step.
func (u *Uploader) handle(ctx context.Context, q *qitem, err error) {
	now := u.clk.now()
	if err == nil {
		u.mu.Lock()
		if u.failures > 0 {
			u.log.Info("ingest reachable again", "after_failures", u.failures)
			u.items.empty(now) // drain the backlog at the steady rate, not in a burst
		}
		u.failures = 0
		u.busy = 0
		u.blocked = ""
		done := q.done
		u.mu.Unlock()
		// Told after the status shows the success: whoever hears of the
		// upload sees no failure left over.
		if done && u.cfg.OnUploaded != nil {
			u.cfg.OnUploaded(q.name)
		}
		return
	}
	code := "error"
	var re *RefusedError
	if errors.As(err, &re) {
		code = re.Code
	}
	u.mu.Lock()
	u.lastErr, u.lastCode, u.lastErrAt = err.Error(), code, now
	u.mu.Unlock()
	switch Classify(err) {
	case Local:
		if errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("clip gone before it was uploaded; dropped from the queue", "clip", q.name, "err", err)
			u.remove(q.name)
			return
		}
		u.park(q, now, "local", err)
	case Permanent:
		u.park(q, now, code, err)
	default: // Transient, DeviceLevel: an outage; everything waits
		if re != nil && re.Status == http.StatusServiceUnavailable && re.HasRetryAfter {
			u.cloudBusy(ctx, q, re)
			return
		}
		blocked := ""
		if Classify(err) == DeviceLevel {
			blocked = deviceRefusal(re)
		}
		u.mu.Lock()
		u.failures++
		n := u.failures
		u.blocked = blocked
		u.mu.Unlock()
		d := u.cfg.Backoff.Delay(n, u.rnd)
		if blocked != "" {
			d = Backoff{Base: u.cfg.Backoff.Base, Cap: u.cfg.RefusedCap}.Delay(n, u.rnd)
		}
		if re != nil && re.HasRetryAfter {
			// At least what the ingest asked, plus a little jitter so the
			// cameras it told the same thing do not come back together.
			d = re.RetryAfter + u.jitter(u.cfg.Backoff.Base)
		}
		lvl := slog.LevelWarn
		if n > 1 {
			lvl = slog.LevelDebug
		}
		u.log.Log(ctx, lvl, "upload failed; retrying", "clip", q.name, "failures", n, "retry_in", d.Round(time.Millisecond), "err", err)
		u.setWaiting("backoff", d)
		_ = u.clk.wait(ctx, d)
	}
}

// cloudBusy waits out a 503 with Retry-After: the ingest is at capacity
// (or its lookup is), which is not this camera's fault. The queue stays as
// it is and the outage backoff does not grow: the uploader waits what the
// ingest asked, capped at Backoff.Cap, plus a jitter of up to Backoff.Base
// so that the cameras told the same thing do not come back together.
func (u *Uploader) cloudBusy(ctx context.Context, q *qitem, re *RefusedError) {
	d := min(re.RetryAfter, u.cfg.Backoff.Cap) + u.jitter(u.cfg.Backoff.Base)
	u.mu.Lock()
	u.busy++
	n := u.busy
	u.mu.Unlock()
	lvl := slog.LevelInfo
	if n > 1 {
		lvl = slog.LevelDebug
	}
	u.log.Log(ctx, lvl, "cloud busy; retrying", "clip", q.name, "code", re.Code, "retry_in", d.Round(time.Millisecond))
	u.setWaiting(stateBusy, d)
	_ = u.clk.wait(ctx, d)
}

func (u *Uploader) park(q *qitem, now time.Time, code string, err error) {
	u.log.Warn("upload refused; item set aside", "clip", q.name, "code", code, "retry_in", u.cfg.ParkFor, "err", err)
	u.mu.Lock()
	q.parked, q.code = now.Add(u.cfg.ParkFor), code
	u.mu.Unlock()
}

func (u *Uploader) setState(s string) {
	u.mu.Lock()
	u.state = s
	u.mu.Unlock()
}

func (u *Uploader) setWaiting(state string, d time.Duration) {
	u.mu.Lock()
	u.state, u.nextAttempt = state, u.clk.now().Add(d)
	u.mu.Unlock()
}

// pick returns the next item to work on: items whose manifest is not at the
// ingest yet first, then clip bodies, each lowest sequence number first;
// parked and broken items are skipped. due is when the next parked item
// comes back (zero if none).
func (u *Uploader) pick(now time.Time) (q *qitem, due time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.queue {
		if c.broken != "" {
			continue
		}
		if c.parked.After(now) {
			if due.IsZero() || c.parked.Before(due) {
				due = c.parked
			}
			continue
		}
		if q == nil || before(c, q) {
			q = c
		}
	}
	if q != nil {
		u.current, u.state = q.name, "uploading"
	}
	return q, due
}

// before orders the queue: head phase before bodies, then by sequence.
func before(a, b *qitem) bool {
	if a.body != b.body {
		return !a.body
	}
	if a.item.Seq != b.item.Seq {
		return a.item.Seq < b.item.Seq
	}
	return a.name < b.name
}

// othersFirst reports whether another item goes before q's clip body: one
// that still needs its manifest and thumbnail sent, or an older body.
func (u *Uploader) othersFirst(q *qitem, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range u.queue {
		if c == q || c.broken != "" || c.parked.After(now) {
			continue
		}
		if !c.body || c.item.Seq < q.item.Seq || (c.item.Seq == q.item.Seq && c.name < q.name) {
			return true
		}
	}
	return false
}

// step does one paced unit of work on q: post its manifest and send what
// the ingest lacks, holding the clip body back while other items still need
// their manifest and thumbnail sent or have older bodies to send.
func (u *Uploader) step(ctx context.Context, q *qitem) error {
	if q.first.IsZero() {
		q.first = u.clk.now()
	}
	want := func(role string) bool {
		return !IsBody(role) || q.body || !u.othersFirst(q, u.clk.now())
	}
	progress := func(role string, n int, pos, _ uint64) {
		u.mu.Lock()
		u.bytesSent += uint64(n)
		q.sent[role] = pos
		u.mu.Unlock()
	}
	complete, err := u.cl.Send(ctx, &q.item, want, progress)
	if err != nil {
		return err
	}
	if !complete {
		u.mu.Lock()
		wasBody := q.body
		q.body = true
		u.mu.Unlock()
		if wasBody {
			return fmt.Errorf("%w: %s", ErrIncomplete, q.name)
		}
		return nil
	}
	if err := u.store.MarkUploaded(q.name); err != nil {
		// The ingest has it; a later scan finds it again and the replayed
		// manifest is answered complete at once.
		u.log.Error("clip uploaded but not marked", "clip", q.name, "err", err)
	}
	now := u.clk.now()
	u.mu.Lock()
	delete(u.queue, q.name)
	q.done = true
	u.uploaded++
	u.lastUpload = now
	u.drainDone++
	left := len(u.queue)
	var leftBytes uint64
	for _, c := range u.queue {
		leftBytes += c.total
	}
	logNow := left > 0 && now.Sub(u.lastLog) >= u.cfg.ProgressEvery
	if logNow {
		u.lastLog = now
	}
	done, since := u.drainDone, now.Sub(u.drainStart)
	if left == 0 {
		u.drainDone, u.drainStart = 0, time.Time{}
	}
	if u.truncated && left < u.cfg.MaxQueue/2 {
		u.needScan.Store(true)
	}
	u.mu.Unlock()
	// One line per clip: its objects' size and the time from the first
	// attempt (pacing and retries included) to the ingest's last answer.
	u.log.Info("clip uploaded", "clip", q.name, "seq", q.item.Seq, "bytes", q.total, "took", now.Sub(q.first).Round(time.Millisecond))
	if logNow {
		u.log.Info("upload backlog draining", "uploaded", done, "in", since.Round(time.Second), "left", left, "left_bytes", leftBytes)
	}
	return nil
}

func (u *Uploader) remove(name string) {
	u.mu.Lock()
	delete(u.queue, name)
	u.mu.Unlock()
}

// drain takes the store's announcements that arrived while the uploader
// was busy.
func (u *Uploader) drain(sub *storage.Subscription) {
	for {
		select {
		case info := <-sub.C:
			u.enqueue(info)
		case <-sub.Changed:
			u.needScan.Store(true)
		default:
			return
		}
	}
}

// scan asks the store for every complete clip not uploaded yet, queues
// them, and forgets queued clips that are gone or were marked uploaded.
func (u *Uploader) scan() {
	pending, err := u.store.Pending()
	if err != nil {
		u.log.Warn("cannot list the clips", "err", err)
		return
	}
	want := make(map[string]bool, len(pending))
	for _, c := range pending {
		want[c.Name] = true
	}
	u.mu.Lock()
	for name := range u.queue {
		if !want[name] {
			delete(u.queue, name)
		}
	}
	u.truncated = false
	u.mu.Unlock()
	for _, c := range pending { // oldest first: on a full queue the newest wait
		u.enqueue(c)
	}
}

// enqueue reads a clip's manifest and queues it.
func (u *Uploader) enqueue(info storage.ClipInfo) {
	name := info.Name
	u.mu.Lock()
	_, have := u.queue[name]
	full := len(u.queue) >= u.cfg.MaxQueue
	if full && !have {
		u.truncated = true
	}
	u.mu.Unlock()
	if have || full {
		return
	}
	q, err := u.load(info)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			u.log.Warn("clip not queued", "clip", name, "err", err)
		}
		return
	}
	u.mu.Lock()
	if _, have := u.queue[name]; !have {
		if len(u.queue) == 0 {
			u.drainStart, u.drainDone = u.clk.now(), 0
		}
		u.queue[name] = q
	}
	u.mu.Unlock()
}

// load builds the queue item of a clip from its manifest. The manifest is
// parsed, not verified: it is this camera's own file, only used to route
// the bytes; the ingest verifies it. A manifest that does not parse or was
// signed by another device is queued as broken, shown but never sent.
func (u *Uploader) load(info storage.ClipInfo) (*qitem, error) {
	if info.Manifest == "" {
		return nil, fmt.Errorf("upload: %s: no manifest: %w", info.Name, fs.ErrNotExist)
	}
	cose, err := atomicfile.ReadFileMax(info.Manifest, manifest.MaxSize)
	if err != nil {
		return nil, err
	}
	q := &qitem{name: info.Name, sent: map[string]uint64{}}
	m, kid, err := manifest.Parse(cose)
	switch {
	case err != nil:
		q.broken = "bad-manifest: " + err.Error()
		return q, nil
	case kid != u.deviceID:
		q.broken = "foreign-manifest: signed by " + kid
		return q, nil
	}
	q.item = Item{Name: info.Name, Manifest: cose, Seq: m.Seq}
	for _, o := range m.Objects {
		var path string
		switch o.Role {
		case manifest.RoleClip:
			path = info.Path
		case manifest.RoleThumbnail:
			path = info.Thumbnail
		default:
			q.broken = "unknown-role: " + o.Role
			return q, nil
		}
		if path == "" {
			q.broken = "missing-object: the store names no " + o.Role + " file"
			return q, nil
		}
		q.item.Objects = append(q.item.Objects, Object{Object: o, Path: path})
		q.total += o.Size
	}
	return q, nil
}
