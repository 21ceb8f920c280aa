package daemon

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/camagent/camagent/agent/budget"
	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/capture"
)

// memory is the daemon's memory budget: the plan for the current config and
// picture (package agent/budget), which the parts read when they start.
type memory struct {
	mu       sync.Mutex
	plan     budget.Plan
	planned  bool
	limited  bool            // the Go memory limit and GC target were set from plan
	overRSS  bool            // the last sample found RSS above the budget
	viewers  int             // live viewers connected at the last sample
	accepted uint64          // live sessions the server had accepted by then
	depart   departure       // giving back what a departed viewer's session used
	down     budget.StepDown // run-time steps beyond the plan
	extra    int             // down.Extra when plan was made
}

// memoryEvery is how often the memory part samples RSS and re-plans.
const memoryEvery = 10 * time.Second

// memorySettings are the budget's inputs for cfg: the board's budget (or
// memory_mb), the picture (the camera's once it streams, else the one the
// config asks for) and the settings the plan may lower.
func (d *Daemon) memorySettings(cfg config.Config) budget.Settings {
	prof, _ := board.Lookup(cfg.Board)
	b := prof.MemoryBudget
	if cfg.MemoryMB > 0 {
		b = int64(cfg.MemoryMB) << 20
	}
	if b == 0 {
		b = board.MinMemoryBudget
	}
	f := d.capture.Stats().Format
	if f.Width == 0 {
		f = capture.Format{Pixel: capture.FormatYUYV, Width: cfg.Capture.Width, Height: cfg.Capture.Height}
		if pf := cfg.Capture.PixelFormats(); len(pf) > 0 && cfg.Capture.Source == "v4l2" {
			f.Pixel = pf[0]
		}
	}
	s := budget.Settings{Budget: b, Frame: f.FrameSize(), Pixels: f.Width * f.Height,
		Compressed: f.Pixel.Compressed(), H264: f.Pixel == capture.FormatH264, CaptureFPS: cfg.Capture.FPS,
		ClipFPS: cfg.Storage.ClipFPS, PreRoll: cfg.Storage.PreRoll.Duration, PreRollMax: cfg.Storage.PreRollMB << 20,
		Fragment: cfg.Storage.Fragment.Duration, Synthetic: cfg.Capture.Source == "synthetic"}
	if cfg.Capture.Source == "v4l2" || cfg.Capture.Source == "" {
		s.DriverBuffers = cfg.Capture.Buffers
	}
	if liveBuiltIn && cfg.Live.Enabled && cfg.MQTT.Broker != "" {
		s.Viewers = cfg.Live.MaxViewers
		s.LiveBudget = prof.LiveMemory
	}
	return s
}

// memoryPlan is the plan for cfg. When it differs from the last one it is
// logged, and with Deps.RuntimeLimits the Go memory limit and GC target are
// set from it.
func (d *Daemon) memoryPlan(cfg config.Config) budget.Plan {
	s := d.memorySettings(cfg)
	d.mem.mu.Lock()
	if d.mem.planned && d.mem.plan.Asked == s && d.mem.extra == d.mem.down.Extra {
		p := d.mem.plan
		d.mem.mu.Unlock()
		return p
	}
	p := budget.FitMore(s, d.mem.down.Extra)
	d.mem.plan, d.mem.planned, d.mem.extra = p, true, d.mem.down.Extra
	d.mem.limited = d.deps.RuntimeLimits
	if d.deps.RuntimeLimits {
		debug.SetMemoryLimit(p.GoLimit)
		debug.SetGCPercent(p.GCPercent)
	}
	d.mem.mu.Unlock()
	log := d.log.With("part", "memory")
	switch {
	case p.Over > 0:
		log.Warn("memory budget too small for this picture even after every step down", "plan", p.String(), "degraded", p.Steps)
	case len(p.Steps) > 0:
		log.Info("memory plan", "plan", p.String(), "degraded", p.Steps)
	default:
		log.Info("memory plan", "plan", p.String())
	}
	return p
}

