package synth

import (
	"math"
	"math/rand/v2"

	"github.com/camagent/camagent/capture"
)

// Sensor noise, as the standard deviation in 8-bit levels.
const (
	noiseDay    = 2.0
	noiseNight  = 5.5
	noiseChroma = 1.2
)

const (
	margin    = 2       // background margin: the largest camera shake, in pixels
	noiseSpan = 1 << 16 // noise table entries a row may start at
	frameSalt = 0x9e3779b97f4a7c15
)

// Purposes of the seeded generators, so that adding one never changes another.
const (
	seedBackground = iota + 1
	seedFoliage
	seedObjects
	seedShake
	seedNoise
	seedNoiseNight
	seedParticles
)

// renderer holds what a frame is made from; render draws straight into the
// pooled frame (no picture of its own) and allocates nothing. Its memory is
// the background (luma at full size, chroma at half width), the noise
// tables and the objects' patches: about 2.7 bytes a pixel at 640x480 (a
// night scene adds its IR background, the foliage scene its texture and
// zone); the truth mask is made only when Truth asks for it.
type renderer struct {
	w, h   int
	bw     int // background stride, w + 2*margin
	pix    capture.PixelFormat
	fps    float64
	frames int
	seed   int64
	plan   plan

	bgY       []byte // bw x (h + 2*margin)
	bgU, bgV  []byte // the same at half width (bw/2): even columns
	nightY    []byte
	nightLUT  [256]byte
	nightFrom int
	fol       *foliage
	zoneMask  []byte
	objs      []object
	shakeX    []int8
	shakeY    []int8
	shades    []shadePatch
	parts     []particle

	pcg         *rand.PCG // per-frame noise, reseeded from (seed, frame)
	cw, ch, cys int       // chroma plane size, and frame rows per chroma row
	// Where the planes are in a frame: luma of (x, y) at y*lrow + x*lstep;
	// U of chroma sample (cx, cy) at cbase + cy*crow + cx*cstep and V voff
	// after it.
	lrow, lstep              int
	cbase, crow, cstep, voff int
	rowGain                  []int32 // per row luma gain, 8.8 fixed point
	tabDay, tabNight         []int8  // luma noise tables
	tabC                     []int8  // chroma noise table
	mask                     []byte  // w*h truth mask, made by paintMask
}

func newRenderer(p plan, cfg Config, frames int) *renderer {
	w, h := cfg.Width, cfg.Height
	r := &renderer{
		w: w, h: h, bw: w + 2*margin, pix: cfg.Format, fps: cfg.FPS, frames: frames, seed: cfg.Seed, plan: p,
		pcg:     rand.NewPCG(0, 0),
		rowGain: make([]int32, h),
		lrow:    w, lstep: 1,
	}
	r.bgY, r.bgU, r.bgV = background(newRand(cfg.Seed, seedBackground), r.bw, h+2*margin, w, h)
	r.nightFrom = frames
	if p.night >= 0 {
		r.nightFrom = int(math.Round(p.night * cfg.FPS))
		r.nightY = nightBackground(r.bgY, r.bw, h+2*margin)
		r.nightLUT = nightLUT()
		r.tabNight = noiseTable(newRand(cfg.Seed, seedNoiseNight), noiseNight, noiseSpan+w)
	}
	nrng := newRand(cfg.Seed, seedNoise)
	r.tabDay = noiseTable(nrng, noiseDay, noiseSpan+w)
	switch cfg.Format {
	case capture.FormatYUYV: // Y0 U Y1 V
		r.cw, r.ch, r.cys = w/2, h, 1
		r.lrow, r.lstep = 2*w, 2
		r.cbase, r.crow, r.cstep, r.voff = 1, 2*w, 4, 2
	case capture.FormatNV12: // the luma plane, then rows of U V pairs
		r.cw, r.ch, r.cys = w/2, h/2, 2
		r.cbase, r.crow, r.cstep, r.voff = w*h, w, 2, 1
	}
	if r.cw > 0 {
		r.tabC = noiseTable(nrng, noiseChroma, noiseSpan+r.cw)
	}
	if len(p.zones) > 0 {
		r.fol = newFoliage(newRand(cfg.Seed, seedFoliage), p.zones[0], w, h)
		r.zoneMask = make([]byte, w*h)
		for _, z := range p.zones {
			for j, row := range rasterize(z, w, h) {
				for _, s := range row {
					// The zone and a pixel around it, like an object border.
					for jj := max(j-1, 0); jj <= min(j+1, h-1); jj++ {
						for i := max(s.x0-1, 0); i < min(s.x1+1, w); i++ {
							r.zoneMask[jj*w+i] = MaskUnknown
						}
					}
				}
			}
		}
	}
	orng := newRand(cfg.Seed, seedObjects)
	for _, m := range p.movers {
		r.objs = append(r.objs, newObject(orng, m, w, h, cfg.FPS))
	}
	for _, sh := range p.shades {
		r.shades = append(r.shades, newShadePatch(sh, w, h, cfg.FPS))
	}
	if len(p.swarms) > 0 {
		r.parts = newParticles(newRand(cfg.Seed, seedParticles), p.swarms, w, h, cfg.FPS)
	}
	if len(p.shakes) > 0 {
		r.shakeX, r.shakeY = make([]int8, frames), make([]int8, frames)
		srng := newRand(cfg.Seed, seedShake)
		for _, sp := range p.shakes {
			for f := int(math.Round(sp[0] * cfg.FPS)); f < min(frames, int(math.Round(sp[1]*cfg.FPS))); f++ {
				for r.shakeX[f] == 0 && r.shakeY[f] == 0 {
					r.shakeX[f] = int8(srng.IntN(2*margin+1) - margin)
					r.shakeY[f] = int8(srng.IntN(2*margin+1) - margin)
				}
			}
		}
	}
	return r
}

