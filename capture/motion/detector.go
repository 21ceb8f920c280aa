package motion

import (
	"fmt"
	"log/slog"
	"math"
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/logsum"
)

// Box is a rectangle in input pixels.
type Box struct {
	X, Y, W, H int
}

// Result is what one frame showed.
type Result struct {
	Frame  uint64    // the frame's Seq
	Time   time.Time // the frame's capture time
	Motion bool      // at least one motion region passed the filters
	// Score is the fraction of the analysed area covered by motion regions.
	Score float64
	// Boxes are the motion regions in input pixels, largest first (at most
	// MaxBoxes). The slice is reused by the next Process.
	Boxes []Box
	// Noise is the robust standard deviation of frame minus background on the
	// grid, in luma levels; Threshold the difference that counted as change.
	Noise, Threshold float64
	// Brightness is the frame's mean luma, 0..255, over the analysis grid:
	// the light level day/night switching follows. It is read for every
	// format the detector reads, MJPEG included (from the DC coefficients).
	Brightness float64
	// Light reports that a global light change was compensated.
	Light bool
	// Recalibrated reports that the background was re-learned (a Rebase, a
	// day/night switch, or more than LightningPercent of the grid changed); no motion
	// is reported until it has settled.
	Recalibrated bool
	// Started and Ended are the event that started or ended with this frame,
	// or nil. They point into the detector and change with the next Process;
	// use Event.Clone to keep one.
	Started, Ended *Event
}

// MaxBoxes bounds the boxes reported per frame and per event.
const MaxBoxes = 16

// warmupFrames is how many frames after the one a background is (re)learned
// from refine it without reporting motion.
const warmupFrames = 10

// Stats are the detector's counters; safe to read from any goroutine.
type Stats struct {
	Frames         uint64  `json:"frames"`
	BadFrames      uint64  `json:"bad_frames"`
	Events         uint64  `json:"events"`
	LightChanges   uint64  `json:"light_changes"`
	Recalibrations uint64  `json:"recalibrations"`
	Night          bool    `json:"night"`
	Noise          float64 `json:"noise"`
	GridWidth      int     `json:"grid_width"`
	GridHeight     int     `json:"grid_height"`
	// Filtered counts, per filter, the frames in which it took motion away.
	Filtered Filtered `json:"filtered"`
}

// Detector finds motion in the frames of one capture.Format. It allocates
// everything at construction; Process allocates nothing per frame. Process is
// not safe for concurrent use; NightMode, Rebase and Stats may be called from
// any goroutine.
type Detector struct {
	cfg Config
	log *slog.Logger
	// relearnLog says "background re-learned" once when it starts
	// happening, then a count per minute, and once when it stops, instead
	// of a line per re-learn (twice a second while the picture moves).
	relearnLog *logsum.Condition
	format     capture.Format
	g          grid
	luma       *luma

	cur, prev []uint16 // Q4 grid luma; prev is the frame before's
	// packed and packedH hold the grid four cells to a 64-bit word (16-bit
	// lanes) for the blur.
	packed, packedH []uint64
	bg              []uint16 // Q8 background
	// ref is a second background, Q8, that every cell learns at the same
	// slow rate (an eighth of its rows per frame): the light filter's
	// reference, which a change that crosses the threshold in some cells
	// before others does not make uneven (see explainLight).
	ref      []uint16
	refPhase int
	fresh    []uint8  // frames a cell still re-learns without reporting
	still    []uint16 // frames a changed cell has stayed unchanged
	nFresh   int      // cells with fresh > 0 (or about to be)
	fg, work bitmask
	low      bitmask // cells beyond the low (hysteresis) threshold
	grow1    bitmask // hysteresis scratch
	grow2    bitmask
	lit      bitmask // changed cells explained by a local light change

	// shownMask is the reported motion mask: the kept regions and their
	// extension (see extend).
	shownMask bitmask

	morphTmp []uint64
	zone     bitmask
	analysed int // cells in zone
	samples  []int32
	// sampleRows[y] is the first sample of row y or after it (samples are in
	// row order), sampleRows[gh] their number.
	sampleRows []int32
	// sampleRight is, per sample, whether the cell two to its right is in
	// the same row (edgesKept compares the two).
	sampleRight []bool
	// noisePairs are every other sample with a cell two to its right.
	noisePairs []int32
	hpHist     [256]uint32 // |local difference|, quarter levels
	// subHist are four histograms that consecutive samples count into in
	// turn, summed afterwards: a sample then does not wait for the count
	// the one before it just wrote (most land in the same few buckets).
	subHist [4][histSize]uint32

	hist    [histSize]uint32
	regionY []uint8 // row of each grid row, times 4
	rowGain []int32 // per-row gains, Q16
	recip   []int32 // 2^24 / (Q4 value), by Q4 value / 4
	binHist [lutBins][256]uint32
	bgHist  [256]uint32
	lut     [257]int32 // bg level -> expected cur, Q4

	// regionCols are, per word of a mask row, its cells in each of the
	// four columns of the 4x4 partition.
	regionCols [][4]uint64
	// shakeLo and shakeHi hold three grid rows each for explainShake
	// (shakeRow): the background's least and greatest values across
	// each cell of rows shakeRows (-1: none; row y in y%3).
	shakeLo, shakeHi []uint16
	shakeRows        [3]int

	alpha, alphaMove int32 // Q12
	minCells         int32
	stillFrames      uint16 // 0: no absorption
	// step is how many frame intervals (at the format's rate) the current
	// frame is after the last one analysed, 1 or more: StillTime and the
	// particle filter's persistTime are counted in it, so that frames the
	// detector did not get (dropped behind a busy CPU) still count as time.
	step        uint16
	lastTime    time.Time // the last analysed frame's capture time
	frameDur    time.Duration
	noise       float64 // smoothed noise sigma, levels
	noiseFrames int     // frames the noise was measured on
	thr         float64 // levels
	started     bool
	warm        int  // warm-up frames left
	warming     bool // the current frame is part of the warm-up
	warmShow    bool // report regions during this warm-up (the picture moved)
	// noBridge: the frame's extension bridges no gap (rolling flicker was
	// divided out, the picture drifts as a whole, or a global light change
	// was less than bridgeLitTime ago; see bridge).
	noBridge bool
	// moved is the fraction of the grid changed when the current frame shows
	// the whole picture moving (not a light change), else 0.
	moved float64

	reg     *regions
	kept    []bool
	seeds   []int32 // per region: seed cells
	age     []uint8 // per region: frames it has persisted
	overlap []int32 // per region: cells where the frame before had a region
	// ageA holds the previous frame's region ages per cell, ageB is
	// scratch; they swap each frame.
	ageA, ageB []uint8
	persist    uint8 // persistTime in frames
	// persistSwarm is swarmPersistTime in frames; swarm counts down the
	// frames of swarmHold (swarmHold frames) since the last particle field.
	persistSwarm     uint8
	swarm, swarmHold uint16
	// relit counts down the frames of bridgeLitTime after a global light
	// change (see bridge); relitHold is that time in frames.
	relit, relitHold uint16
	bigCells         int32 // regions this large are no particle
	filt             filterFlags
	shown            bool // the current mask is reported (not warming up)
	boxes            []Box
	order            []int32

	// births holds, per frame of the last swarmHold, how many small
	// regions were born (new, or no longer overlapping the frame before's
	// regions); birthAt is the current frame's slot, birthSum their sum.
	births   []uint8
	birthAt  int
	birthSum int

	ev events

	// off switches filters off, for the benchmarks that measure what each
	// costs (BenchmarkFilters); always 0 outside tests.
	off filterSet

	rebase atomic.Bool
	night  atomic.Bool
	stats  struct {
		frames, bad, events, light, recal atomic.Uint64
		shake, lit, young                 atomic.Uint64
		noise                             atomic.Uint64 // float64 bits
	}
}

