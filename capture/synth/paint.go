package synth

import (
	"math"
	"math/rand/v2"
)

// Generators for the static pictures a scene is made of: the background, its
// IR night version, the foliage texture and the moving objects. They run once,
// in New.

// noiseField is smooth noise in -1..1 with features about cell pixels wide,
// evaluated where it is needed: only its coarse grid is stored.
type noiseField struct {
	grid     []float32
	gw, cell int
}

func newNoiseField(rng *rand.Rand, w, h, cell int) noiseField {
	cell = max(cell, 2)
	gw, gh := w/cell+2, h/cell+2
	grid := make([]float32, gw*gh)
	for i := range grid {
		grid[i] = float32(rng.Float64()*2 - 1)
	}
	return noiseField{grid: grid, gw: gw, cell: cell}
}

// at returns the noise at pixel (x, y).
func (n *noiseField) at(x, y int) float32 {
	gx, gy, gw, grid := x/n.cell, y/n.cell, n.gw, n.grid
	fx := smooth(float32(x%n.cell) / float32(n.cell))
	fy := smooth(float32(y%n.cell) / float32(n.cell))
	a := grid[gy*gw+gx] + (grid[gy*gw+gx+1]-grid[gy*gw+gx])*fx
	b := grid[(gy+1)*gw+gx] + (grid[(gy+1)*gw+gx+1]-grid[(gy+1)*gw+gx])*fx
	return a + (b-a)*fy
}

func smooth(t float32) float32 { return t * t * (3 - 2*t) }

func clamp8(v float64, lo, hi float64) byte {
	return byte(math.Round(math.Max(lo, math.Min(hi, v))))
}

// block is one of the background's walls.
type block struct {
	x0, y0, w, h int
	base, bu, bv float64
	kind         int // 0 bricks, 1 windows, 2 siding, 3 plaster
}

// background paints a street-like scene of bw x bh pixels whose central w x h
// is the picture (the rest is margin for camera shake): a sky and ground
// gradient, smooth blotches, blocks (walls with bricks, windows, stripes, plain
// plaster) and a fine static texture, so no two patches look alike. Luma is
// bw x bh; the chroma planes are bw/2 x bh (the even columns), all a frame
// needs. Each pixel is computed once, straight to bytes.
func background(rng *rand.Rand, bw, bh, w, h int) (ly, lu, lv []byte) {
	coarse := newNoiseField(rng, bw, bh, max(w/8, 4))
	fine := newNoiseField(rng, bw, bh, max(w/40, 2))
	tint := newNoiseField(rng, bw, bh, max(w/5, 4))
	m := (bw - w) / 2
	blocks := make([]block, 14+rng.IntN(8))
	for i := range blocks {
		b := &blocks[i]
		b.x0 = m + int((rng.Float64()*1.1-0.05)*float64(w))
		b.y0 = m + int((0.1+rng.Float64()*0.75)*float64(h))
		b.w = int((0.06 + rng.Float64()*0.24) * float64(w))
		b.h = int((0.05 + rng.Float64()*0.25) * float64(h))
		b.base = 45 + rng.Float64()*155
		b.bu, b.bv = 128+rng.Float64()*40-20, 128+rng.Float64()*40-20
		b.kind = rng.IntN(4)
	}
	unit := max(2, w/80) // brick / window scale
	cbw := bw / 2
	ly, lu, lv = make([]byte, bw*bh), make([]byte, cbw*bh), make([]byte, cbw*bh)
	var on []*block // the blocks on this row, the last drawn on top
	for j := range bh {
		ry := float64(j-m) / float64(h)
		on = on[:0]
		for i := range blocks {
			if b := &blocks[i]; j >= b.y0 && j < b.y0+b.h {
				on = append(on, b)
			}
		}
		for i := range bw {
			rx := float64(i-m) / float64(w)
			var y, u, v float64
			horizon := 0.33 + 0.04*math.Sin(rx*7)
			if ry < horizon {
				y = 175 - 45*ry/horizon - 12*rx
				u, v = 142, 118
			} else {
				y = 92 + 45*(ry-horizon) + 18*rx
				u, v = 118, 134
			}
			y += 22*float64(coarse.at(i, j)) + 7*float64(fine.at(i, j))
			u += 10 * float64(tint.at(i, j))
			v -= 8 * float64(tint.at(i, j))
			for k := len(on) - 1; k >= 0; k-- {
				b := on[k]
				if i < b.x0 || i >= b.x0+b.w {
					continue
				}
				lx, lyy := i-b.x0, j-b.y0
				l := b.base
				switch b.kind {
				case 0: // bricks: mortar lines, rows offset by half a brick
					row := lyy / (2 * unit)
					if lyy%(2*unit) == 0 || (lx+row*2*unit)%(5*unit) == 0 {
						l = b.base*0.6 + 20
					}
				case 1: // windows
					if lx%(6*unit) > unit && lyy%(7*unit) > 2*unit {
						l = b.base * 0.35
					}
				case 2: // siding
					if (lyy/unit)%2 == 0 {
						l = b.base + 14
					}
				}
				y = l + 9*float64(fine.at(i, j))
				u, v = b.bu, b.bv
				break
			}
			ly[j*bw+i] = clamp8(y+rng.Float64()*14-7, 18, 215)
			if i%2 == 0 {
				lu[j*cbw+i/2] = clamp8(u, 16, 240)
				lv[j*cbw+i/2] = clamp8(v, 16, 240)
			}
		}
	}
	return ly, lu, lv
}