// noiseTable returns n samples of Gaussian noise of standard deviation sigma,
// rounded and clipped to the int8 range.
func noiseTable(rng *rand.Rand, sigma float64, n int) []int8 {
	t := make([]int8, n)
	for i := range t {
		t[i] = int8(math.Max(-127, math.Min(127, math.Round(rng.NormFloat64()*sigma))))
	}
	return t
}

func (r *renderer) shake(f int) (int, int) {
	if r.shakeX == nil {
		return 0, 0
	}
	return int(r.shakeX[f]), int(r.shakeY[f])
}

// origin returns where object o's patch starts in frame f.
func (r *renderer) origin(o *object, f, dx, dy int) (int, int) {
	t := float64(f-o.f0) / float64(o.f1-o.f0)
	cx := o.x0 + (o.x1-o.x0)*t
	cy := o.y0 + (o.y1-o.y0)*t + o.bob*math.Sin(2*math.Pi*float64(f-o.f0)/o.bobPeriod)
	px := int(math.Round(cx-float64(o.w)/2)) - 1 - dx
	py := int(math.Round(cy-float64(o.h)/2)) - 1 - dy
	return px, py
}

// clip returns the part of a patch at (px, py) inside the frame.
func (r *renderer) clip(o *object, px, py int) (x0, x1, y0, y1 int) {
	return max(px, 0), min(px+o.w+2, r.w), max(py, 0), min(py+o.h+2, r.h)
}

// visible reports whether any pixel of the object itself is in the frame.
func (r *renderer) visible(o *object, px, py int) bool {
	x0, x1, y0, y1 := r.clip(o, px, py)
	if x0 >= x1 {
		return false
	}
	pw := o.w + 2
	for y := y0; y < y1; y++ {
		p := (y-py)*pw - px
		for _, c := range o.code[p+x0 : p+x1] {
			if c >= 2 {
				return true
			}
		}
	}
	return false
}

// motion reports whether frame f shows a moving object.
func (r *renderer) motion(f int) bool {
	dx, dy := r.shake(f)
	for i := range r.objs {
		o := &r.objs[i]
		if f < o.f0 || f > o.f1 {
			continue
		}
		if px, py := r.origin(o, f, dx, dy); r.visible(o, px, py) {
			return true
		}
	}
	return false
}

func (r *renderer) spans() []Span {
	var out []Span
	for f := range r.frames {
		if !r.motion(f) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Last == f-1 {
			out[n-1].Last = f
		} else {
			out = append(out, Span{f, f})
		}
	}
	return out
}

// gain returns frame f's global luma gain.
func (r *renderer) gain(f int) float64 {
	t := float64(f) / r.fps
	g := 1.0
	for _, l := range r.plan.lights {
		if t >= l.at {
			g *= 1 + (l.gain-1)*(l.keep+(1-l.keep)*math.Exp(-(t-l.at)/0.4))
		}
	}
	if r.plan.drift {
		// Dusk over the scripted length (and night after it), with clouds.
		g *= 1.15 - 0.6*math.Min(t/r.plan.seconds, 1) + 0.07*math.Sin(2*math.Pi*t/9)
	}
	if r.plan.flicker {
		g *= 1 + 0.03*math.Sin(2*math.Pi*0.23*float64(f))
	}
	return g
}

// luma returns the bytes of buf that hold row y's luma: pixel x at
// [x*r.lstep].
func (r *renderer) luma(buf []byte, y int) []byte {
	return buf[y*r.lrow : y*r.lrow+(r.w-1)*r.lstep+1]
}