// filterSet names filters, for Detector.off.
type filterSet uint8

const (
	offShake      filterSet = 1 << iota // camera shake (step 6)
	offLight                            // travelling light (step 7)
	offHysteresis                       // growth into the low threshold (step 8)
	offParticles                        // persistence of small regions (step 9)
	offExtend                           // the extension of kept regions (step 8)
)

// filterFlags are the filters that took motion out of the current frame.
type filterFlags struct{ shake, lit, young bool }

// A frame is shaken when at least shakeRegions of the 16 regions of the grid
// hold shakeCells cells explained by a shift of the background.
const (
	shakeRegions = 6
	shakeCells   = 3
)

const (
	histSize = 1024 // quarter levels, +-128 levels
	histZero = histSize / 2
	lutBins  = 16
)

// New makes a detector for frames of format f. logger may be nil.
func New(cfg Config, f capture.Format, logger *slog.Logger) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g, err := newGrid(f, cfg.GridWidth)
	if err != nil {
		return nil, err
	}
	l, err := newLuma(f, g)
	if err != nil {
		return nil, err
	}
	n := g.gw * g.gh
	d := &Detector{
		cfg: cfg, log: logger, format: f, relearnLog: logsum.New(logger, "motion: background re-learned", logsum.Config{}), g: g, luma: l,
		cur: make([]uint16, n), bg: make([]uint16, n), ref: make([]uint16, n),
		packed: make([]uint64, (g.gw+3)/4*g.gh), packedH: make([]uint64, (g.gw+3)/4*g.gh),
		fresh: make([]uint8, n), prev: make([]uint16, n), still: make([]uint16, n),
		rowGain: make([]int32, g.gh),
		recip:   make([]int32, 4096/4),
		fg:      newBitmask(g.gw, g.gh), work: newBitmask(g.gw, g.gh),
		low: newBitmask(g.gw, g.gh), lit: newBitmask(g.gw, g.gh),
		grow1: newBitmask(g.gw, g.gh), grow2: newBitmask(g.gw, g.gh), shownMask: newBitmask(g.gw, g.gh),
		ageA: make([]uint8, n), ageB: make([]uint8, n),
		zone: zoneMask(cfg.Zones, g.gw, g.gh),
		reg:  newRegions(g.gw, g.gh),
	}
	d.morphTmp = make([]uint64, len(d.fg.bits))
	d.regionY = make([]uint8, g.gh)
	d.regionCols = make([][4]uint64, d.fg.words)
	d.shakeLo, d.shakeHi = make([]uint16, 3*g.gw), make([]uint16, 3*g.gw)
	for x := range g.gw {
		d.regionCols[x/64][x*4/g.gw] |= 1 << uint(x%64)
	}
	for y := range d.regionY {
		d.regionY[y] = uint8(y * 4 / g.gh * 4)
	}
	for i := range d.recip {
		d.recip[i] = int32(1 << 24 / max(i*4+2, 16))
	}
	d.kept = make([]bool, len(d.reg.area))
	d.seeds = make([]int32, len(d.reg.area))
	d.age = make([]uint8, len(d.reg.area))
	d.overlap = make([]int32, len(d.reg.area))
	d.boxes = make([]Box, 0, MaxBoxes)
	d.order = make([]int32, 0, MaxBoxes)
	d.analysed = d.zone.count()
	if d.analysed == 0 {
		return nil, fmt.Errorf("%w: zones: no cell of the %dx%d grid is analysed", ErrConfig, g.gw, g.gh)
	}
	// Statistics sample every other cell of every other row (all cells on
	// small grids), inside the zones.
	step := 2
	if d.analysed < 2000 {
		step = 1
	}
	for y := 0; y < g.gh; y += step {
		for x := (y / step) % step; x < g.gw; x += step {
			if d.zone.get(x, y) {
				d.samples = append(d.samples, int32(y*g.gw+x))
			}
		}
	}
	d.sampleRows = make([]int32, g.gh+1)
	for _, i := range d.samples {
		d.sampleRows[int(i)/g.gw+1]++
	}
	for y := range g.gh {
		d.sampleRows[y+1] += d.sampleRows[y]
	}
	d.sampleRight = make([]bool, len(d.samples))
	for k, i := range d.samples {
		d.sampleRight[k] = int(i)%g.gw+2 < g.gw
	}
	for k, i := range d.samples {
		if k%2 == 0 && int(i)%g.gw+2 < g.gw {
			d.noisePairs = append(d.noisePairs, i)
		}
	}
	d.alpha = int32(max(1, math.Round(cfg.LearnRate*4096)))
	d.alphaMove = max(1, d.alpha/alphaMoveDiv)
	d.minCells = int32(max(1, math.Ceil(cfg.minArea()*float64(n))))
	fps := f.FPS
	if !(fps > 0) {
		fps = 25
	}
	d.frameDur = time.Duration(float64(time.Second) / fps)
	if cfg.StillTime > 0 {
		d.stillFrames = uint16(min(max(math.Round(cfg.StillTime.Seconds()*fps), 1), math.MaxUint16))
	}
	d.ev.init(cfg)
	d.persist = uint8(min(max(math.Round(persistTime*fps), 2), 250))
	d.persistSwarm = uint8(min(max(math.Round(swarmPersistTime*fps), 2), 250))
	d.swarmHold = uint16(min(max(math.Round(swarmHoldTime*fps), 1), 1000))
	d.relitHold = uint16(min(max(math.Round(bridgeLitTime*fps), 1), 1000))
	d.births = make([]uint8, d.swarmHold)
	d.bigCells = int32(max(1, math.Ceil(particleArea*float64(d.analysed))))
	d.thr = float64(cfg.Threshold)
	d.log.Debug("motion detector", "format", f.String(), "grid_w", g.gw, "grid_h", g.gh, "cell", g.cell, "zones", len(cfg.Zones))
	return d, nil
}

// Grid returns the analysis grid's size and the side of a cell in input
// pixels. The grid covers the picture from the top left corner; columns and
// rows left over at the right and bottom (less than a cell) are not analysed.
func (d *Detector) Grid() (w, h, cell int) { return d.g.gw, d.g.gh, d.g.cell }

// Rebase makes the next frame the new background: it is re-learned without
// raising an event. Call it when the camera switches exposure mode or moves.
func (d *Detector) Rebase() { d.rebase.Store(true) }

// NightMode tells the detector that the camera switched to (on) or from
// night (IR, grey) mode; the background is re-learned.
func (d *Detector) NightMode(on bool) {
	if d.night.Swap(on) != on {
		d.log.Info("motion: night mode", "on", on)
	}
	d.Rebase()
}

