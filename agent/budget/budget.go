package budget

import (
	"fmt"
	"math"
	"time"
)

// MiB is a mebibyte.
const MiB = 1 << 20

// Estimates: what the agent costs besides the buffers the plan sizes. The
// figures are measured on the QEMU cameras (README "Memory budget") and
// rounded up.
const (
	// Text is the binary's code and read-only data that stay resident.
	// It is outside the Go memory limit, so it is taken off the budget
	// first. Measured in the arm64 QEMU camera: resident size less the Go
	// runtime's memory (status go_bytes) less the driver's buffers, 3.3
	// MiB just after start and 6.6 MiB once every part has run (6 MB on
	// the amd64 host).
	Text = 7 * MiB
	// Runtime is the Go heap that does not scale with the picture: the
	// config, the log ring, the clip index, the parts' own state (measured
	// with every allocation profiled, synthetic 640x480 at 25 fps: 0.5 MB).
	Runtime = 1 * MiB
	// Overhead is the Go runtime's memory outside the heap, which the Go
	// memory limit counts but no GC target moves: goroutine stacks, the
	// GC's metadata, the heap's unused span tails (measured on the host
	// at 640x480: stacks 0.8, metadata 2.9, other 0.6, unused spans 1.0
	// to 1.2 MB).
	Overhead = 5 * MiB
	// Upload is the uploader's TLS connection and copy buffers.
	Upload = 256 << 10
	// MQTT is the MQTT client's connection, its in-memory queue and the
	// outbox's read buffers.
	MQTT = 512 << 10
	// LiveSession is one live viewer beyond its frames: its peer
	// connection (ICE, DTLS, SCTP buffers) and its JPEG encoder.
	LiveSession = 2 * MiB
	// Motion is the motion detector's state per pixel (its background
	// model, regions and the feed's picture; measured 0.9 MB at 640x480).
	Motion = 3
	// Synthetic is the synthetic source's renderer per pixel, besides its
	// frames (background, noise tables, objects: 2.7 bytes a pixel for
	// the default scene, 0.84 MB at 640x480, capture/synth
	// TestRendererMemory; the foliage, shadows and night scenes keep up
	// to 9). Only the synthetic source has it.
	Synthetic = 3
	// EventLag is how late the motion part may report an event and still
	// get the whole pre-roll (the recorder's default EventLag).
	EventLag = time.Second
)

// Queue depths the plan does not change.
const (
	// MotionQueue is the motion part's frame queue: it wants the newest
	// frame, so one queued behind the one it works on is enough (each
	// queued raw frame is 600 KiB at 640x480 YUYV).
	MotionQueue = 1
	// LiveQueue is each live session's frame queue (uplink/live).
	LiveQueue = 2
	// MaxRecorderQueue and MinRecorderQueue bound the recorder's frame
	// queue, which absorbs a stall of its JPEG encoder.
	MaxRecorderQueue = 8
	MinRecorderQueue = 1
)

// Lower limits of the degradation steps: Fit does not go below them (nor
// raises a setting that was asked lower).
const (
	// StartGCPercent is the GC target a roomy plan gets: half the Go
	// default, since most of the heap is pointer-free frame buffers that a
	// cycle does not scan, so collecting more often is cheap.
	StartGCPercent = 50
	MinGCPercent   = 25
	MinClipFPS     = 2
	MinPreRoll     = time.Second
	// MinPreRollBytes is the recorder's smallest pre-roll ring.
	MinPreRollBytes = 64 << 10
)

// Settings are what the plan is made for: the budget, the picture and the
// settings of the config that the plan may lower.
type Settings struct {
	// Budget is the agent's whole allowance, as the kernel counts it (RSS).
	Budget int64
	// LiveBudget is what the agent may use beyond Budget while live
	// viewers are connected (the board's Profile.LiveMemory): the plan
	// fits Budget with no viewer and Budget+LiveBudget with all of them.
	LiveBudget int64
	// Frame is the size of one captured frame (capture.Format.FrameSize);
	// Pixels is width times height.
	Frame  int
	Pixels int
	// Compressed: the camera delivers MJPEG or H.264, stored as it comes
	// (no encoder); H264 says which. CaptureFPS is the camera's rate (the
	// sample rate of H.264 pre-roll).
	Compressed bool
	H264       bool
	CaptureFPS float64
	// ClipFPS is storage.clip_fps; PreRoll storage.pre_roll and
	// PreRollMax storage.pre_roll_mb in bytes.
	ClipFPS    float64
	PreRoll    time.Duration
	PreRollMax int
	// Viewers is live.max_viewers, 0 when live view is off.
	Viewers int
	// Fragment is storage.fragment: the clip writer holds one fragment's
	// samples before it writes them.
	Fragment time.Duration
	// Synthetic says the frames come from the synthetic source (its
	// renderer is in the heap).
	Synthetic bool
	// DriverBuffers is how many buffers the V4L2 driver maps into the
	// process (capture.buffers; 0 for a synthetic or file source). They
	// are resident but outside the Go heap.
	DriverBuffers int
}

