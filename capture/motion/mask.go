package motion

import (
	"math"
	"math/bits"
)

// bitmask is a binary image on the grid, a row of 64-bit words per grid row;
// bits past the grid's width are always zero.
type bitmask struct {
	w, h  int
	words int // per row
	bits  []uint64
	last  uint64 // valid bits of each row's last word
}

func newBitmask(w, h int) bitmask {
	words := (w + 63) / 64
	m := bitmask{w: w, h: h, words: words, bits: make([]uint64, words*h)}
	m.last = ^uint64(0) >> (uint(words*64-w) & 63)
	return m
}

func (m *bitmask) row(y int) []uint64 { return m.bits[y*m.words : (y+1)*m.words] }

func (m *bitmask) get(x, y int) bool { return m.bits[y*m.words+x/64]>>(uint(x)&63)&1 != 0 }

func (m *bitmask) count() int {
	n := 0
	for _, w := range m.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// morph applies one despeckle step to the rows y0..y1-1 of src into dst
// (same size). op is e, E, d or D; tmp holds a row of words per grid row
// (src.h*src.words) of scratch. Cells outside the grid read as zero.
func morph(dst, src *bitmask, op byte, tmp []uint64, y0, y1 int) {
	n := src.words
	erode := op == 'e' || op == 'E'
	box := op == 'E' || op == 'D'
	// The horizontal step of every row the result reads: for the box the
	// rows above and below as well.
	h0, h1 := y0, y1
	if box {
		h0, h1 = max(y0-1, 0), min(y1+1, src.h)
	}
	for y := h0; y < h1; y++ {
		r, hor := src.row(y), tmp[y*n:(y+1)*n]
		hor = hor[:len(r)]
		for i, v := range r {
			l, rt := v<<1, v>>1
			if i > 0 {
				l |= r[i-1] >> 63
			}
			if i+1 < len(r) {
				rt |= r[i+1] << 63
			}
			if erode {
				hor[i] = v & l & rt
			} else {
				hor[i] = v | l | rt
			}
		}
		hor[n-1] &= src.last
	}
	// Vertical neighbours: for the box the horizontal result of the rows
	// above and below, for the cross their plain bits; none beyond the grid.
	vert := src.bits
	if box {
		vert = tmp
	}
	var none [maxGridWidth / 64]uint64
	for y := y0; y < y1; y++ {
		hor, d := tmp[y*n:(y+1)*n], dst.row(y)
		up, down := none[:], none[:]
		if y > 0 {
			up = vert[(y-1)*n : y*n]
		}
		if y+1 < src.h {
			down = vert[(y+1)*n : (y+2)*n]
		}
		d, up, down = d[:len(hor)], up[:len(hor)], down[:len(hor)]
		for i, v := range hor {
			if erode {
				d[i] = v & up[i] & down[i]
			} else {
				d[i] = v | up[i] | down[i]
			}
		}
		d[n-1] &= src.last
	}
}

// regions labels 8-connected regions of a bitmask by runs and union-find.
type regions struct {
	runY, runX0, runX1 []int32 // run y and [x0, x1) span
	parent             []int32 // union-find over runs
	label              []int32 // region index of each root run
	area               []int32 // per region
	x0, y0, x1, y1     []int32 // per region bounding box, exclusive ends
	n                  int     // regions
	runs               int
}

func newRegions(w, h int) *regions {
	maxRuns := h * ((w + 1) / 2)
	maxRegions := maxRuns
	r := &regions{
		runY: make([]int32, maxRuns), runX0: make([]int32, maxRuns), runX1: make([]int32, maxRuns),
		parent: make([]int32, maxRuns), label: make([]int32, maxRuns),
		area: make([]int32, maxRegions),
		x0:   make([]int32, maxRegions), y0: make([]int32, maxRegions),
		x1: make([]int32, maxRegions), y1: make([]int32, maxRegions),
	}
	return r
}

func (r *regions) find(i int32) int32 {
	for r.parent[i] != i {
		r.parent[i] = r.parent[r.parent[i]]
		i = r.parent[i]
	}
	return i
}

func (r *regions) union(a, b int32) {
	a, b = r.find(a), r.find(b)
	if a == b {
		return
	}
	if a < b {
		r.parent[b] = a
	} else {
		r.parent[a] = b
	}
}

// label finds the regions of m.
func (r *regions) labelMask(m *bitmask) {
	r.runs, r.n = 0, 0
	prevStart, prevEnd := 0, 0
	for y := range m.h {
		start := r.runs
		row := m.row(y)
		x := 0
		for x < m.w {
			// Next set bit at or after x.
			wi := x / 64
			w := row[wi] >> (uint(x) & 63)
			if w == 0 {
				x = (wi + 1) * 64
				continue
			}
			x += bits.TrailingZeros64(w)
			// Run end: next clear bit.
			e := x
			for e < m.w {
				wi := e / 64
				w := ^row[wi] >> (uint(e) & 63)
				if w == 0 {
					e = (wi + 1) * 64
					continue
				}
				e += bits.TrailingZeros64(w)
				break
			}
			e = min(e, m.w)
			i := int32(r.runs)
			r.runY[i], r.runX0[i], r.runX1[i], r.parent[i] = int32(y), int32(x), int32(e), i
			r.runs++
			x = e
		}
		// Join with the previous row's runs that touch (8-connected).
		p := prevStart
		for i := start; i < r.runs; i++ {
			x0, x1 := r.runX0[i]-1, r.runX1[i]+1
			for p < prevEnd && r.runX1[p] <= x0 {
				p++
			}
			for q := p; q < prevEnd && r.runX0[q] < x1; q++ {
				r.union(int32(i), int32(q))
			}
		}
		prevStart, prevEnd = start, r.runs
	}
	for i := range int32(r.runs) {
		root := r.find(i)
		var k int32
		if root == i {
			k = int32(r.n)
			r.n++
			r.label[i] = k
			r.area[k] = 0
			r.x0[k], r.y0[k], r.x1[k], r.y1[k] = math.MaxInt32, math.MaxInt32, 0, 0
		} else {
			k = r.label[root]
			r.label[i] = k
		}
		x0, x1, y := r.runX0[i], r.runX1[i], r.runY[i]
		r.area[k] += x1 - x0
		r.x0[k] = min(r.x0[k], x0)
		r.x1[k] = max(r.x1[k], x1)
		r.y0[k] = min(r.y0[k], y)
		r.y1[k] = max(r.y1[k], y+1)
	}
}

// pointInPolygon tests (x, y) against a polygon with the even-odd rule.
func pointInPolygon(x, y float64, poly [][2]float64) bool {
	in := false
	j := len(poly) - 1
	for i := range poly {
		xi, yi, xj, yj := poly[i][0], poly[i][1], poly[j][0], poly[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
		j = i
	}
	return in
}

// zoneMask rasterises the zones onto the grid: a cell is set when it is
// analysed. Done once, at construction.
func zoneMask(zones []Zone, w, h int) bitmask {
	m := newBitmask(w, h)
	anyInclude := false
	for _, z := range zones {
		anyInclude = anyInclude || !z.Exclude
	}
	for y := range h {
		for x := range w {
			cx, cy := (float64(x)+0.5)/float64(w), (float64(y)+0.5)/float64(h)
			in := !anyInclude
			for _, z := range zones {
				if !z.Exclude && pointInPolygon(cx, cy, z.Polygon) {
					in = true
				}
			}
			for _, z := range zones {
				if z.Exclude && pointInPolygon(cx, cy, z.Polygon) {
					in = false
				}
			}
			if in {
				m.bits[y*m.words+x/64] |= 1 << (uint(x) & 63)
			}
		}
	}
	return m
}