// setChroma sets chroma sample (cx, cy) of buf.
func (r *renderer) setChroma(buf []byte, cx, cy int, u, v byte) {
	k := r.cbase + cy*r.crow + cx*r.cstep
	buf[k], buf[k+r.voff] = u, v
}

// render draws frame f into buf (the format's FrameSize bytes), and reports
// whether the frame shows motion. It paints the picture into buf's own
// planes and then applies the light and the noise in place.
func (r *renderer) render(f int, buf []byte) bool {
	r.pcg.Seed(uint64(r.seed), uint64(f)^frameSalt)
	dx, dy := r.shake(f)
	night := f >= r.nightFrom
	colour := r.cw > 0 && !night

	src := r.bgY
	if night {
		src = r.nightY
	}
	for y := range r.h {
		off := (y+margin+dy)*r.bw + margin + dx
		row, bg := r.luma(buf, y), src[off:off+r.w]
		if r.lstep == 1 {
			copy(row, bg)
			continue
		}
		for x, l := range bg {
			row[2*x] = l
		}
	}
	if colour {
		// The chroma background is stored at half width: with an odd shake
		// its samples are a pixel left of the luma's.
		cbw := r.bw / 2
		for cy := range r.ch {
			off := (cy*r.cys+margin+dy)*cbw + (margin+dx)/2
			bu, bv := r.bgU[off:off+r.cw], r.bgV[off:off+r.cw]
			row := buf[r.cbase+cy*r.crow:]
			for cx := range bu {
				row[cx*r.cstep], row[cx*r.cstep+r.voff] = bu[cx], bv[cx]
			}
		}
	}
	if r.fol != nil {
		r.paintFoliage(buf, f, colour)
	}
	motion := false
	for i := range r.objs {
		o := &r.objs[i]
		if f < o.f0 || f > o.f1 {
			continue
		}
		px, py := r.origin(o, f, dx, dy)
		if !r.visible(o, px, py) {
			continue
		}
		motion = true
		r.paintObject(buf, o, px, py, night, colour)
	}
	// The light falls on the objects too; the particles are in front.
	r.paintShades(buf, f)
	r.paintParticles(buf, f)

	g := r.gain(f)
	for y := range r.rowGain {
		rg := g
		if r.plan.flicker {
			rg *= 1 + 0.07*math.Sin(2*math.Pi*(0.11*float64(f)+float64(y)*2.7/float64(r.h)))
		}
		r.rowGain[y] = int32(math.Round(rg * 256))
	}
	tab := r.tabDay
	if night {
		tab = r.tabNight
	}
	for y := range r.h {
		n := int(r.pcg.Uint64() >> 48)
		if r.lstep == 2 {
			lumaRow2(buf[y*r.lrow:(y+1)*r.lrow], tab[n:n+r.w], r.rowGain[y])
		} else {
			lumaRow(buf[y*r.lrow:(y+1)*r.lrow], tab[n:n+r.w], r.rowGain[y])
		}
	}
	if r.cw == 0 {
		return motion
	}
	cg := int32(math.Round(g * 256))
	if night {
		cg = 0
	}
	for cy := range r.ch {
		var nu, nv []int8
		if !night {
			n := int(r.pcg.Uint64() >> 48)
			nu = r.tabC[n : n+r.cw]
			n = int(r.pcg.Uint64() >> 48)
			nv = r.tabC[n : n+r.cw]
		}
		if r.pix == capture.FormatYUYV {
			chromaRowYUYV(buf[cy*r.lrow:(cy+1)*r.lrow], nu, nv, cg)
		} else {
			chromaRowNV12(buf[r.cbase+cy*r.crow:r.cbase+(cy+1)*r.crow], nu, nv, cg)
		}
	}
	return motion
}

// paintMask draws frame f's truth into r.mask (made on first use): the
// excluded zones, and each visible object with its border; nothing for f < 0
// (before the first frame).
func (r *renderer) paintMask(f int) {
	if r.mask == nil {
		r.mask = make([]byte, r.w*r.h)
	}
	if f < 0 {
		clear(r.mask)
		return
	}
	if r.zoneMask != nil {
		copy(r.mask, r.zoneMask)
	} else {
		clear(r.mask)
	}
	dx, dy := r.shake(f)
	for i := range r.objs {
		o := &r.objs[i]
		if f < o.f0 || f > o.f1 {
			continue
		}
		px, py := r.origin(o, f, dx, dy)
		x0, x1, y0, y1 := r.clip(o, px, py)
		if x0 >= x1 || !r.visible(o, px, py) {
			continue
		}
		pw := o.w + 2
		for y := y0; y < y1; y++ {
			p := (y-py)*pw - px
			mask := r.mask[y*r.w+x0 : y*r.w+x1]
			for i, c := range o.code[p+x0 : p+x1] {
				if v := maskOf(c); v > mask[i] {
					mask[i] = v
				}
			}
		}
	}
}