// Item is one line of the plan's accounting.
type Item struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
}

// Plan is how the budget is spent. Fit makes it.
type Plan struct {
	// Asked is what the plan was made for.
	Asked Settings
	// GoLimit is the Go memory limit (runtime/debug.SetMemoryLimit):
	// Budget less Text and the driver's buffers. GCPercent is the GC target
	// (runtime/debug.SetGCPercent).
	GoLimit   int64
	GCPercent int
	// GoLimitLive is the Go memory limit while a live viewer is connected
	// (GoLimit plus the board's LiveBudget).
	GoLimitLive int64
	// Frames is the capture frame pool; RecorderQueue the recorder's
	// frame queue.
	Frames        int
	RecorderQueue int
	// ClipFPS, PreRoll, PreRollBytes and Viewers are the settings the
	// parts run with: Asked's, or lower when the budget is tight.
	ClipFPS      float64
	PreRoll      time.Duration
	PreRollBytes int
	Viewers      int
	// Items is the accounting of the Go heap the plan expects at its peak
	// (every viewer connected), before the GC's headroom.
	Items []Item
	// Steps names each degradation Fit took, in order ("clip_fps 10 -> 5").
	Steps []string
	// Over is by how much the plan misses the budget after every step
	// (0 when it fits): the budget is too small for this picture size.
	Over int64
	// Measured is how many of Steps were taken at run time (FitMore).
	Measured int
}

// Fit plans s's budget. It starts from the settings as asked, with a deep
// recorder queue and the GC's default target, and while the plan does not
// fit it gives up, in this order:
//
//  1. recorder queue depth, 8 -> 4 -> 2 -> 1 (a stall of the encoder drops
//     frames sooner; the recorder picks frames by time, so at a clip rate
//     below the camera's it still finds one);
//  2. the GC target, 50 -> 25 (more CPU for the collector; frames
//     are pointer-free, so a cycle is cheap);
//  3. clip frame rate, halved down to 2 fps;
//  4. pre-roll, halved down to 1 s;
//  5. live viewers, one at a time, down to none.
//
// When nothing is left to give up, Over says by how much it misses.
func Fit(s Settings) Plan {
	p := Plan{Asked: s, GCPercent: StartGCPercent, RecorderQueue: MaxRecorderQueue,
		ClipFPS: s.ClipFPS, PreRoll: s.PreRoll, Viewers: s.Viewers}
	for {
		p.account()
		if over := p.over(); over <= 0 {
			p.setLimit()
			return p
		} else if !p.degrade() {
			p.Over = over
			p.setLimit()
			return p
		}
	}
}

// setLimit sets GoLimit, the budget less Text and the driver's buffers,
// and GoLimitLive, the same with LiveBudget when viewers are allowed.
func (p *Plan) setLimit() {
	s := p.Asked
	p.GoLimit = max(s.Budget-Text-s.driver(), 4*MiB)
	p.GoLimitLive = p.GoLimit
	if p.Viewers > 0 {
		p.GoLimitLive += s.LiveBudget
	}
}

// over is by how much p misses its budget (<= 0 when it fits): with no
// viewer connected against Budget, and with every viewer connected against
// Budget+LiveBudget.
func (p *Plan) over() int64 {
	s := p.Asked
	need := p.Need()
	if p.Viewers == 0 {
		return need - s.Budget
	}
	return max(p.Idle()-s.Budget, need-s.Budget-s.LiveBudget)
}

// Idle is the resident size the plan expects with no live viewer
// connected: Need less the viewers' sessions and frames.
func (p *Plan) Idle() int64 {
	live := int64(p.Viewers) * (LiveSession + (LiveQueue+1)*int64(p.Asked.Frame))
	return p.Need() - live*int64(100+p.GCPercent)/100
}