// Stats returns the counters.
func (d *Detector) Stats() Stats {
	return Stats{
		Frames: d.stats.frames.Load(), BadFrames: d.stats.bad.Load(),
		Events: d.stats.events.Load(), LightChanges: d.stats.light.Load(),
		Recalibrations: d.stats.recal.Load(), Night: d.night.Load(),
		Noise:     math.Float64frombits(d.stats.noise.Load()),
		GridWidth: d.g.gw, GridHeight: d.g.gh,
		Filtered: Filtered{Shake: d.stats.shake.Load(), Shadow: d.stats.lit.Load(), Particles: d.stats.young.Load()},
	}
}

// Mask writes the current frame's motion mask into dst (resized to the grid,
// row-major; 255 for cells in reported motion regions with their extension,
// or every analysed cell when the whole picture moved; 0 elsewhere) and
// returns it with the grid's size. It allocates only when dst is too small.
func (d *Detector) Mask(dst []byte) (mask []byte, w, h int) {
	n := d.g.gw * d.g.gh
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	dst = dst[:n]
	clear(dst)
	if d.moved > 0 {
		for i := range dst {
			if d.zone.get(i%d.g.gw, i/d.g.gw) {
				dst[i] = 255
			}
		}
		return dst, d.g.gw, d.g.gh
	}
	if d.shown {
		for y := range d.g.gh {
			row := dst[y*d.g.gw : (y+1)*d.g.gw]
			for wi, w := range d.shownMask.row(y) {
				for w != 0 {
					row[wi*64+bits.TrailingZeros64(w)] = 255
					w &= w - 1
				}
			}
		}
	}
	return dst, d.g.gw, d.g.gh
}

// Process analyses one frame. A frame that cannot be read (wrong format or
// size, corrupt or unsupported MJPEG) is counted and reported as an error
// wrapping capture.ErrBadFrame; the detector's state is unchanged by it.
// Process does not release f.
func (d *Detector) Process(f *capture.Frame) (Result, error) {
	res := Result{Frame: f.Seq, Time: f.Time, Boxes: d.boxes[:0]}
	d.relearnLog.Tick(f.Time)
	if err := d.read(f); err != nil {
		n := d.stats.bad.Add(1)
		if n&(n-1) == 0 { // log the 1st, 2nd, 4th, 8th... bad frame
			d.log.Warn("motion: skipping bad frame", "seq", f.Seq, "bad_frames", n, "err", err)
		}
		return res, fmt.Errorf("motion: frame %d: %w", f.Seq, err)
	}
	d.stats.frames.Add(1)
	d.step = 1
	if dt := f.Time.Sub(d.lastTime); !d.lastTime.IsZero() && dt > d.frameDur {
		d.step = uint16(min(max((dt+d.frameDur/2)/d.frameDur, 1), 250))
	}
	d.lastTime = f.Time
	if d.cfg.Blur {
		res.Brightness = d.blur()
	} else {
		res.Brightness = d.brightness()
	}
	d.shown, d.moved, d.noBridge = false, 0, false
	learned := false
	if reb := d.rebase.Swap(false); !d.started || reb {
		d.recalibrate()
		res.Recalibrated, learned = d.started, true
		d.started = true
	} else {
		res.Light, learned = d.compare()
		res.Recalibrated = learned
	}
	if res.Recalibrated {
		d.stats.recal.Add(1)
		d.relearnLog.Note(f.Time, nil)
	}
	if !learned {
		if d.stillFrames > 0 {
			d.absorbStill()
		}
		if d.cfg.Shake > 0 && d.off&offShake == 0 {
			d.explainShake()
		}
		if d.off&offLight == 0 {
			d.updateRef()
			if d.explainLight() >= int(d.minCells) {
				d.filt.lit = true
			}
		} else {
			clear(d.lit.bits)
		}
		d.findRegions(&res)
	} else {
		clear(d.ageA)
	}
	d.countFilters()
	if d.moved > 0 {
		// The whole picture moved: motion everywhere, as one region.
		res.Motion, res.Score = true, d.moved
		res.Boxes = append(res.Boxes[:0], Box{W: d.g.gw * d.g.cell, H: d.g.gh * d.g.cell})
	}
	d.prev, d.cur = d.cur, d.prev // the next frame is read over the one before
	res.Noise, res.Threshold = d.noise, d.thr
	d.stats.noise.Store(math.Float64bits(d.noise))
	d.ev.update(&res)
	if res.Started != nil {
		d.stats.events.Add(1)
	}
	return res, nil
}

func (d *Detector) read(f *capture.Frame) error {
	if f.Pixel != d.format.Pixel || f.Width != d.format.Width || f.Height != d.format.Height {
		return fmt.Errorf("%w: frame is %s %dx%d, detector expects %s %dx%d", capture.ErrBadFrame,
			f.Pixel, f.Width, f.Height, d.format.Pixel, d.format.Width, d.format.Height)
	}
	if stride := f.Stride; !f.Pixel.Compressed() && stride != d.luma.stride && (stride != 0 || d.luma.stride != f.Width*d.luma.bpp) {
		return fmt.Errorf("%w: stride %d, detector expects %d", capture.ErrBadFrame, f.Stride, d.luma.stride)
	}
	if err := d.luma.read(f.Data, d.cur); err != nil {
		return fmt.Errorf("%w: %w", capture.ErrBadFrame, err)
	}
	return nil
}

// brightness is the mean of the current grid (Q4) in luma levels.
func (d *Detector) brightness() float64 {
	if len(d.cur) == 0 {
		return 0
	}
	var sum uint64
	for _, c := range d.cur {
		sum += uint64(c)
	}
	return float64(sum) / float64(len(d.cur)) / 16
}

// blur applies the 3x3 binomial filter (1 2 1)x(1 2 1)/16 with edge
// replication, in Q4, and returns the mean of the grid before it (as
// brightness does), summed on the way. It works on four cells at once, in
// the 16-bit lanes of a 64-bit word: a Q4 value is at most 4080, the
// horizontal sum 4 times that and the vertical 16 times, 65280, so no lane
// carries into the next.
func (d *Detector) blur() float64 {
	w, h := d.g.gw, d.g.gh
	n := (w + 3) / 4 // words per row
	cur, p, t := d.cur, d.packed, d.packedH
	// The right edge: the lane of the last cell in the last word.
	lastLane := uint((w - 1) % 4 * 16)
	lastMask := uint64(0xFFFF) << lastLane
	var sum uint64
	for y := range h {
		r, pr := cur[y*w:(y+1)*w], p[y*n:(y+1)*n]
		// Pack the row.
		full := w / 4
		pf := pr[:full]
		rr := r[:4*full]
		for j := range pf {
			c := rr[4*j : 4*j+4]
			v := uint64(c[0]) | uint64(c[1])<<16 | uint64(c[2])<<32 | uint64(c[3])<<48
			pf[j] = v
			sum += uint64(c[0]) + uint64(c[1]) + uint64(c[2]) + uint64(c[3])
		}
		if full < n {
			var v uint64
			for k, c := range r[4*full:] {
				v |= uint64(c) << uint(16*k)
				sum += uint64(c)
			}
			pr[full] = v
		}
		// Horizontal: left + 2*self + right, the edge cells their own
		// neighbours.
		tr := t[y*n : (y+1)*n]
		tr = tr[:len(pr)]
		var prevW uint64
		for j, v := range pr {
			var next uint64
			if j+1 < len(pr) {
				next = pr[j+1]
			}
			l := v<<16 | prevW>>48
			if j == 0 {
				l |= v & 0xFFFF
			}
			rt := v>>16 | next<<48
			if j == len(pr)-1 {
				rt = rt&^lastMask | v&lastMask
			}
			tr[j] = l + 2*v + rt
			prevW = v
		}
	}
	const round = 8 * lanes16
	for y := range h {
		up, mid, dn := t[max(y-1, 0)*n:], t[y*n:(y+1)*n], t[min(y+1, h-1)*n:]
		up, dn = up[:len(mid)], dn[:len(mid)]
		r := cur[y*w : (y+1)*w]
		full := w / 4
		rr := r[:4*full]
		for j, m := range mid[:full] {
			o := (up[j] + 2*m + dn[j] + round) >> 4 & low12
			c := rr[4*j : 4*j+4]
			c[0], c[1], c[2], c[3] = uint16(o), uint16(o>>16), uint16(o>>32), uint16(o>>48)
		}
		if full < n {
			o := (up[full] + 2*mid[full] + dn[full] + round) >> 4 & low12
			for k := range r[4*full:] {
				r[4*full+k] = uint16(o >> uint(16*k))
			}
		}
	}
	return float64(sum) / float64(len(cur)) / 16
}

