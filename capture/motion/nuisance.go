package motion

import (
	"math"
	"math/bits"
)

// Nuisance filters: changes of the picture that are not motion an owner
// wants to hear about, and the hysteresis that keeps the low-contrast parts
// of a person (at night) with the rest of them. See the package doc, steps 7
// to 9.

// Travelling light: a cloud's shadow or headlights' spill changes a large,
// soft-edged area by a gain that varies slowly across it and leaves the
// texture under it as it was. A changed cell is light when its gain, frame /
// reference (ref: a background every cell learns at the same slow rate, so
// that a change crossing the threshold in some cells before others does not
// make it uneven), applied to the reference of four pairs of opposite
// neighbours litDist cells away and four litFar cells away, explains the
// frame there: the pair's errors, relative to their reference, cancel to
// within half the threshold (as for a gain that changes linearly across the
// pair), and the gain changes by at most litSlope per litDist cells. A cell
// whose pairs cancel only to within the curvature a soft edge may have
// (litCurv: a spill's rim curves its gain) is light when no unexplained
// changed cell lies within softReach. A person
// breaks that: their outline and texture are not the background's. A light
// cell leaves the motion mask and is taken into the background at once, as a
// global light change relights the whole background; a clipped one (a spill
// that saturates) is light when a cell within two is and no unexplained
// changed cell is. The inside of a flat object on a flat background passes,
// as nothing tells it from light; the object's outline does not, and the
// hysteresis grows its region from there. Cost is in proportion to the
// changed cells.
const (
	litDist = 2
	litFar  = 4
	// litSlope is the steepest change of gain across litDist cells that is
	// light (Q16): a shadow's edge is soft, an object's is not.
	litSlope = 65536 * 12 / 100
	// litCurv is the curvature of the gain, per cell squared, that a soft
	// edge may have (Q16): the pair's errors cancel to within
	// litCurv * |o|^2 of the background besides half the threshold.
	litCurv = 65536 * 45 / 10000
)

// litSlopeQ16 is litSlope for each pair: a diagonal pair is sqrt(2) times
// as far, and its gain may change by as much more (3/2 here).
var litSlopeQ16 = [8]int64{litSlope, litSlope, litSlope * 3 / 2, litSlope * 3 / 2, litSlope, litSlope, litSlope * 3 / 2, litSlope * 3 / 2}

var litCurvQ16 = [8]int64{litCurv * litDist * litDist, litCurv * litDist * litDist, litCurv * 2 * litDist * litDist, litCurv * 2 * litDist * litDist,
	litCurv * litFar * litFar, litCurv * litFar * litFar, litCurv * 2 * litFar * litFar, litCurv * 2 * litFar * litFar}