// watchMemory is the "memory" part: every memoryEvery it samples the
// resident size and re-plans (the camera's real picture, a new memory_mb,
// a run-time step), and restarts the parts whose sizes that changed.
func (d *Daemon) watchMemory(ctx context.Context) error {
	cfg, _ := d.config()
	last := d.memoryPlan(cfg)
	t := time.NewTicker(memoryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cfg, _ = d.config()
		res, err := budget.ReadResident(d.deps.ProcRoot, os.Getpagesize())
		if err != nil {
			res.Total = -1
		}
		last = d.memoryTick(cfg, last, res)
	}
}

// memoryTick is one sample of the memory part: the resident size res
// (Total -1 when it could not be read) against the plan for cfg. The budget
// holds what res charges (budget.Resident.Charged: anonymous memory, and
// file-backed pages up to the plan's allowance for code and driver
// buffers). When that stays above the budget it takes the next step of
// the plan's order (and steps back up when there is room again,
// budget.StepDown), logged once per step; it restarts the parts whose
// sizes differ from last and returns the plan now in force.
func (d *Daemon) memoryTick(cfg config.Config, last budget.Plan, res budget.Resident) budget.Plan {
	log := d.log.With("part", "memory")
	left := false // a live viewer left since the last sample
	trim, release := false, false
	rss := res.Total
	if rss >= 0 {
		s := d.memorySettings(cfg)
		charged := res.Charged(s)
		connected, accepted := 0, uint64(0)
		if ls := d.liveStatus(); ls != nil {
			connected, accepted = ls.Viewers, ls.Accepted
		}
		limit := s.Budget
		if connected > 0 {
			limit += s.LiveBudget
		}
		d.mem.mu.Lock()
		// A viewer just left: what its session used is garbage that the
		// release below collects, but the runtime hands pages
		// back to the kernel only slowly; this sample does not count
		// towards a step down (it is returned at the end of this tick).
		left = sessionsEnded(d.mem.viewers, d.mem.accepted, connected, accepted) > 0
		d.mem.viewers, d.mem.accepted = connected, accepted
		trim, release = d.mem.depart.observe(connected, left)
		dir := 0
		if !left {
			dir = d.mem.down.ObserveLive(charged, s, connected)
		}
		extra := d.mem.down.Extra
		over := charged > limit
		crossed := over != d.mem.overRSS
		d.mem.overRSS = over
		d.mem.mu.Unlock()
		if crossed && over {
			log.Warn("resident memory above the budget", "charged_mb", charged>>20, "rss_mb", rss>>20, "file_mb", res.File>>20,
				"budget_mb", limit>>20, "live_viewers", connected)
		} else if crossed {
			log.Info("resident memory back within the budget", "charged_mb", charged>>20, "rss_mb", rss>>20, "file_mb", res.File>>20,
				"budget_mb", limit>>20, "live_viewers", connected)
		}
		switch dir {
		case 1:
			p := budget.FitMore(s, extra)
			log.Warn("memory: stepping down at run time, resident size stayed above the budget",
				"step", p.Steps[len(p.Steps)-1], "charged_mb", charged>>20, "rss_mb", rss>>20, "budget_mb", limit>>20)
		case -1:
			p := budget.FitMore(s, extra+1)
			log.Info("memory: stepping back up, room within the budget again",
				"undone", p.Steps[len(p.Steps)-1], "charged_mb", charged>>20, "rss_mb", rss>>20, "budget_mb", limit>>20)
		}
	}
	// Back within the budget now rather than minutes later (departure),
	// and before the limit comes down: while the session's freed pages
	// still count against the lower limit, the runtime collects back to
	// back until its scavenger has returned them (in the arm64 QEMU
	// camera 56 collections in the 30 s after a viewer left, against 1
	// before the viewer).
	if trim && d.deps.RuntimeLimits {
		d.capture.TrimPool()
	}
	if release && d.deps.RuntimeLimits {
		debug.FreeOSMemory()
	}
	p := d.memoryPlan(cfg)
	if rss >= 0 && d.deps.RuntimeLimits {
		// A connected viewer may use the board's live allowance; the limit
		// comes back down when it leaves.
		limit := p.GoLimit
		if ls := d.liveStatus(); ls != nil && ls.Viewers > 0 {
			limit = p.GoLimitLive
		}
		debug.SetMemoryLimit(limit)
	}
	// Changes of the parts' own sections restart them already; a new
	// budget, picture or run-time step is this part's to act on.
	if p.Asked.Budget != last.Asked.Budget || p.Asked.Frame != last.Asked.Frame || p.Measured != last.Measured {
		for _, name := range restartsFor(last, p) {
			log.Info("memory plan changed: restarting", "restart", name)
			d.sup.Restart(name)
		}
	}
	return p
}