// lanes16 has 1 in each 16-bit lane; low12 keeps each lane's low 12 bits.
const (
	lanes16 = 0x0001000100010001
	low12   = 0x0FFF0FFF0FFF0FFF
)

// recalibrate makes the current frame the background and starts a warm-up.
func (d *Detector) recalibrate() {
	for i, c := range d.cur {
		d.bg[i] = c << 4
	}
	copy(d.ref, d.bg)
	clear(d.fresh)
	clear(d.still)
	clear(d.ageA)
	d.nFresh = 0
	d.warm = warmupFrames
	d.warmShow = false
}

// distribution summarises a histogram of differences: the median, in levels,
// the fraction of samples beyond the threshold, and the noise: the
// interquartile spread of the samples within the threshold (the unchanged
// part, so that large motion does not pass for noise), as a standard
// deviation. noise is NaN when too few samples are unchanged to tell.
type distribution struct {
	p50     float64
	changed float64
	noise   float64
}

func (s distribution) sigma() float64 { return s.noise }

func (d *Detector) distribution() distribution {
	n := uint32(len(d.samples))
	var s distribution
	lo := max(histZero-int(d.thr*4), 0) // buckets lo..hi are unchanged
	hi := min(histZero+int(d.thr*4)-1, histSize-1)
	var cum, inside uint32
	for b, c := range d.hist {
		if cum < n/2 && cum+c > n/2 {
			s.p50 = (float64(b-histZero) + float64(n/2-cum)/float64(c)) / 4
		}
		cum += c
		if b >= lo && b <= hi {
			inside += c
		}
	}
	s.changed = float64(n-inside) / float64(n)
	s.noise = math.NaN()
	if inside < n/4 {
		return s
	}
	// Quartiles of the unchanged part.
	targets := [2]uint32{inside / 4, 3 * inside / 4}
	var q [2]float64
	k := 0
	cum = 0
	for b := lo; b <= hi && k < 2; b++ {
		c := d.hist[b]
		for k < 2 && cum+c > targets[k] {
			q[k] = (float64(b-histZero) + float64(targets[k]-cum)/float64(c)) / 4
			k++
		}
		cum += c
	}
	s.noise = (q[1] - q[0]) / 1.349
	return s
}

func bucket(diffQ4 int32) int32 {
	return min(max(diffQ4>>2+histZero, 0), histSize-1)
}

// compare updates the background with the current frame and sets fg to the
// cells that changed. It reports whether a global light change was
// compensated and whether the background was re-learned instead.
func (d *Detector) compare() (light, recal bool) {
	s := d.differences(false)
	d.noBridge = math.Abs(s.p50) >= bridgeDrift
	warming := d.warm > 0
	if warming {
		d.warm--
	}
	d.warming = warming
	global := func(s distribution) bool {
		return s.changed >= d.cfg.lightChange() || math.Abs(s.p50) >= max(1, d.thr/8)
	}
	d.moved = 0
	moving := false
	if !warming && global(s) && !d.edgesKept() {
		// Not a light change: the picture moved (a panning camera, a
		// scrolling pattern, a large object). Motion, and when most of the
		// picture moved, a new background as well.
		moving = true
		if s.changed >= d.cfg.lightning() {
			d.recalibrate()
			d.moved = s.changed
			// Motion goes on being reported while the background is
			// re-learned: against the running mean of the frames since.
			d.warmShow = true
			return false, true
		}
	}
	if !warming && !moving && (s.sigma() >= bandGate || math.IsNaN(s.sigma()) || global(s)) && d.removeBands() {
		// removeBands histogrammed the samples as it divided.
		d.noBridge = true
		d.sumHist(d.hist[:])
		s = d.distribution()
	}
	light = !warming && !moving && global(s)
	if light {
		d.relit = d.relitHold
	} else {
		d.relit -= min(d.relit, d.step)
	}
	d.noBridge = d.noBridge || d.relit > 0
	if warming && s.changed >= d.cfg.lightChange() && !d.edgesKept() {
		// The picture keeps moving while the background is re-learned.
		d.moved = s.changed
	}
	if light {
		d.fitLight()
		s = d.differences(true)
		if s.changed >= d.cfg.lightning() {
			d.recalibrate()
			return false, true
		}
		d.stats.light.Add(1)
	}
	// Noise: a slow running average, kept while the background is being
	// learned (its running mean of a changing picture is no measure of
	// noise). The first frames after the start set it quickly.
	rate := 0.1
	if d.noiseFrames < warmupFrames {
		rate = 0.3
	}
	if sigma := d.localNoise(); !warming && !math.IsNaN(sigma) {
		d.noise += (sigma - d.noise) * rate
		d.noiseFrames++
	}
	d.thr = max(float64(d.cfg.Threshold), d.cfg.NoiseK*d.noise)

	alpha, alphaMove := d.alpha, d.alphaMove
	if warming {
		// The running mean of the frames so far: frame k of the warm-up
		// weighs 1/(k+1).
		k := int32(warmupFrames - d.warm + 1)
		alpha = max(alpha, 4096/k)
		alphaMove = alpha
	}
	thr := int32(d.thr * 256) // Q8
	if light || d.nFresh > 0 {
		d.updateSlow(light, thr, alpha, alphaMove)
	} else {
		d.updateFast(thr, alpha, alphaMove)
	}
	return light, false
}

// differences histograms the samples' differences from the background (as
// relit by the light LUT when light) and returns their distribution.
func (d *Detector) differences(light bool) distribution {
	h := &d.subHist
	clear(h[:])
	bg, cur := d.bg, d.cur[:len(d.bg)]
	h0, h1, h2, h3 := &h[0], &h[1], &h[2], &h[3]
	s := d.samples
	if light {
		lut := &d.lut
		for ; len(s) >= 4; s = s[4:] {
			h0[bucket(int32(cur[s[0]])-lutMap(lut, int32(bg[s[0]])))]++
			h1[bucket(int32(cur[s[1]])-lutMap(lut, int32(bg[s[1]])))]++
			h2[bucket(int32(cur[s[2]])-lutMap(lut, int32(bg[s[2]])))]++
			h3[bucket(int32(cur[s[3]])-lutMap(lut, int32(bg[s[3]])))]++
		}
		for _, i := range s {
			h0[bucket(int32(cur[i])-lutMap(lut, int32(bg[i])))]++
		}
	} else {
		histSamples(h, s, cur, bg)
	}
	d.sumHist(d.hist[:])
	return d.distribution()
}