// explainLight sets lit to the changed cells that a local gain explains,
// takes them out of fg and into the background, and reports how many it
// took. It uses d.work as scratch.
func (d *Detector) explainLight() int {
	gw, gh := d.g.gw, d.g.gh
	tol := int64(d.thr * 8) // half the threshold, Q4
	clear(d.lit.bits)
	const edge = litFar
	// Opposite pairs of neighbours: a gain that changes linearly across
	// the pair (a shadow's soft edge) changes by as much up one side as
	// down the other, so their errors cancel.
	pairs := [8]int{litDist, litDist * gw, litDist*gw + litDist, litDist*gw - litDist,
		litFar, litFar * gw, litFar*gw + litFar, litFar*gw - litFar}
	taken := 0
	for y := range gh {
		row, lit := d.fg.row(y), d.lit.row(y)
		clipped, soft := d.work.row(y), d.grow1.row(y)
		clear(clipped)
		clear(soft)
		// Near the picture's edge the pairs are taken around the nearest
		// cell far enough inside.
		base := min(max(y, edge), gh-1-edge) * gw
		for wi, w := range row {
			var out uint64
			for w != 0 {
				b := bits.TrailingZeros64(w)
				w &= w - 1
				x := wi*64 + b
				i := base + min(max(x, edge), gw-1-edge)
				bv := int32(d.ref[y*gw+x] >> 4) // Q4
				cv := int32(d.cur[y*gw+x])
				if bv <= clipLo>>4 || bv >= clipHi>>4 || cv <= clipLo>>4 || cv >= clipHi>>4 {
					// Clipped: no gain to see here; decided by the
					// cells around it below.
					clipped[wi] |= 1 << uint(b)
					continue
				}
				g := int64(cv * d.recip[bv>>2] >> 8) // Q16
				ok := true
				if own := y*gw + x; i != own {
					// Near the edge: the gain is the inner cell's,
					// and this cell is within the slope of it.
					bi, ci := int32(d.ref[i]>>4), int32(d.cur[i])
					if bi <= clipLo>>4 || bi >= clipHi>>4 || ci <= clipLo>>4 || ci >= clipHi>>4 {
						clipped[wi] |= 1 << uint(b)
						continue
					}
					g = int64(ci * d.recip[bi>>2] >> 8)
					dist := int64(max(abs(i%gw-x), abs(i/gw-y)))
					e := int64(cv) - int64(bv)*g>>16
					if lim := tol + litSlope*int64(bv)>>16*dist/litDist; e > lim || -e > lim {
						continue
					}
				}
				// strict: the pair's errors cancel to within half the
				// threshold; soft: within the curvature a soft edge may
				// have besides (decided by the cells around it below).
				strict := true
				for k, o := range pairs {
					bp, bm := int64(d.ref[i+o]>>4), int64(d.ref[i-o]>>4)
					ep := clipErr(int64(d.cur[i+o]), bp*g>>16)
					em := clipErr(int64(d.cur[i-o]), bm*g>>16)
					// Relative to each side's background, the errors
					// cancel: ep/bp + em/bm = 0, scaled to the mean
					// background.
					sum := (ep*bm + em*bp) * 2 / max(bp+bm, 16)
					slope := ep
					if k >= 4 {
						slope /= 2
					}
					if lim := litSlopeQ16[k] * bp >> 16; slope > lim || -slope > lim {
						ok = false
						break
					}
					if sum > tol || -sum > tol {
						strict = false
						if curv := tol + litCurvQ16[k]*(bp+bm)>>17; sum > curv || -sum > curv {
							ok = false
							break
						}
					}
				}
				switch {
				case ok && strict:
					out |= 1 << uint(b)
					d.bg[y*gw+x] = uint16(cv) << 4
				case ok:
					soft[wi] |= 1 << uint(b)
				}
			}
			if out != 0 {
				lit[wi] = out
				taken += bits.OnesCount64(row[wi] & out)
				row[wi] &^= out
			}
		}
	}
	// A softly explained cell (a spill's curved edge) is light when no
	// changed cell within softReach is one the light does not explain (an
	// object's outline): the inside of an object keeps its outline near.
	taken += d.takeLit(&d.grow1, softReach, false)
	// A clipped changed cell (a spill that saturates the sky) is light when
	// a cell within two is light and none within two is a changed cell the
	// light does not explain.
	taken += d.takeLit(&d.work, 2, true)
	return taken
}

// softReach is how near an unexplained changed cell keeps a softly
// explained one out of the light, in cells.
const softReach = 3