func (r *renderer) paintFoliage(buf []byte, f int, colour bool) {
	fo := r.fol
	t := float64(f) / r.fps
	amp := float64(fo.amp) * (0.55 + 0.45*math.Sin(2*math.Pi*t/6.5))
	shift := func(y int) int {
		d := amp * (0.8*math.Sin(2*math.Pi*0.7*t+2*math.Pi*float64(y)/(0.25*float64(r.h))) + 0.2*math.Sin(2*math.Pi*2.3*t))
		return fo.amp + max(-fo.amp, min(fo.amp, int(math.Round(d))))
	}
	for y, spans := range fo.rows {
		if len(spans) == 0 {
			continue
		}
		d := shift(y)
		row := r.luma(buf, y)
		for _, s := range spans {
			for x, l := range fo.y[y*fo.stride+s.x0+d : y*fo.stride+s.x1+d] {
				row[(s.x0+x)*r.lstep] = l
			}
		}
	}
	if !colour {
		return
	}
	for cy := range r.ch {
		y := cy * r.cys
		if len(fo.rows[y]) == 0 {
			continue
		}
		d := shift(y)
		for _, s := range fo.rows[y] {
			for cx := (s.x0 + 1) / 2; 2*cx < s.x1; cx++ {
				k := y*fo.stride + 2*cx + d
				r.setChroma(buf, cx, cy, fo.u[k], fo.v[k])
			}
		}
	}
}

func (r *renderer) paintObject(buf []byte, o *object, px, py int, night, colour bool) {
	x0, x1, y0, y1 := r.clip(o, px, py)
	if x0 >= x1 || y0 >= y1 {
		return
	}
	pw := o.w + 2
	for y := y0; y < y1; y++ {
		p := (y-py)*pw - px
		code, tex := o.code[p+x0:p+x1], o.lum[p+x0:p+x1]
		row := r.luma(buf, y)
		for i, c := range code {
			if c >= 2 {
				l := tex[i]
				if night {
					l = r.nightLUT[l]
				}
				row[(x0+i)*r.lstep] = l
			}
		}
	}
	if !colour {
		return
	}
	for cy := (y0 + r.cys - 1) / r.cys; cy*r.cys < y1; cy++ {
		p := (cy*r.cys-py)*pw - px
		for cx := (x0 + 1) / 2; 2*cx < x1; cx++ {
			if o.code[p+2*cx] >= 2 {
				r.setChroma(buf, cx, cy, o.u, o.v)
			}
		}
	}
}

// lumaRow applies gain g and noise to the luma in row, in place:
// l*g + noise, clamped.
func lumaRow(row []byte, noise []int8, g int32) {
	noise = noise[:len(row)]
	for i, l := range row {
		row[i] = clampByte((int32(l)*g+128)>>8 + int32(noise[i]))
	}
}

// lumaRow2 is lumaRow on every other byte of row (YUYV's luma).
func lumaRow2(row []byte, noise []int8, g int32) {
	noise = noise[:len(row)/2]
	for i := range noise {
		row[2*i] = clampByte((int32(row[2*i])*g+128)>>8 + int32(noise[i]))
	}
}

// chromaRowYUYV applies gain g and noise to a YUYV row's chroma bytes in
// place: 128 + (c-128)*g + noise; nil noise means grey (128).
func chromaRowYUYV(row []byte, nu, nv []int8, g int32) {
	if nu == nil {
		for i := 1; i < len(row); i += 2 {
			row[i] = 128
		}
		return
	}
	nu, nv = nu[:len(row)/4], nv[:len(row)/4]
	for i := range nu {
		row[4*i+1] = clampByte(128 + ((int32(row[4*i+1])-128)*g+128)>>8 + int32(nu[i]))
		row[4*i+3] = clampByte(128 + ((int32(row[4*i+3])-128)*g+128)>>8 + int32(nv[i]))
	}
}

// chromaRowNV12 is chromaRowYUYV for NV12's interleaved UV row.
func chromaRowNV12(row []byte, nu, nv []int8, g int32) {
	if nu == nil {
		for i := range row {
			row[i] = 128
		}
		return
	}
	nu, nv = nu[:len(row)/2], nv[:len(row)/2]
	for i := range nu {
		row[2*i] = clampByte(128 + ((int32(row[2*i])-128)*g+128)>>8 + int32(nu[i]))
		row[2*i+1] = clampByte(128 + ((int32(row[2*i+1])-128)*g+128)>>8 + int32(nv[i]))
	}
}

func clampByte(v int32) byte {
	if uint32(v) > 255 {
		if v < 0 {
			return 0
		}
		return 255
	}
	return byte(v)
}