// Heap is the sum of Items: the Go heap the plan expects.
func (p *Plan) Heap() int64 {
	var n int64
	for _, it := range p.Items {
		n += it.Bytes
	}
	return n
}

// Need is the resident size the plan expects at its peak: Text, the
// driver's buffers, the runtime's Overhead, and the heap with the GC's
// headroom.
func (p *Plan) Need() int64 {
	return Text + p.Asked.driver() + Overhead + p.Heap()*int64(100+p.GCPercent)/100
}

func (s Settings) driver() int64 { return int64(s.DriverBuffers) * int64(s.Frame) }

// Sample is the expected size of one recorded sample: a JPEG of the
// picture or an H.264 frame. Raw cameras are encoded at about 0.1 bytes per
// pixel at quality 70-75 (a detailed scene; vivid's test picture in the
// QEMU camera measured 6-9 KB at 640x480, 0.02-0.03); MJPEG cameras send
// about the same.
func (s Settings) Sample() int {
	if s.H264 {
		return max(s.Pixels/16, 1)
	}
	return max(s.Pixels/10, 1)
}

// account recomputes the sizes and Items for p's current settings.
func (p *Plan) account() {
	s := p.Asked
	// One frame being filled by capture, each queue full and each consumer
	// holding one more, and one for the shell's snapshot.
	p.Frames = 1 + (MotionQueue + 1) + (p.RecorderQueue + 1) + 1 + p.Viewers*(LiveQueue+1)
	sample := int64(s.Sample())
	rate := p.ClipFPS
	if s.H264 {
		rate = s.CaptureFPS
	}
	// The ring holds pre-roll plus the event lag. Its limit has half
	// again as margin for pictures that compress worse than the estimate;
	// its arena grows only as far as the pictures need (storage/recorder),
	// so the plan counts the estimate, not the limit.
	expect := float64(sample) * rate * (p.PreRoll + EventLag).Seconds()
	p.PreRollBytes = int(min(max(math.Ceil(expect*1.5), MinPreRollBytes), float64(max(s.PreRollMax, MinPreRollBytes))))
	if p.PreRoll == 0 {
		p.PreRollBytes = MinPreRollBytes
	}
	ring := min(int64(math.Ceil(expect)), int64(p.PreRollBytes))
	var encoder, peak int64
	if !s.Compressed {
		// The encoder's pictures (measured 1.2 MB of 4:2:0 and 4:4:4
		// planes at 640x480, about 4 bytes per pixel) and the JPEG
		// buffers of the write queue and the thumbnail.
		encoder = int64(s.Pixels)*4 + 6*sample
		// The recorder's copy of the event's peak frame (the thumbnail's
		// picture): a YUYV frame of 640 pixels or wider is kept at half
		// its width and height (storage/recorder), a quarter of its size.
		peak = int64(s.Frame)
		if s.Frame == 2*s.Pixels && s.Pixels >= 640*480 { // YUYV, about 640 wide or more
			peak /= 4
		}
	} else {
		peak = sample
	}
	// The clip writer's fragment: a fragment's samples (at least one).
	fragment := int64(math.Ceil(float64(sample) * max(rate*s.Fragment.Seconds(), 1)))
	var source int64
	if s.Synthetic {
		source = int64(s.Pixels) * Synthetic
	}
	p.Items = append(p.Items[:0],
		Item{"runtime", Runtime},
		Item{"frames", int64(p.Frames) * int64(s.Frame)},
		Item{"encoder", encoder},
		Item{"peak frame", peak},
		Item{"fragment", fragment},
		Item{"pre-roll", max(ring, MinPreRollBytes)},
		Item{"motion", int64(s.Pixels) * Motion},
		Item{"source", source},
		Item{"live", int64(p.Viewers) * LiveSession},
		Item{"upload", Upload},
		Item{"mqtt", MQTT},
	)
}