// histSamples counts the differences of samples s of cur from bg into the
// four histograms h, consecutive samples into each in turn.
func histSamples(h *[4][histSize]uint32, s []int32, cur, bg []uint16) {
	h0, h1, h2, h3 := &h[0], &h[1], &h[2], &h[3]
	for ; len(s) >= 4; s = s[4:] {
		h0[bucket(int32(cur[s[0]])-int32(bg[s[0]]>>4))]++
		h1[bucket(int32(cur[s[1]])-int32(bg[s[1]]>>4))]++
		h2[bucket(int32(cur[s[2]])-int32(bg[s[2]]>>4))]++
		h3[bucket(int32(cur[s[3]])-int32(bg[s[3]]>>4))]++
	}
	for _, i := range s {
		h0[bucket(int32(cur[i])-int32(bg[i]>>4))]++
	}
}

// sumHist adds the first len(dst) buckets of the four subHist into dst.
func (d *Detector) sumHist(dst []uint32) {
	h := &d.subHist
	a, b, c, e := h[0][:len(dst)], h[1][:len(dst)], h[2][:len(dst)], h[3][:len(dst)]
	for i := range dst {
		dst[i] = a[i] + b[i] + c[i] + e[i]
	}
}

// Rolling flicker: a CMOS sensor reads its rows one after the other, so mains
// flicker under fluorescent or LED light shows as bright and dark horizontal
// bands that drift down the picture. When the frame is noisy (bandGate, the
// interquartile noise estimate in levels) or its light changed, the detector
// takes the median ratio of each row to the background (an object covering
// less than half of a row does not move it; clipped cells are left out) and
// divides out how each row differs from the median row, smoothed over
// neighbouring rows and limited to 1 +- bandMax, so that a row-wide object is
// not erased. The global part of the change is left to the light mapping,
// fitted afterwards on what the rows leave.
const (
	bandGate = 1.5
	bandMax  = 0.2
	rowBins  = 128 // steps of 1/256 around 1
)

// removeBands divides the per-row gains out of cur and reports whether any
// row had one.
func (d *Detector) removeBands() bool {
	gw, gh := d.g.gw, d.g.gh
	bg, cur := d.bg, d.cur[:len(d.bg)]
	recip := (*[1024]int32)(d.recip)
	// Median per sampled row, as a gain in Q16; rows without samples are 0.
	// The median of the row gains is the global part of the change, which is
	// left to the light mapping; only the variation across rows is removed,
	// and none when the global change is large (clipping then skews rows).
	var gains [rowBins]uint16
	var rows uint32
	for y := range gh {
		var h [rowBins]uint16
		var n uint32
		for _, i := range d.samples[d.sampleRows[y]:d.sampleRows[y+1]] {
			base, c := int32(bg[i]>>4), int32(cur[i])
			if !unclipped(base) || !unclipped(c) {
				continue // clipped: no ratio to learn from
			}
			// (cur-base)/base in 1/256, through a table of 2^24/base.
			rel := int32(int64(c-base) * int64(recip[base>>2&1023]) >> 16)
			h[min(max(rel+rowBins/2, 0), rowBins-1)]++
			n++
		}
		d.rowGain[y] = 0
		if n >= 8 {
			m := median16(h[:], n)
			d.rowGain[y] = int32(math.Round((1 + (m-rowBins/2)/256) * 65536))
			gains[min(int(m), rowBins-1)]++
			rows++
		}
	}
	if rows == 0 {
		return false
	}
	global := 1 + (median16(gains[:], rows)-rowBins/2)/256
	if math.Abs(global-1) > bandMax/2 {
		return false
	}
	lo, hi := int32(math.Round((1-bandMax)*65536)), int32(math.Round((1+bandMax)*65536))
	for y := range gh {
		if g := d.rowGain[y]; g != 0 {
			d.rowGain[y] = min(max(int32(float64(g)/global), lo), hi)
		}
	}
	// Fill rows without samples from the nearest row above (or below).
	last := int32(0)
	for y := range gh {
		if d.rowGain[y] == 0 {
			d.rowGain[y] = last
		} else {
			last = d.rowGain[y]
		}
	}
	for y := gh - 1; y >= 0; y-- {
		if d.rowGain[y] == 0 {
			d.rowGain[y] = last
		} else {
			last = d.rowGain[y]
		}
	}
	// Smooth with a median of three rows and divide out; histogram the
	// samples' differences as the rows are done (differences(false), in
	// the same pass).
	changed := false
	prev := d.rowGain[0]
	h := &d.subHist
	clear(h[:])
	for y := range gh {
		a, b, c := prev, d.rowGain[y], d.rowGain[min(y+1, gh-1)]
		prev = b
		if g := max(min(a, b), min(max(a, b), c)); g != 65536 {
			changed = true
			m := int32((1<<32 + int64(g)/2) / int64(g)) // 65536/gain, Q16
			divideRow(cur[y*gw:(y+1)*gw], m)
		}
		histSamples(h, d.samples[d.sampleRows[y]:d.sampleRows[y+1]], cur, bg)
	}
	return changed
}

// divideRow multiplies a row of Q4 cells by m/65536, rounded and kept to
// the range.
func divideRow(row []uint16, m int32) {
	for ; len(row) >= 4; row = row[4:] {
		r := row[:4]
		r[0] = uint16(min((int32(r[0])*m+1<<15)>>16, 4080))
		r[1] = uint16(min((int32(r[1])*m+1<<15)>>16, 4080))
		r[2] = uint16(min((int32(r[2])*m+1<<15)>>16, 4080))
		r[3] = uint16(min((int32(r[3])*m+1<<15)>>16, 4080))
	}
	for x, v := range row {
		row[x] = uint16(min((int32(v)*m+1<<15)>>16, 4080))
	}
}

// median16 is median for 16-bit counts.
func median16(h []uint16, n uint32) float64 {
	half := n / 2
	var cum uint32
	for b, c := range h {
		if cum+uint32(c) > half {
			return float64(b) + (float64(half-cum)+0.5)/float64(c)
		}
		cum += uint32(c)
	}
	return float64(len(h))
}

// updateFast compares and learns, the common case.
func (d *Detector) updateFast(thr, alpha, alphaMove int32) {
	gw := d.g.gw
	for y := range d.g.gh {
		row := d.fg.row(y)
		zr := d.zone.row(y)[:len(row)]
		cur, bg := d.cur[y*gw:(y+1)*gw], d.bg[y*gw:(y+1)*gw]
		for wi := range row {
			x0 := wi * 64
			row[wi] = updateRun(cur[x0:min(x0+64, len(cur))], bg[x0:min(x0+64, len(bg))], thr, alpha, alphaMove) & zr[wi]
		}
	}
}