// sessionsEnded is how many live sessions ended between two samples: the
// viewers connected at the first and the sessions accepted since, less the
// viewers connected at the second. A session shorter than memoryEvery
// starts and ends between two samples, so the viewer count alone never
// shows it (in the arm64 QEMU camera a second viewer of a few seconds left
// 1.1 MB of anonymous memory behind that no release took back). A live
// server that restarted counts its sessions from 0: all it accepted are
// new. The two figures of a sample are not read at one instant, so a
// session accepted meanwhile can be counted one sample late: at worst one
// release too many.
func sessionsEnded(viewersBefore int, acceptedBefore uint64, viewersNow int, acceptedNow uint64) int {
	started := acceptedNow - acceptedBefore
	if acceptedNow < acceptedBefore {
		started = acceptedNow
	}
	return max(viewersBefore+int(started)-viewersNow, 0)
}

// departureReleases is on how many samples, the departure's and those
// after it, the memory part returns freed memory to the kernel after the
// last live viewer left.
const departureReleases = 3

// departure gives back what a live viewer's session used once the last
// viewer has left. On the sample that sees the departure it drops the
// free frame buffers (capture.Pool.Trim: the viewer's queue made the
// pipeline write to buffers below the few it cycles through; it makes
// those again) and runs one full collection that returns the freed pages
// to the kernel (debug.FreeOSMemory); the runtime itself keeps freed
// pages as long as the heap is under its GC goal, which after a viewer
// is most of the time. It releases again on the next samples
// (departureReleases in all, 10 s apart), while no viewer is back: a
// session's teardown outlives the sample that saw it end (the WebRTC
// stack's goroutines close its transports and timers after the session
// left the count, and what they held becomes garbage only then). In the
// arm64 QEMU camera one release left 0.9 MB of such pages resident 30 s
// later.
type departure struct {
	pending int // releases still to do
}

// observe is one sample: viewers connected now, and whether the count
// fell since the last sample (the last viewer or one of several left).
// It says whether to trim the frame pool and whether to release memory.
func (dp *departure) observe(viewers int, left bool) (trim, release bool) {
	switch {
	case left && viewers > 0:
		// One of several left: its share now, once; the others stream.
		dp.pending = 1
	case left:
		dp.pending = departureReleases
	case viewers > 0:
		// A viewer streams (again): what its session uses is not garbage.
		dp.pending = 0
	}
	if dp.pending == 0 {
		return false, false
	}
	dp.pending--
	return left, true
}

// restartsFor names the parts whose sizes differ between plans a and b.
func restartsFor(a, b budget.Plan) []string {
	var out []string
	if a.Frames != b.Frames {
		out = append(out, "capture")
	}
	if a.RecorderQueue != b.RecorderQueue || a.PreRollBytes != b.PreRollBytes || a.ClipFPS != b.ClipFPS || a.PreRoll != b.PreRoll {
		out = append(out, "recorder")
	}
	if a.Viewers != b.Viewers {
		out = append(out, "live")
	}
	return out
}