// nightBackground is the scene under its own IR illuminator: flatter tones,
// brighter overall and a hot spot in the middle.
func nightBackground(day []byte, bw, bh int) []byte {
	out := make([]byte, len(day))
	cx, cy := float64(bw)/2, float64(bh)/2
	for j := range bh {
		for i := range bw {
			dx, dy := (float64(i)-cx)/cx, (float64(j)-cy)/cy
			vig := 1.2 - 0.4*(dx*dx+dy*dy)
			out[j*bw+i] = clamp8((0.55*float64(day[j*bw+i])+40)*vig, 10, 230)
		}
	}
	return out
}

// nightLUT maps a lit object's luma to its IR look.
func nightLUT() (t [256]byte) {
	for i := range t {
		t[i] = clamp8(0.6*float64(i)+55, 0, 255)
	}
	return t
}

// xspan is a run [x0, x1) of pixels on one row.
type xspan struct{ x0, x1 int }

// rasterize returns, per row, the runs of pixels whose centres lie inside poly
// (relative coordinates, even-odd rule).
func rasterize(poly [][2]float64, w, h int) [][]xspan {
	rows := make([][]xspan, h)
	xs := make([]float64, 0, len(poly))
	for j := range h {
		py := (float64(j) + 0.5) / float64(h)
		xs = xs[:0]
		for i := range poly {
			a, b := poly[i], poly[(i+1)%len(poly)]
			if (a[1] <= py) != (b[1] <= py) {
				xs = append(xs, a[0]+(py-a[1])/(b[1]-a[1])*(b[0]-a[0]))
			}
		}
		sortFloats(xs)
		for k := 0; k+1 < len(xs); k += 2 {
			// pixel i is inside when xs[k] <= (i+0.5)/w < xs[k+1]
			x0 := int(math.Ceil(xs[k]*float64(w) - 0.5))
			x1 := int(math.Ceil(xs[k+1]*float64(w) - 0.5))
			x0, x1 = max(x0, 0), min(x1, w)
			if x0 < x1 {
				rows[j] = append(rows[j], xspan{x0, x1})
			}
		}
	}
	return rows
}

func sortFloats(a []float64) {
	for i := 1; i < len(a); i++ {
		for k := i; k > 0 && a[k] < a[k-1]; k-- {
			a[k], a[k-1] = a[k-1], a[k]
		}
	}
}