// updateRun is updateFast for up to 64 cells: it returns their bits beyond
// thr. It is branch-free per cell, and the bits are shifted in at the top,
// so that no shift depends on the cell.
func updateRun(c, b []uint16, thr, alpha, alphaMove int32) (word uint64) {
	b = b[:len(c)]
	// |diff| > thr as one unsigned comparison (thr >= 0): diff+thr wraps
	// to above 2*thr when diff < -thr.
	span := uint32(2 * thr)
	for x, cv := range c {
		bv := int32(b[x])
		diff := int32(cv)<<4 - bv
		a, bit := alpha, uint64(0)
		if uint32(diff+thr) > span {
			a, bit = alphaMove, 1<<63
		}
		b[x] = uint16(bv + (diff*a+2048)>>12)
		word = word>>1 | bit
	}
	return word >> uint(64-len(c))
}

// Background cells at the ends of the range (Q8), or relit to them, cannot be
// trusted when the light changes by more than a little: clipping lost what
// they hold, and a cell that mixes clipped and unclipped pixels does not
// follow the mapping. They are re-learned from the frame instead.
const (
	clipLo = 3 * 256
	clipHi = 252 * 256
)

// updateSlow is updateFast with relighting of the background through the
// light LUT (relight, a pass of its own) and cells that are re-learning
// (fresh). With none re-learning, as on most frames of a light change, the
// comparison is updateFast's.
func (d *Detector) updateSlow(light bool, thr, alpha, alphaMove int32) {
	if light && !d.relight() && d.nFresh == 0 {
		d.updateFast(thr, alpha, alphaMove)
		return
	}
	gw := d.g.gw
	nFresh := 0
	for y := range d.g.gh {
		row := d.fg.row(y)
		zr := d.zone.row(y)
		cur, bg := d.cur[y*gw:(y+1)*gw], d.bg[y*gw:(y+1)*gw]
		fresh := d.fresh[y*gw : (y+1)*gw]
		for wi := range row {
			x0, x1 := wi*64, min(wi*64+64, gw)
			var word uint64
			for x := x0; x < x1; x++ {
				b := int32(bg[x])
				c := int32(cur[x]) << 4
				diff := c - b
				a := alpha
				if fr := fresh[x]; fr > 0 {
					a = max(alpha, 4096/int32(warmupFrames-fr+2))
					fresh[x] = fr - 1
					nFresh++
				} else if diff > thr || -diff > thr {
					word |= 1 << uint(x-x0)
					a = alphaMove
				}
				bg[x] = uint16(b + (diff*a+2048)>>12)
			}
			row[wi] = word & zr[wi]
		}
	}
	d.nFresh = nFresh
}

// relight maps the background through the light LUT, and reports whether
// it set a cell re-learning: one that is clipped, or relit to the ends of
// the range, and changed by more than two levels takes the frame's value
// instead and starts re-learning.
func (d *Detector) relight() (reset bool) {
	// Per level of the background (Q8 >> 8): the mapping's start and
	// slope, and whether a cell there can be clipped or relit to the ends
	// (then it is checked one by one).
	var base, slope [256]int32
	var check [256]bool
	for k := range 256 {
		base[k], slope[k] = d.lut[k], d.lut[k+1]-d.lut[k]
		check[k] = k*256 <= clipLo || k*256+255 >= clipHi || d.lut[k]<<4 <= clipLo || d.lut[k+1]<<4 >= clipHi
	}
	bg := d.bg
	cur := d.cur[:len(bg)]
	for i, v := range bg {
		k := uint8(v >> 8)
		e := (base[k] + (slope[k]*int32(v&255))>>8) << 4
		if check[k] {
			if b := int32(v); (b <= clipLo || b >= clipHi || e <= clipLo || e >= clipHi) && (e-b > 512 || b-e > 512) {
				bg[i], d.fresh[i] = cur[i]<<4, warmupFrames
				reset = true
				continue
			}
		}
		bg[i] = uint16(e)
	}
	return reset
}

// edgesKept tells a light change from a moved picture: light changes the
// brightness of the scene but leaves its edges where they were. Among the
// samples where the background changes by at least a threshold over two
// cells to the right or down (an edge, blurred over about two cells), with
// no clipped cell, it counts those where the frame still has an edge of the
// same sign and at least an eighth of the strength. Fewer than half kept
// means the picture moved. With too few edges to tell, it assumes light. (A
// pattern moved by exactly its period keeps its edges, and passes.)
func (d *Detector) edgesKept() bool {
	strong := int32(d.thr * 16) // Q4
	bg, cur := d.bg, d.cur[:len(d.bg)]
	var n int64 // edges + kept<<32
	// The cell two to the right, when in the same row (sampleRight).
	// Most pairs are no edge of the background, and stop at the first test.
	// The cell two down, for the samples above the last two rows: both
	// pairs of those in one pass, then the right pairs of the rest.
	right := d.sampleRight[:len(d.samples)]
	down := 2 * d.g.gw
	above := int(d.sampleRows[max(d.g.gh-2, 0)])
	for k, i := range d.samples[:above] {
		b := bg[i] >> 4
		if j := int(i) + 2; right[k] && absDiff(b, bg[j]>>4) >= strong {
			n += edgeKept(bg, cur, int(i), j)
		}
		if j := int(i) + down; absDiff(b, bg[j]>>4) >= strong {
			n += edgeKept(bg, cur, int(i), j)
		}
	}
	for k, i := range d.samples[above:] {
		if j := int(i) + 2; right[above+k] && absDiff(bg[i]>>4, bg[j]>>4) >= strong {
			n += edgeKept(bg, cur, int(i), j)
		}
	}
	edges, kept := n&0xFFFFFFFF, n>>32
	return edges < minEdges || 2*kept >= edges
}

// absDiff is |a-b|.
func absDiff(a, b uint16) int32 {
	d := int32(a) - int32(b)
	return d ^ d>>31 - d>>31
}

// edgeKept is edgesKept for cells i and j, whose background differs by a
// strong edge: 1 when none of the four values (Q4) is clipped, plus 1<<32
// when the frame changes the same way by at least an eighth of the
// background's change (kept).
func edgeKept(bg, cur []uint16, i, j int) int64 {
	b0, b1 := int32(bg[i]>>4), int32(bg[j]>>4)
	c0, c1 := int32(cur[i]), int32(cur[j])
	if !unclipped(b0) || !unclipped(c0) || !unclipped(b1) || !unclipped(c1) {
		return 0
	}
	gb, gc := b1-b0, c1-c0
	if gb < 0 {
		gb, gc = -gb, -gc
	}
	if gc >= gb>>3 {
		return 1 | 1<<32
	}
	return 1
}

// unclipped reports whether a Q4 value lies strictly inside the range that
// clipping leaves alone (clipLo..clipHi).
func unclipped(v int32) bool { return uint32(v-clipLo>>4-1) < clipHi>>4-clipLo>>4-1 }

// minEdges is how many strong edges edgesKept needs to judge.
const minEdges = 16

// lutMap maps a Q8 background value (0..65535) through lut to Q4, linearly
// between its entries.
func lutMap(lut *[257]int32, bgQ8 int32) int32 {
	k := int(uint8(bgQ8 >> 8))
	a := lut[k]
	return a + ((lut[k+1]-a)*(bgQ8&255))>>8
}