// takeLit moves the cells of cand that have no changed cell outside cand
// within reach (and, with needLit, a light cell within reach) from fg to
// lit, and reports how many it moved.
func (d *Detector) takeLit(cand *bitmask, reach int, needLit bool) int {
	gw, gh := d.g.gw, d.g.gh
	taken := 0
	for y := range gh {
		for wi, w := range cand.row(y) {
			var out uint64
			for w != 0 {
				b := bits.TrailingZeros64(w)
				w &= w - 1
				x := wi*64 + b
				lit, other := !needLit, false
				for yy := max(y-reach, 0); yy <= min(y+reach, gh-1) && !other; yy++ {
					for xx := max(x-reach, 0); xx <= min(x+reach, gw-1); xx++ {
						lit = lit || d.lit.get(xx, yy)
						other = other || (d.fg.get(xx, yy) && !cand.get(xx, yy))
					}
				}
				if lit && !other {
					out |= 1 << uint(b)
					if !needLit { // a clipped cell holds no gain to learn
						d.bg[y*gw+x] = d.cur[y*gw+x] << 4
					}
				}
			}
			if out != 0 {
				d.lit.row(y)[wi] |= out
				d.fg.row(y)[wi] &^= out
				taken += bits.OnesCount64(out)
			}
		}
	}
	return taken
}

// clipErr is the error of a prediction of a cell (Q4), none when both are
// beyond the top of the range (saturated).
func clipErr(cur, pred int64) int64 {
	if cur >= clipHi>>4 && pred >= cur {
		return 0
	}
	return cur - pred
}

// Hysteresis: the regions are the seeds (despeckled cells beyond the
// threshold that no filter explained) grown by up to growSteps cells into the
// cells beyond the low threshold (lowFrac of Threshold, or 0.75 * NoiseK *
// noise if larger) that are not light. A region counts by its seeds
// (MinArea); its shape is all of it, so the low-contrast parts of a person (a
// dark coat on a dark ground under IR, the flat inside of an object) are
// reported with it. The growth is bounded so that a shadow's edge beyond the
// low threshold does not carry a region across the picture.
const lowFrac = 0.5

// lowThreshold is the hysteresis threshold in levels.
func (d *Detector) lowThreshold() float64 {
	return min(d.thr, max(float64(d.cfg.Threshold)*lowFrac, 0.75*d.cfg.NoiseK*d.noise))
}

// Particles near the lens (snow, rain, insects under the IR lamp) are small,
// bright, fast and brief: each frame shows them somewhere else. A region
// smaller than particleArea of the analysed area counts only once it has
// been seen for persistTime, each frame with at least 1/overlapDiv of it
// within a cell of the regions of the frame before. A person, a car or a
// thrown ball does; rain, an insect, a flake that moves its own size per
// frame does not (a large slow snowflake can: see the particle field). A
// small (far) object's event starts persistTime later.
const (
	particleArea = 0.005
	persistTime  = 0.4 // seconds
	// A region persists when at least 1/overlapDiv of it lies within a cell
	// of the frame before's regions.
	overlapDiv = 3
)

// A particle field: at least swarmRegions regions under particleArea in one
// frame (snow shows 5 to 9 at once, the other scenes at most 3), or
// swarmBirths such regions that count by their seeds born (new, or no longer
// overlapping the frame before's) within swarmHoldTime: insects under the IR
// lamp, one or two in view at a time, fluttering, are born 5 times in the
// 0.6 s before one of them would have persisted (at 640x480) and 9 to 60
// times per 2 s after; the other scenes show at most 4 per 2 s (shake at
// 640x480; 2 elsewhere). Until
// swarmHoldTime after the last such frame, a region under swarmBig4/4 of
// particleArea counts only after swarmPersistTime, longer than a snowflake
// lives in the picture. Two large flakes passing each other make one region
// of 100-115 cells at 160x120 (particleArea is 96); a person at night among
// them, split by the noise into body and legs, 110-135 cells each while it
// enters: swarmBig4 = 5 (120 cells) is between them with little margin (6
// loses the person's first 0.5 s), tuned on the synthetic particles scene
// (seeds 1-4 checked). A small, far person in a particle field counts after
// swarmPersistTime.
const (
	swarmRegions     = 4
	swarmPersistTime = 1.6 // seconds
	swarmHoldTime    = 2.0 // seconds
	swarmBig4        = 5   // quarters of particleArea
	swarmBirths      = 5
)