// foliage is the swaying tree crown: a leafy texture wider than the frame by
// amp on each side, shown inside the zone shifted by up to amp pixels.
type foliage struct {
	amp     int
	stride  int // w + 2*amp
	y, u, v []byte
	rows    [][]xspan
}

func newFoliage(rng *rand.Rand, poly [][2]float64, w, h int) *foliage {
	amp := max(2, int(math.Round(3*float64(w)/320)))
	f := &foliage{amp: amp, stride: w + 2*amp, rows: rasterize(poly, w, h)}
	n := f.stride * h
	f.y, f.u, f.v = make([]byte, n), make([]byte, n), make([]byte, n)
	base := newNoiseField(rng, f.stride, h, max(w/30, 2))
	for k := range n {
		f.y[k] = clamp8(58+16*float64(base.at(k%f.stride, k/f.stride)), 0, 255)
		f.u[k], f.v[k] = 112, 116
	}
	// Leaves: small bright and dark discs all over the zone's bounding box.
	x0, x1, y0, y1 := w, 0, h, 0
	for j, r := range f.rows {
		for _, s := range r {
			x0, x1, y0, y1 = min(x0, s.x0), max(x1, s.x1), min(y0, j), max(y1, j+1)
		}
	}
	if x0 >= x1 {
		return f
	}
	scale := float64(w) / 320
	area := float64((x1 - x0 + 2*amp) * (y1 - y0))
	for range int(area / (9 * scale * scale)) {
		cx := float64(x0) + rng.Float64()*float64(x1-x0+2*amp)
		cy := float64(y0) + rng.Float64()*float64(y1-y0)
		rad := (1.2 + rng.Float64()*2.3) * scale
		l := 30 + rng.Float64()*130
		lu, lv := 96+rng.Float64()*24, 100+rng.Float64()*24
		for j := max(int(cy-rad), 0); j <= min(int(cy+rad), h-1); j++ {
			for i := max(int(cx-rad), 0); i <= min(int(cx+rad), f.stride-1); i++ {
				dx, dy := float64(i)+0.5-cx, float64(j)+0.5-cy
				if dx*dx+dy*dy <= rad*rad {
					k := j*f.stride + i
					f.y[k], f.u[k], f.v[k] = byte(l), byte(lu), byte(lv)
				}
			}
		}
	}
	return f
}

// object is a mover rendered to pixels. Its patch is (w+2) x (h+2): the object
// with a one-pixel margin for the outer half of its border.
type object struct {
	f0, f1         int     // first and last frame it exists (it is off screen at both)
	x0, y0, x1, y1 float64 // centre at f0 and at f1, in pixels
	bob, bobPeriod float64 // vertical bob amplitude (px) and period (frames)
	w, h           int
	code           []byte // per patch pixel: 0 outside, 1 outer border, 2 inner border, 3 interior
	lum            []byte // per patch pixel luma (where code >= 2)
	u, v           byte
}

// maskOf returns the truth mask value of a patch code.
func maskOf(code byte) byte {
	switch code {
	case 3:
		return MaskMotion
	case 1, 2:
		return MaskUnknown
	}
	return MaskStatic
}