// fitLight fits the brightness mapping from background to frame: for each of
// 16 background brightness bins with enough samples, the median background
// maps to the median frame value (medians, so moving objects covering less
// than half of a bin do not pull it). The knots are joined linearly, extended
// at the ends as a gain, and forced monotone.
func (d *Detector) fitLight() {
	clear(d.binHist[:])
	clear(d.bgHist[:])
	for _, i := range d.samples {
		b := d.bg[i] >> 8
		d.bgHist[b]++
		d.binHist[b>>4][d.cur[i]>>4]++
	}
	minKnot := uint32(max(8, len(d.samples)/100))
	var kx, ky [lutBins]float64
	nk := 0
	for bin := range lutBins {
		var n uint32
		for _, c := range d.bgHist[bin*16 : bin*16+16] {
			n += c
		}
		if n < minKnot {
			continue
		}
		kx[nk] = float64(bin*16) + median(d.bgHist[bin*16:bin*16+16], n)
		ky[nk] = median(d.binHist[bin][:], n)
		nk++
	}
	if nk == 0 {
		for i := range d.lut {
			d.lut[i] = int32(min(i, 255) * 16)
		}
		return
	}
	// Beyond the end knots the mapping is taken as a pure gain (light is
	// multiplicative: black stays black), from the end knot's ratio.
	lowGain, highGain := 1.0, 1.0
	if kx[0] >= 4 {
		lowGain = ky[0] / kx[0]
	}
	if kx[nk-1] >= 4 {
		highGain = ky[nk-1] / kx[nk-1]
	}
	k := 0
	prev := int32(0)
	for i := range d.lut {
		x := float64(i)
		for k < nk && kx[k] < x {
			k++
		}
		var y float64
		switch {
		case k == 0:
			y = x * lowGain
		case k == nk:
			y = x * highGain
		default:
			t := (x - kx[k-1]) / (kx[k] - kx[k-1])
			y = ky[k-1] + t*(ky[k]-ky[k-1])
		}
		v := int32(min(max(math.Round(y*16), 0), 4080))
		v = max(v, prev)
		d.lut[i], prev = v, v
	}
}

// countFilters adds the frame's filter decisions to the counters.
func (d *Detector) countFilters() {
	if d.filt.shake {
		d.stats.shake.Add(1)
	}
	if d.filt.lit {
		d.stats.lit.Add(1)
	}
	if d.filt.young {
		d.stats.young.Add(1)
	}
	d.filt = filterFlags{}
}

// median returns the interpolated median position of a histogram of n
// samples, in buckets from its start (bucket b covers [b, b+1)).
func median(h []uint32, n uint32) float64 {
	half := n / 2
	var cum uint32
	for b, c := range h {
		if cum+c > half {
			return float64(b) + (float64(half-cum)+0.5)/float64(c)
		}
		cum += c
	}
	return float64(len(h))
}

// absorbStill counts, for each changed cell, the frames it has stayed within
// half a threshold of the previous frame, and takes a cell that stayed so for
// StillTime into the background (and out of the motion mask): whatever
// changed there has stopped. Unchanged cells reset their count.
func (d *Detector) absorbStill() {
	gw := d.g.gw
	half := int32(d.thr * 8) // Q4
	for y := range d.g.gh {
		row := d.fg.row(y)
		base := y * gw
		for wi, w := range row {
			x0, x1 := wi*64, min(wi*64+64, gw)
			still := d.still[base+x0 : base+x1]
			if w == 0 {
				clear(still)
				continue
			}
			cur, prev, bg := d.cur[base+x0:base+x1], d.prev[base+x0:base+x1], d.bg[base+x0:base+x1]
			if bits.OnesCount64(w) > stillSparse {
				row[wi] = stillRun(cur, prev, bg, still, w, half, d.step, d.stillFrames)
				continue
			}
			// A few changed cells: those alone, the others cleared.
			var xs [stillSparse]uint8
			var sts [stillSparse]uint16
			n := 0
			for v := w; v != 0; v &= v - 1 {
				x := bits.TrailingZeros64(v)
				c := cur[x]
				st := uint16(0)
				if dl := int32(c) - int32(prev[x]); dl <= half && -dl <= half {
					if st = min(still[x]+d.step, d.stillFrames); st >= d.stillFrames {
						bg[x], st = c<<4, 0
						w &^= 1 << uint(x)
					}
				}
				xs[n], sts[n] = uint8(x), st
				n++
			}
			clear(still)
			for k := range n {
				still[xs[k]] = sts[k]
			}
			row[wi] = w
		}
	}
}

// stillSparse is how many changed cells of a word absorbStill takes one
// by one; more go through stillRun.
const stillSparse = 8

// stillRun is absorbStill for the cells of one word w of the changed mask:
// it returns the word with the absorbed cells cleared. Branch-free but for
// the absorption.
func stillRun(cur, prev, bg, still []uint16, w uint64, half int32, step, stillFrames uint16) uint64 {
	prev, bg, still = prev[:len(cur)], bg[:len(cur)], still[:len(cur)]
	v := w
	for x, c := range cur {
		dl := int32(c) - int32(prev[x])
		// Changed and within half a threshold of the frame before.
		keep := uint16(v) & 1 &^ uint16(uint32(half-(dl^dl>>31-dl>>31))>>31)
		v >>= 1
		st := min(still[x]+step, stillFrames) & -keep
		if st >= stillFrames {
			bg[x], st = c<<4, 0
			w &^= 1 << uint(x)
		}
		still[x] = st
	}
	return w
}

// explainShake looks for camera shake: changed cells whose value lies within
// the range (widened by the threshold) of the background values within Shake
// cells. An edge moved by a shake, or by less than a cell, makes a value
// between its neighbours', which no background model at one cell explains.
// A shake moves every edge of the picture, so when such cells are found all
// over it (in shakeRegions of the 4x4 regions of the grid), they are cleared;
// otherwise they are more likely the soft border of a real object, and kept.
// Cost is in proportion to the changed cells.
func (d *Detector) explainShake() {
	gw, gh, r := d.g.gw, d.g.gh, d.cfg.Shake
	// A shake needs changed cells all over the picture; most frames with
	// motion have them in a few regions, and stop here.
	if d.spread(&d.fg) < shakeRegions {
		return
	}
	thr := int32(d.thr * 256)
	d.shakeRows = [3]int{-1, -1, -1} // the background changed since
	for y := range gh {
		row, sh := d.fg.row(y), d.work.row(y)
		y0, y1 := max(y-r, 0), min(y+r, gh-1)
		cur := d.cur[y*gw : (y+1)*gw]
		n := 0
		for _, w := range row {
			n += bits.OnesCount64(w)
		}
		// With many changed cells in the row (a large change), the
		// background's ranges across each row, three rows at once.
		dense := r == 1 && n >= shakeDense
		var l0, h0, l1, h1, l2, h2 []uint16
		if dense {
			l0, h0 = d.shakeRow(max(y-1, 0))
			l1, h1 = d.shakeRow(y)
			l2, h2 = d.shakeRow(min(y+1, gh-1))
			l0, h0, l1, h1, l2, h2 = l0[:gw], h0[:gw], l1[:gw], h1[:gw], l2[:gw], h2[:gw]
		}
		for wi, w := range row {
			var explained uint64
			for w != 0 {
				b := bits.TrailingZeros64(w)
				w &= w - 1
				x := wi*64 + b
				var lo, hi int32
				if i := y*gw + x; dense {
					lo, hi = int32(min(l0[x], l1[x], l2[x])), int32(max(h0[x], h1[x], h2[x]))
				} else if r == 1 && x > 0 && x < gw-1 && y > 0 && y < gh-1 {
					// The common case, inside the picture.
					a, m, c := d.bg[i-gw-1:i-gw+2], d.bg[i-1:i+2], d.bg[i+gw-1:i+gw+2]
					lo = int32(min(a[0], a[1], a[2], m[0], m[1], m[2], c[0], c[1], c[2]))
					hi = int32(max(a[0], a[1], a[2], m[0], m[1], m[2], c[0], c[1], c[2]))
				} else {
					x0, x1 := max(x-r, 0), min(x+r, gw-1)
					lo, hi = math.MaxInt32, 0
					for yy := y0; yy <= y1; yy++ {
						for _, v := range d.bg[yy*gw+x0 : yy*gw+x1+1] {
							lo, hi = min(lo, int32(v)), max(hi, int32(v))
						}
					}
				}
				if c := int32(cur[x]) << 4; c >= lo-thr && c <= hi+thr {
					explained |= 1 << uint(b)
				}
			}
			sh[wi] = explained
		}
	}
	if d.spread(&d.work) < shakeRegions {
		return
	}
	for i, w := range d.work.bits {
		d.fg.bits[i] &^= w
	}
	d.filt.shake = true
}