// countBirths records the current frame's births of small regions (the
// frames skipped since the last one, d.step-1 of them, had none) and
// returns the births within swarmHoldTime.
func (d *Detector) countBirths(born int) int {
	for range min(int(d.step), len(d.births)) {
		d.birthAt++
		if d.birthAt == len(d.births) {
			d.birthAt = 0
		}
		d.birthSum -= int(d.births[d.birthAt])
		d.births[d.birthAt] = 0
	}
	born = min(born, math.MaxUint8)
	d.births[d.birthAt] = uint8(born)
	d.birthSum += born
	return d.birthSum
}

// Cells in motion learn at 1/alphaMoveDiv of LearnRate: an object passing
// leaves little of itself in the background (a trail that the hysteresis
// would report); one that stops is taken in after StillTime.
const alphaMoveDiv = 16

// ageRegions gives each region the age of the oldest region of the frame
// before it overlaps within a cell, plus one, and records the ages for the
// next frame.
func (d *Detector) ageRegions() {
	r := d.reg
	gw := d.g.gw
	prev, next := d.ageA, d.ageB
	for k := range int32(r.n) {
		d.age[k], d.overlap[k] = 0, 0
	}
	for i := range r.runs {
		k := r.label[i]
		if d.seeds[k] == 0 {
			continue
		}
		y := int(r.runY[i])
		a, n := d.age[k], int32(0)
		for _, v := range prev[y*gw+int(r.runX0[i]) : y*gw+int(r.runX1[i])] {
			a = max(a, v)
			if v > 0 {
				n++
			}
		}
		d.age[k], d.overlap[k] = a, d.overlap[k]+n
	}
	for k := range int32(r.n) {
		switch {
		case d.seeds[k] == 0:
		case d.overlap[k]*overlapDiv < r.area[k]:
			d.age[k] = 1
		default:
			d.age[k] = uint8(min(int(d.age[k])+int(d.step), 255))
		}
	}
	clear(next)
	for i := range r.runs {
		k := r.label[i]
		if d.seeds[k] == 0 {
			continue
		}
		// Recorded a cell wider all round, so that the next frame's
		// region overlaps within a cell.
		y := int(r.runY[i])
		x0, x1 := max(int(r.runX0[i])-1, 0), min(int(r.runX1[i])+1, gw)
		for yy := max(y-1, 0); yy <= min(y+1, d.g.gh-1); yy++ {
			row := next[yy*gw+x0 : yy*gw+x1]
			for x, v := range row {
				row[x] = max(v, d.age[k])
			}
		}
	}
	d.ageA, d.ageB = next, prev
}

// countSeeds counts each region's seed cells.
func (d *Detector) countSeeds(seed *bitmask) {
	r := d.reg
	for k := range int32(r.n) {
		d.seeds[k] = 0
	}
	for i := range r.runs {
		d.seeds[r.label[i]] += int32(rangeBits(seed.row(int(r.runY[i])), int(r.runX0[i]), int(r.runX1[i])))
	}
}

// rangeBits counts the set bits of a row in [x0, x1).
func rangeBits(row []uint64, x0, x1 int) int {
	n := 0
	for x0 < x1 {
		wi := x0 / 64
		lo := uint(x0 & 63)
		hi := min(x1-wi*64, 64)
		w := row[wi] >> lo
		if hi-int(lo) < 64 {
			w &= 1<<uint(hi-int(lo)) - 1
		}
		n += bits.OnesCount64(w)
		x0 = wi*64 + hi
	}
	return n
}

// Filtered counts, per filter, the frames in which it took motion away, so
// an owner tuning on their own footage sees why a change was not reported.
type Filtered struct {
	// Shake: changed cells spread over the picture explained by camera
	// shake.
	Shake uint64 `json:"shake"`
	// Shadow: at least MinArea of changed cells explained by a local change
	// of light (a travelling shadow or spill).
	Shadow uint64 `json:"shadow"`
	// Particles: a region large enough to count that had not persisted for
	// 0.4 s (snow, rain, insects near the lens; also the first 0.4 s of a
	// small object that appears).
	Particles uint64 `json:"particles"`
}