// degrade takes the next step of Fit's order; false when none is left.
func (p *Plan) degrade() bool {
	switch {
	case p.RecorderQueue > MinRecorderQueue:
		p.step("recorder queue %d -> %d", p.RecorderQueue, max(p.RecorderQueue/2, MinRecorderQueue))
		p.RecorderQueue = max(p.RecorderQueue/2, MinRecorderQueue)
	case p.GCPercent > MinGCPercent:
		p.step("gc target %d%% -> %d%%", p.GCPercent, max(p.GCPercent/2, MinGCPercent))
		p.GCPercent = max(p.GCPercent/2, MinGCPercent)
	case !p.Asked.H264 && p.ClipFPS > MinClipFPS:
		next := max(p.ClipFPS/2, MinClipFPS)
		p.step("clip_fps %g -> %g", p.ClipFPS, next)
		p.ClipFPS = next
	case p.PreRoll > MinPreRoll:
		next := max(p.PreRoll/2, MinPreRoll).Round(100 * time.Millisecond)
		p.step("pre_roll %v -> %v", p.PreRoll, next)
		p.PreRoll = next
	case p.Viewers > 0:
		p.step("live viewers %d -> %d", p.Viewers, p.Viewers-1)
		p.Viewers--
	default:
		return false
	}
	return true
}

func (p *Plan) step(format string, a ...any) { p.Steps = append(p.Steps, fmt.Sprintf(format, a...)) }

// String is the plan in one line, for the log.
func (p *Plan) String() string {
	s := fmt.Sprintf("budget %s: go limit %s, gc %d%%, %d frames of %s, recorder queue %d, clip %g fps, pre-roll %v in %s, %d live viewers; expected peak %s",
		mb(p.Asked.Budget), mb(p.GoLimit), p.GCPercent, p.Frames, mb(int64(p.Asked.Frame)), p.RecorderQueue,
		p.ClipFPS, p.PreRoll, mb(int64(p.PreRollBytes)), p.Viewers, mb(p.Need()))
	if p.Over > 0 {
		s += fmt.Sprintf(", OVER by %s", mb(p.Over))
	}
	return s
}

func mb(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/MiB) }

// FitMore is Fit followed by extra more steps of the same order, taken at
// run time because the measured resident size stayed above the budget
// (StepDown). Those steps are marked "(measured)" in Steps; Measured counts
// them (fewer than extra when nothing was left to give up).
func FitMore(s Settings, extra int) Plan {
	p := Fit(s)
	for p.Measured < extra && p.degrade() {
		p.Steps[len(p.Steps)-1] += " (measured)"
		p.Measured++
	}
	p.account()
	p.Over = max(p.over(), 0)
	p.setLimit()
	return p
}

// Run-time step-down: how many samples in a row decide a step, and the room
// a step back up must leave below the budget.
const (
	// OverSamples: a step down after this many samples above the budget.
	OverSamples = 3
	// UnderSamples: a step back up after this many samples with room for it.
	UnderSamples = 6
	// StepUpRoom is the room a step back up must leave: the resident size
	// plus what the step costs (by the plan) plus StepUpRoom must be
	// within the budget, so a plan that just fits does not go up and down.
	StepUpRoom = 1 * MiB
)

// StepDown degrades at run time what Fit planned when the measured resident
// size stays above the budget, in Fit's order, and steps back up with
// hysteresis when it fits again. The zero value has taken no step. Observe
// is not safe for concurrent use.
type StepDown struct {
	// Extra is how many steps it has taken beyond Fit: plan with
	// FitMore(s, Extra).
	Extra int
	over  int // samples in a row above the budget
	under int // samples in a row with room for a step up
}

// Observe takes one sample of the resident size for settings s, with no
// live viewer connected, and returns +1 when it took a step down (Extra
// grew), -1 when it stepped back up, else 0.
func (d *StepDown) Observe(rss int64, s Settings) int { return d.ObserveLive(rss, s, 0) }

// ObserveLive is Observe with viewers live viewers connected: while one is,
// the resident size is held against Budget+LiveBudget.
func (d *StepDown) ObserveLive(rss int64, s Settings, viewers int) int {
	budget := s.Budget
	if viewers > 0 {
		budget += s.LiveBudget
	}
	if rss > budget {
		d.under = 0
		d.over++
		if d.over < OverSamples {
			return 0
		}
		d.over = 0
		if FitMore(s, d.Extra+1).Measured <= d.Extra {
			return 0 // nothing left to give up
		}
		d.Extra++
		return 1
	}
	d.over = 0
	if d.Extra == 0 {
		d.under = 0
		return 0
	}
	up, now := FitMore(s, d.Extra-1), FitMore(s, d.Extra)
	cost := up.Need() - now.Need()
	if rss+max(cost, 0)+StepUpRoom > budget {
		d.under = 0
		return 0
	}
	d.under++
	if d.under < UnderSamples {
		return 0
	}
	d.under = 0
	d.Extra--
	return -1
}