// memoryStatus is the memory part of the status report: the plan, what the
// process uses, and each pool's fill (from st, filled in before).
func (d *Daemon) memoryStatus(st *control.Status) *control.MemoryStatus {
	cfg, _ := d.config()
	p := d.memoryPlan(cfg)
	d.mem.mu.Lock()
	limited := d.mem.limited
	d.mem.mu.Unlock()
	ms := &control.MemoryStatus{BudgetBytes: p.Asked.Budget, PeakBytes: p.Need(), Degraded: p.Steps, OverBytes: p.Over}
	if limited {
		ms.GoLimitBytes, ms.GCPercent = p.GoLimit, p.GCPercent
	}
	if res, err := budget.ReadResident(d.deps.ProcRoot, os.Getpagesize()); err == nil {
		ms.RSSBytes, ms.RSSFileBytes, ms.ChargedBytes = res.Total, res.File, res.Charged(p.Asked)
	}
	readGoMemory(ms)
	cs := d.capture.Stats()
	if cs.PoolSize > 0 {
		ms.Pools = append(ms.Pools, control.PoolStatus{Name: "frames", Used: int64(cs.PoolUsed), Size: int64(cs.PoolSize), Unit: "frames",
			Made: int64(cs.PoolMade)})
	}
	for _, q := range d.hub.Stats() {
		ms.Pools = append(ms.Pools, control.PoolStatus{Name: "queue " + q.Name, Used: int64(q.Queued), Size: int64(q.Depth), Unit: "frames"})
	}
	if r := st.Recorder; r != nil {
		ms.Pools = append(ms.Pools, control.PoolStatus{Name: "pre-roll", Used: r.PreRollBytes, Size: int64(p.PreRollBytes), Unit: "bytes"})
	}
	if l := st.Live; l != nil {
		ms.Pools = append(ms.Pools, control.PoolStatus{Name: "live viewers", Used: int64(l.Viewers), Size: int64(l.MaxViewers), Unit: "viewers"})
	}
	if m := st.MQTT; m != nil {
		ms.Pools = append(ms.Pools, control.PoolStatus{Name: "mqtt queue", Used: int64(m.Queued), Size: int64(cfg.MQTT.QueueSize), Unit: "messages"})
	}
	return ms
}

// goClasses are the runtime/metrics classes readGoMemory reads, in the
// order of its sums: the heap's objects, its held pages without objects,
// stacks, then the runtime's own; the total, and what was released; and
// the collections completed.
var goClasses = [...]string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes", "/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/stacks:bytes", "/memory/classes/os-stacks:bytes",
	"/memory/classes/metadata/mcache/free:bytes", "/memory/classes/metadata/mcache/inuse:bytes",
	"/memory/classes/metadata/mspan/free:bytes", "/memory/classes/metadata/mspan/inuse:bytes",
	"/memory/classes/metadata/other:bytes", "/memory/classes/profiling/buckets:bytes", "/memory/classes/other:bytes",
	"/memory/classes/total:bytes", "/memory/classes/heap/released:bytes",
	"/gc/cycles/total:gc-cycles",
}

// readGoMemory fills in what the Go runtime holds (mapped, less what it
// returned to the kernel: what the Go memory limit counts), its parts, and
// the count of collections.
func readGoMemory(ms *control.MemoryStatus) {
	var samples [len(goClasses)]metrics.Sample
	for i, name := range goClasses {
		samples[i].Name = name
	}
	metrics.Read(samples[:])
	u := func(i int) uint64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return samples[i].Value.Uint64()
		}
		return 0
	}
	sum := func(from, to int) uint64 {
		var n uint64
		for i := from; i < to; i++ {
			n += u(i)
		}
		return n
	}
	ms.HeapBytes = u(0)
	ms.HeapFreeBytes, ms.StacksBytes, ms.RuntimeBytes = sum(1, 3), sum(3, 5), sum(5, 12)
	ms.GoBytes = u(12) - min(u(13), u(12))
	ms.GCCycles = u(14)
}