// localNoise estimates the noise from the difference between the
// frame-minus-background of a sample and of the cell two to its right: the
// median absolute value, as a standard deviation. A change that is smooth
// across the picture (a shadow's soft edge, a drift of the light) cancels in
// it, so it does not raise the threshold and hide a person in the shadow;
// objects covering less than half of the samples do not move the median. NaN
// with too few samples.
func (d *Detector) localNoise() float64 {
	h := &d.subHist
	for k := range h {
		clear(h[k][:len(d.hpHist)])
	}
	for k, i := range d.noisePairs {
		v := int32(d.cur[i]) - int32(d.bg[i]>>4) - int32(d.cur[i+2]) + int32(d.bg[i+2]>>4) // Q4
		v = (v ^ v>>31) - v>>31
		h[k&3][min(v>>2, int32(len(d.hpHist)-1))]++ // quarter levels
	}
	d.sumHist(d.hpHist[:])
	n := uint32(len(d.noisePairs))
	if n < 16 {
		return math.NaN()
	}
	// MAD/0.6745 is the standard deviation of the difference, which is
	// sqrt(2) times the cells'.
	return median(d.hpHist[:], n) / 4 / 0.6745 / math.Sqrt2
}

// updateRef moves an eighth of the rows of ref towards the frame, at half
// LearnRate: every cell at a sixteenth of it, changed or not.
func (d *Detector) updateRef() {
	gw := d.g.gw
	a := max(1, d.alpha/2)
	for y := d.refPhase; y < d.g.gh; y += 8 {
		cur, ref := d.cur[y*gw:(y+1)*gw], d.ref[y*gw:(y+1)*gw]
		ref = ref[:len(cur)]
		for x, c := range cur {
			r := int32(ref[x])
			ref[x] = uint16(r + ((int32(c)<<4-r)*a+2048)>>12)
		}
	}
	d.refPhase = (d.refPhase + 1) & 7
}

// growSteps bounds the hysteresis growth, in cells.
const growSteps = 6

// grow grows seed (whose rows are y0..y1-1) by growSteps 3x3 dilations,
// each kept to the cells beyond the low threshold that are not light (or the
// seeds), and returns the result (d.grow1 or d.grow2). Only the rows the
// growth can reach are computed.
func (d *Detector) grow(seed *bitmask, y0, y1 int) *bitmask {
	y0, y1 = max(y0-growSteps, 0), min(y1+growSteps, d.g.gh)
	d.lowMask(y0, y1, int32(d.lowThreshold()*256))
	return d.growThrough(seed, y0, y1, growSteps)
}

// growThrough grows seed (within the rows y0..y1-1) by up to steps 3x3
// dilations, each kept to the cells of d.low (set for those rows) or the
// seeds, and returns the result (d.grow1, d.grow2, or seed itself when
// steps is 0).
func (d *Detector) growThrough(seed *bitmask, y0, y1, steps int) *bitmask {
	clear(d.grow1.bits)
	clear(d.grow2.bits)
	cur := seed
	for k := range steps {
		out := &d.grow1
		if k%2 == 1 {
			out = &d.grow2
		}
		morph(out, cur, 'D', d.morphTmp, y0, y1)
		lo, hi := y0*seed.words, y1*seed.words
		o, low, s, c := out.bits[lo:hi], d.low.bits[lo:hi], seed.bits[lo:hi], cur.bits[lo:hi]
		low, s, c = low[:len(o)], s[:len(o)], c[:len(o)]
		var grew uint64
		for i, w := range low {
			o[i] &= w | s[i]
			grew |= o[i] &^ c[i]
		}
		cur = out
		if grew == 0 {
			break // grown as far as it goes: further steps change nothing
		}
	}
	return cur
}