func newObject(rng *rand.Rand, m mover, w, h int, fps float64) object {
	o := object{
		w: max(3, int(math.Round(m.w*float64(w)))),
		h: max(3, int(math.Round(m.h*float64(h)))),
	}
	o.f0 = int(math.Round(m.start * fps))
	o.f1 = max(o.f0+1, int(math.Round((m.start+m.dur)*fps)))
	o.bob = m.bob * float64(h)
	o.bobPeriod = math.Max(2, 0.9*fps)
	place := func(p [2]float64) (float64, float64) {
		x, y := p[0]*float64(w), p[1]*float64(h)
		ox := float64(o.w)/2 + 4
		oy := float64(o.h)/2 + 4 + o.bob
		switch {
		case p[0] < 0:
			x = math.Min(x, -ox)
		case p[0] > 1:
			x = math.Max(x, float64(w)+ox)
		}
		switch {
		case p[1] < 0:
			y = math.Min(y, -oy)
		case p[1] > 1:
			y = math.Max(y, float64(h)+oy)
		}
		return x, y
	}
	o.x0, o.y0 = place(m.from)
	o.x1, o.y1 = place(m.to)

	pw, ph := o.w+2, o.h+2
	in := make([]bool, pw*ph)
	for j := range o.h {
		for i := range o.w {
			in[(j+1)*pw+i+1] = inside(m.shape, float64(i)+0.5, float64(j)+0.5, float64(o.w), float64(o.h))
		}
	}
	o.code = make([]byte, pw*ph)
	for j := range ph {
		for i := range pw {
			self := in[j*pw+i]
			edge := false
			for dj := -1; dj <= 1 && !edge; dj++ {
				for di := -1; di <= 1; di++ {
					ii, jj := i+di, j+dj
					nb := ii >= 0 && jj >= 0 && ii < pw && jj < ph && in[jj*pw+ii]
					if nb != self {
						edge = true
						break
					}
				}
			}
			switch {
			case self && edge:
				o.code[j*pw+i] = 2
			case self:
				o.code[j*pw+i] = 3
			case edge:
				o.code[j*pw+i] = 1
			}
		}
	}
	o.lum = texture(rng, m.shape, pw, ph)
	o.u = byte(80 + rng.IntN(96))
	o.v = byte(80 + rng.IntN(96))
	return o
}

// inside reports whether the point (x, y) of a w x h box is inside the shape.
func inside(s shape, x, y, w, h float64) bool {
	ellipse := func(cx, cy, rx, ry float64) bool {
		dx, dy := (x-cx)/rx, (y-cy)/ry
		return dx*dx+dy*dy <= 1
	}
	switch s {
	case shapeWalker: // a head on an elongated body
		r := math.Min(0.14*h, 0.42*w)
		if ellipse(w/2, r, r, r) {
			return true
		}
		top := 1.8 * r
		return y >= top && ellipse(w/2, (top+h)/2, w/2, (h-top)/2)
	case shapeCar: // a rounded body with a narrower cabin on top
		if y < 0.38*h {
			return x >= 0.22*w && x <= 0.78*w && ellipse(w/2, 0.38*h, 0.28*w, 0.38*h)
		}
		rr := 0.2 * h
		cx, cy := math.Max(rr, math.Min(w-rr, x)), math.Max(0.38*h+rr, math.Min(h-rr, y))
		return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= rr*rr
	default:
		return ellipse(w/2, h/2, w/2, h/2)
	}
}

// texture fills a patch with an object's look: a base tone well away from the
// background's middle greys, a pattern (stripes, windows, checks) and grain.
func texture(rng *rand.Rand, s shape, pw, ph int) []byte {
	base := 30 + rng.Float64()*35
	if rng.IntN(2) == 0 {
		base = 175 + rng.Float64()*40
	}
	sign := 1.0
	if base > 128 {
		sign = -1
	}
	unit := max(2, pw/8)
	out := make([]byte, pw*ph)
	for j := range ph {
		for i := range pw {
			l := base
			switch s {
			case shapeWalker:
				switch {
				case j < ph*7/25: // head
					l = 120 + sign*20
				case j > ph*11/20: // trousers
					l = base + sign*25
				case (j/unit)%2 == 0: // striped top
					l = base + sign*18
				}
			case shapeCar:
				switch {
				case j < ph*2/5: // windows with a sky reflection
					l = 40 + 60*float64(i)/float64(pw)
				case j > ph*4/5: // bumper and wheels
					l = 25
				default:
					l = base + sign*12*math.Sin(float64(j)*0.7)
				}
			case shapeBall:
				if ((i/unit)+(j/unit))%2 == 0 {
					l = base + sign*35
				}
			default:
				if ((i+j)/unit)%2 == 0 {
					l = base + sign*22
				}
			}
			out[j*pw+i] = clamp8(l+rng.Float64()*12-6, 0, 255)
		}
	}
	return out
}