// shakeDense is how many changed cells in a grid row make explainShake
// take the background's ranges across whole rows (shakeRow) rather than
// cell by cell.
const shakeDense = 32

// shakeRow returns the least and greatest background value within a cell
// across of each cell of row y (the window cut at the grid's edges), from
// the three rows explainShake keeps (shakeRows), which it fills first if
// they do not hold row y.
func (d *Detector) shakeRow(y int) (lo, hi []uint16) {
	gw := d.g.gw
	k := y % 3
	lo, hi = d.shakeLo[k*gw:(k+1)*gw], d.shakeHi[k*gw:(k+1)*gw]
	if d.shakeRows[k] == y {
		return lo, hi
	}
	d.shakeRows[k] = y
	m := d.bg[y*gw:][:gw]
	pv := m[0]
	for x := 0; x < gw-1; x++ {
		v, nv := m[x], m[x+1]
		lo[x], hi[x] = min(pv, v, nv), max(pv, v, nv)
		pv = v
	}
	lo[gw-1], hi[gw-1] = min(pv, m[gw-1]), max(pv, m[gw-1])
	return lo, hi
}

// spread counts the regions of a 4x4 partition of the grid that hold at
// least shakeCells cells of m.
func (d *Detector) spread(m *bitmask) int {
	var regions [16]int
	for y := range m.h {
		r := regions[d.regionY[y]:][:4]
		for wi, w := range m.row(y) {
			if w == 0 {
				continue
			}
			cols := &d.regionCols[wi]
			r[0] += bits.OnesCount64(w & cols[0])
			r[1] += bits.OnesCount64(w & cols[1])
			r[2] += bits.OnesCount64(w & cols[2])
			r[3] += bits.OnesCount64(w & cols[3])
		}
	}
	n := 0
	for _, c := range regions {
		if c >= shakeCells {
			n++
		}
	}
	return n
}

// findRegions despeckles fg into the seeds, labels the regions around them
// and fills the result.
func (d *Detector) findRegions(res *Result) {
	src, dst := &d.fg, &d.work
	for i := 0; i < len(d.cfg.Despeckle); i++ {
		op := d.cfg.Despeckle[i]
		if op == 'l' {
			break
		}
		morph(dst, src, op, d.morphTmp, 0, src.h)
		src, dst = dst, src
	}
	r := d.reg
	// The regions: the seeds (src) grown by growSteps cells into the cells
	// beyond the low threshold that are not light.
	y0, y1 := -1, -1
	for y := range src.h {
		for _, w := range src.row(y) {
			if w != 0 {
				if y0 < 0 {
					y0 = y
				}
				y1 = y + 1
				break
			}
		}
	}
	if y0 < 0 {
		r.runs, r.n = 0, 0
		clear(d.ageA)
	} else {
		grown := src
		if d.off&offHysteresis == 0 {
			grown = d.grow(src, y0, y1)
		}
		r.labelMask(grown)
		d.countSeeds(src)
		if d.off&offParticles == 0 {
			d.ageRegions()
		} else {
			for k := range int32(r.n) {
				d.age[k] = 255
			}
		}
	}
	largestOnly := len(d.cfg.Despeckle) > 0 && d.cfg.Despeckle[len(d.cfg.Despeckle)-1] == 'l'
	largest := int32(-1)
	var area int32
	// Many small regions at once are a particle field (snow, rain,
	// insects): while one has been seen within swarmHold, a small region
	// must persist for swarmPersistTime instead of persistTime.
	small, born := 0, 0
	for k := range int32(r.n) {
		if d.seeds[k] > 0 && r.area[k] < d.bigCells {
			small++
			if d.seeds[k] >= d.minCells && d.age[k] == 1 {
				born++
			}
		}
	}
	if d.countBirths(born) >= swarmBirths || small >= swarmRegions {
		d.swarm = d.swarmHold
	} else {
		d.swarm -= min(d.swarm, d.step)
	}
	persist, big := d.persist, d.bigCells
	if d.swarm > 0 {
		persist, big = d.persistSwarm, big*swarmBig4/4
	}
	for k := range int32(r.n) {
		d.kept[k] = d.seeds[k] >= d.minCells
		if d.kept[k] && r.area[k] < big && d.age[k] < persist {
			d.kept[k] = false
			d.filt.young = true
		}
		if d.kept[k] && (largest < 0 || r.area[k] > r.area[largest]) {
			largest = k
		}
	}
	if largestOnly {
		for k := range int32(r.n) {
			d.kept[k] = k == largest
		}
	}
	if d.warming && !d.warmShow {
		return
	}
	d.shown = true
	if d.extend() {
		// The extended mask's regions are what is reported; each holds
		// at least one kept region.
		r.labelMask(&d.shownMask)
		for k := range int32(r.n) {
			d.kept[k] = true
		}
	}
	// The MaxBoxes largest regions, by insertion into a short sorted list.
	order := d.order[:0]
	for k := range int32(r.n) {
		if !d.kept[k] {
			continue
		}
		area += r.area[k]
		pos := len(order)
		for pos > 0 && r.area[order[pos-1]] < r.area[k] {
			pos--
		}
		if pos >= MaxBoxes {
			continue
		}
		if len(order) < MaxBoxes {
			order = append(order, 0)
		}
		copy(order[pos+1:], order[pos:len(order)-1])
		order[pos] = k
	}
	c := d.g.cell
	for _, k := range order {
		x, y := int(r.x0[k])*c, int(r.y0[k])*c
		res.Boxes = append(res.Boxes, Box{X: x, Y: y,
			W: min(int(r.x1[k])*c, d.g.w) - x, H: min(int(r.y1[k])*c, d.g.h) - y})
	}
	res.Motion = area > 0
	res.Score = float64(area) / float64(d.analysed)
}