// lowMask sets the rows y0..y1-1 of d.low to the cells in the zones beyond
// low (Q8) that are not light.
func (d *Detector) lowMask(y0, y1 int, low int32) {
	gw := d.g.gw
	for y := y0; y < y1; y++ {
		row, zr, lit := d.low.row(y), d.zone.row(y), d.lit.row(y)
		zr, lit = zr[:len(row)], lit[:len(row)]
		cur, bg := d.cur[y*gw:(y+1)*gw], d.bg[y*gw:(y+1)*gw]
		for wi := range row {
			x0 := wi * 64
			row[wi] = lowRun(cur[x0:min(x0+64, len(cur))], bg[x0:min(x0+64, len(bg))], low) & zr[wi] &^ lit[wi]
		}
	}
}

// lowRun returns the bits of up to 64 cells whose difference from the
// background exceeds low (Q8), shifted in at the top as in updateRun.
func lowRun(c, b []uint16, low int32) (word uint64) {
	b = b[:len(c)]
	for x, cv := range c {
		diff := int32(cv)<<4 - int32(b[x])
		word = word>>1 | uint64(uint32(low-(diff^diff>>31-diff>>31))>>31)<<63
	}
	return word >> uint(64-len(c))
}

// Extension: a kept region is movement the filters confirmed (its seeds,
// its persistence); at night parts of a person lie only a few levels from
// the ground behind them, under the low threshold. For the reported mask
// only, the kept regions are grown further, by up to extSteps cells, into
// the cells beyond extFrac of Threshold (or 0.75 * NoiseK * noise if larger:
// 3 levels at the defaults, 3 noise deviations in the night scenes) that are
// not light, leaving out a cell whose difference is less than 1/haloDiv of
// a neighbour's: the blurred rim of a high-contrast object and the trail it
// leaves in the background fall off from the object's difference, a dim
// body does not. Then gaps of a cell are closed (a dilation, then an
// erosion). In a frame that is shaken, or where the light filter took
// MinArea or more (a travelling shadow's soft edge lies beyond the
// extension's threshold over much of the picture), the kept regions are
// reported as they are. The extension changes what a region covers (mask,
// boxes, score), never whether one is reported: it raises no event.
const (
	extFrac  = 0.25
	extSteps = 12
	haloDiv  = 3
)

// extend sets shownMask to the kept regions, extended when the frame allows
// it, and reports whether the regions must be labelled again from
// shownMask: the extension added cells, or the bridge used d.reg.
func (d *Detector) extend() bool {
	r := d.reg
	m := &d.shownMask
	clear(m.bits)
	y0, y1 := d.g.gh, 0
	for i := range r.runs {
		if !d.kept[r.label[i]] {
			continue
		}
		y := int(r.runY[i])
		setRun(m.row(y), int(r.runX0[i]), int(r.runX1[i]))
		y0, y1 = min(y0, y), max(y1, y+1)
	}
	if y0 >= y1 || d.filt.shake || d.filt.lit || d.off&offExtend != 0 {
		return false
	}
	low := int32(max(float64(d.cfg.Threshold)*extFrac, 0.75*d.cfg.NoiseK*d.noise) * 256) // Q8
	// The rows the growth and the closing can reach.
	ya, yb := max(y0-extSteps-2, 0), min(y1+extSteps+2, d.g.gh)
	d.extMask(ya, yb, low)
	g := d.growThrough(m, ya, yb, extSteps)
	relabel := false
	if !d.noBridge {
		relabel = d.bridge(g, ya, yb)
	}
	// Close: dilate into the spare of grow1 and grow2, erode back into
	// low (done with), and add both the growth and the closing (the
	// erosion takes cells at the picture's edge off the growth).
	spare := &d.grow1
	if g == spare {
		spare = &d.grow2
	}
	morph(spare, g, 'D', d.morphTmp, ya, yb)
	morph(&d.low, spare, 'E', d.morphTmp, ya, yb)
	grew := false
	lo, hi := ya*m.words, yb*m.words
	mb, gb, cb, zb := m.bits[lo:hi], g.bits[lo:hi], d.low.bits[lo:hi], d.zone.bits[lo:hi]
	gb, cb, zb = gb[:len(mb)], cb[:len(mb)], zb[:len(mb)]
	for i, w := range mb {
		add := (gb[i] | cb[i]) & zb[i] &^ w
		grew = grew || add != 0
		mb[i] = w | add
	}
	if d.fillHoles(spare, ya, yb) {
		grew = true
	}
	return grew || relabel
}

// Bridge: at night a person's body can lie a row or two of cells at the
// ground's brightness away from the part that made the region (the head
// kept, the body under the threshold everywhere, a band of its clothes
// matching the ground between them), so the extension, which grows only
// through the cells beyond its threshold, stops there. The bridge adds to
// the extension the parts of those cells it did not reach that lie within
// bridgeReach cells of it (across a gap of one cell) and hold at least
// bridgeMin cells: noise beyond the extension's threshold (3 deviations)
// makes single cells and pairs, and the trail a bright object leaves where
// the background is still learning it, cut off by the halo test, parts of
// 5 to 14 cells (TestExtension's bright object: 5 took 54 trail cells more
// over 40 frames). Not in a frame where rolling flicker was divided out
// (its residue lies beside every object), where the median difference is
// bridgeDrift levels or more (a light drift the background lags behind
// puts such cells everywhere), or within bridgeLitTime of a global light
// change (the relit background's residue lies in patches beside a moving
// object: TestDetectorScenes' boxes strayed). Like the rest of the
// extension it changes only what a region covers, never whether one is
// reported. Measured on the synthetic scenes (see the README's motion
// section): day-night pixel recall 0.869 -> 0.884 at 320x240 and 0.907 ->
// 0.924 at 640x480, no scene's pixel F lower at either size.
const (
	bridgeReach   = 2 // two dilations in bridge
	bridgeMin     = 15
	bridgeDrift   = 0.5 // levels
	bridgeLitTime = 1.0 // seconds
)

// bridge adds to g (the kept regions as the extension grew them, rows
// y0..y1-1, with d.low holding the cells the extension may take) the parts
// of d.low it bridges to. It labels with d.reg and uses d.fg and d.work as
// scratch (the seeds they held were used by then); it reports whether it
// labelled, so that the caller takes the kept regions' labels again from
// the mask.
func (d *Detector) bridge(g *bitmask, y0, y1 int) bool {
	// near: g dilated by bridgeReach (2) cells, in d.fg. morph reads a row
	// beyond the ones it writes, so d.work is cleared first.
	near, cand := &d.fg, &d.work
	clear(cand.bits)
	morph(cand, g, 'D', d.morphTmp, y0, y1)
	morph(near, cand, 'D', d.morphTmp, y0, y1)
	// cand: the cells the extension may take that it did not reach.
	some := false
	clear(cand.bits)
	for y := y0; y < y1; y++ {
		c, low, gr := cand.row(y), d.low.row(y), g.row(y)
		low, gr = low[:len(c)], gr[:len(c)]
		for i := range c {
			c[i] = low[i] &^ gr[i]
			some = some || c[i] != 0
		}
	}
	if !some {
		return false
	}
	r := d.reg
	r.labelMask(cand)
	touch := d.kept[:r.n]
	clear(touch)
	for i := range r.runs {
		if rangeBits(near.row(int(r.runY[i])), int(r.runX0[i]), int(r.runX1[i])) > 0 {
			touch[r.label[i]] = true
		}
	}
	for i := range r.runs {
		if k := r.label[i]; touch[k] && r.area[k] >= bridgeMin {
			setRun(g.row(int(r.runY[i])), int(r.runX0[i]), int(r.runX1[i]))
		}
	}
	return true
}

// fillHoles adds to shownMask the cells of rows y0..y1-1, in the zones,
// that the mask encloses (no 4-connected path of cells outside it leads
// to the rows' border), using out as scratch; it reports whether any
// were added.
func (d *Detector) fillHoles(out *bitmask, y0, y1 int) bool {
	m, n := &d.shownMask, d.shownMask.words
	// Seed: the free cells on the rectangle's border.
	for y := y0; y < y1; y++ {
		o, mr := out.row(y), m.row(y)
		for i := range o {
			free := ^mr[i]
			if i == n-1 {
				free &= m.last
			}
			switch {
			case y == y0 || y == y1-1:
				o[i] = free
			default:
				o[i] = 0
				if i == 0 {
					o[i] |= free & 1
				}
				if i == n-1 {
					o[i] |= free & (m.last &^ (m.last >> 1))
				}
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for pass := 0; pass < 2; pass++ {
			for k := 0; k < y1-y0; k++ {
				y := y0 + k
				if pass == 1 {
					y = y1 - 1 - k
				}
				o, mr := out.row(y), m.row(y)
				for i := range o {
					free := ^mr[i]
					if i == n-1 {
						free &= m.last
					}
					s := o[i]
					if y > y0 {
						s |= out.row(y - 1)[i]
					}
					if y < y1-1 {
						s |= out.row(y + 1)[i]
					}
					if i > 0 {
						s |= o[i-1] >> 63
					}
					if i < n-1 {
						s |= o[i+1] << 63
					}
					s &= free
					// Fill the runs of free cells holding a seed, up and down.
					up := ((free + s) ^ free) & free
					rf, rs := bits.Reverse64(free), bits.Reverse64(s)
					down := bits.Reverse64(((rf + rs) ^ rf) & rf)
					s |= up | down
					if s != o[i] {
						o[i] = s
						changed = true
					}
				}
			}
		}
	}
	added := false
	for y := y0; y < y1; y++ {
		o, mr, z := out.row(y), m.row(y), d.zone.row(y)
		for i := range o {
			h := ^o[i] &^ mr[i] & z[i]
			if i == n-1 {
				h &= m.last
			}
			if h != 0 {
				added = true
				mr[i] |= h
			}
		}
	}
	return added
}

// extMask sets the rows y0..y1-1 of d.low to the cells the extension may
// take: beyond low (Q8), in the zones, not light, and not less than
// 1/haloDiv of the largest difference among their 8 neighbours. Cells of
// shownMask (the kept regions) are in whatever the test says: the growth
// keeps them anyway.
func (d *Detector) extMask(y0, y1 int, low int32) {
	d.lowMask(y0, y1, low)
	for y := y0; y < y1; y++ {
		row, kept := d.low.row(y), d.shownMask.row(y)
		for wi, w := range row {
			w &^= kept[wi]
			for w != 0 {
				b := bits.TrailingZeros64(w)
				w &= w - 1
				if d.inHalo(wi*64+b, y) {
					row[wi] &^= 1 << uint(b)
				}
			}
		}
	}
}

// inHalo reports whether a neighbour of the cell (x, y) differs from the
// background by more than haloDiv times as much as the cell does (cur is
// Q4, at most 255<<4, so cur<<4 is the background's Q8 without overflow).
func (d *Detector) inHalo(x, y int) bool {
	gw, gh := d.g.gw, d.g.gh
	v := absDiff(d.cur[y*gw+x]<<4, d.bg[y*gw+x]) * haloDiv
	for yy := max(y-1, 0); yy <= min(y+1, gh-1); yy++ {
		for xx := max(x-1, 0); xx <= min(x+1, gw-1); xx++ {
			if absDiff(d.cur[yy*gw+xx]<<4, d.bg[yy*gw+xx]) > v {
				return true
			}
		}
	}
	return false
}

// setRun sets the bits [x0, x1) of a row.
func setRun(row []uint64, x0, x1 int) {
	for x0 < x1 {
		wi, lo := x0/64, uint(x0&63)
		n := min(x1-x0, 64-int(lo))
		row[wi] |= (^uint64(0) >> uint(64-n)) << lo
		x0 += n
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
