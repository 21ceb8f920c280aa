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

// renderer owns every buffer a frame is made in; render allocates nothing.
type renderer struct {
	w, h   int
	bw     int // background stride, w + 2*margin
	pix    capture.PixelFormat
	fps    float64
	frames int
	seed   int64
	plan   plan

	bgY, bgU, bgV []byte
	nightY        []byte
	nightLUT      [256]byte
	nightFrom     int
	fol           *foliage
	zoneMask      []byte
	objs          []object
	shakeX        []int8
	shakeY        []int8
	shades        []shadePatch
	parts         []particle

	pcg              *rand.PCG // per-frame noise, reseeded from (seed, frame)
	lum              []byte    // w*h luma before light and noise
	cu, cv           []byte    // cw*ch chroma before light and noise
	cw, ch, cys      int       // chroma plane size, and frame rows per chroma row
	rowGain          []int32   // per row luma gain, 8.8 fixed point
	tabDay, tabNight []int8    // luma noise tables
	tabC             []int8    // chroma noise table
	mask             []byte
}

func newRenderer(p plan, cfg Config, frames int) *renderer {
	w, h := cfg.Width, cfg.Height
	r := &renderer{
		w: w, h: h, bw: w + 2*margin, pix: cfg.Format, fps: cfg.FPS, frames: frames, seed: cfg.Seed, plan: p,
		pcg:     rand.NewPCG(0, 0),
		lum:     make([]byte, w*h),
		mask:    make([]byte, w*h),
		rowGain: make([]int32, h),
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
	case capture.FormatYUYV:
		r.cw, r.ch, r.cys = w/2, h, 1
	case capture.FormatNV12:
		r.cw, r.ch, r.cys = w/2, h/2, 2
	}
	if r.cw > 0 {
		r.cu, r.cv = make([]byte, r.cw*r.ch), make([]byte, r.cw*r.ch)
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

// render draws frame f into buf (the format's FrameSize bytes) and the truth
// mask, and reports whether the frame shows motion.
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
		copy(r.lum[y*r.w:(y+1)*r.w], src[off:off+r.w])
	}
	if colour {
		for cy := range r.ch {
			off := (cy*r.cys+margin+dy)*r.bw + margin + dx
			bu, bv := r.bgU[off:off+r.w], r.bgV[off:off+r.w]
			cu, cv := r.cu[cy*r.cw:(cy+1)*r.cw], r.cv[cy*r.cw:(cy+1)*r.cw]
			for cx := range cu {
				cu[cx] = bu[2*cx]
				cv[cx] = bv[2*cx]
			}
		}
	}
	if r.zoneMask != nil {
		copy(r.mask, r.zoneMask)
	} else {
		clear(r.mask)
	}
	if r.fol != nil {
		r.paintFoliage(f, colour)
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
		r.paintObject(o, px, py, night, colour)
	}
	// The light falls on the objects too; the particles are in front.
	r.paintShades(f)
	r.paintParticles(f)

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
	switch r.pix {
	case capture.FormatYUYV:
		for y := range r.h {
			n := int(r.pcg.Uint64() >> 48)
			lumaRow2(buf[y*2*r.w:(y+1)*2*r.w], r.lum[y*r.w:(y+1)*r.w], tab[n:n+r.w], r.rowGain[y])
		}
	default:
		for y := range r.h {
			n := int(r.pcg.Uint64() >> 48)
			lumaRow(buf[y*r.w:(y+1)*r.w], r.lum[y*r.w:(y+1)*r.w], tab[n:n+r.w], r.rowGain[y])
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
		cu, cv := r.cu[cy*r.cw:(cy+1)*r.cw], r.cv[cy*r.cw:(cy+1)*r.cw]
		if r.pix == capture.FormatYUYV {
			chromaRowYUYV(buf[cy*2*r.w:(cy+1)*2*r.w], cu, cv, nu, nv, cg)
		} else {
			chromaRowNV12(buf[r.w*r.h+cy*r.w:r.w*r.h+(cy+1)*r.w], cu, cv, nu, nv, cg)
		}
	}
	return motion
}

func (r *renderer) paintFoliage(f int, colour bool) {
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
		for _, s := range spans {
			copy(r.lum[y*r.w+s.x0:y*r.w+s.x1], fo.y[y*fo.stride+s.x0+d:])
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
				r.cu[cy*r.cw+cx], r.cv[cy*r.cw+cx] = fo.u[k], fo.v[k]
			}
		}
	}
}

func (r *renderer) paintObject(o *object, px, py int, night, colour bool) {
	x0, x1, y0, y1 := r.clip(o, px, py)
	if x0 >= x1 || y0 >= y1 {
		return
	}
	pw := o.w + 2
	for y := y0; y < y1; y++ {
		p := (y-py)*pw - px
		code, tex := o.code[p+x0:p+x1], o.lum[p+x0:p+x1]
		lum, mask := r.lum[y*r.w+x0:y*r.w+x1], r.mask[y*r.w+x0:y*r.w+x1]
		for i, c := range code {
			if c >= 2 {
				l := tex[i]
				if night {
					l = r.nightLUT[l]
				}
				lum[i] = l
			}
			if v := maskOf(c); v > mask[i] {
				mask[i] = v
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
				r.cu[cy*r.cw+cx], r.cv[cy*r.cw+cx] = o.u, o.v
			}
		}
	}
}

// lumaRow writes src*g + noise, clamped, to dst.
func lumaRow(dst, src []byte, noise []int8, g int32) {
	dst = dst[:len(src)]
	noise = noise[:len(src)]
	for i, l := range src {
		dst[i] = clampByte((int32(l)*g+128)>>8 + int32(noise[i]))
	}
}

// lumaRow2 is lumaRow into every other byte of dst (YUYV's luma).
func lumaRow2(dst, src []byte, noise []int8, g int32) {
	dst = dst[:2*len(src)]
	noise = noise[:len(src)]
	for i, l := range src {
		dst[2*i] = clampByte((int32(l)*g+128)>>8 + int32(noise[i]))
	}
}

// chromaRowYUYV writes 128 + (c-128)*g + noise into a YUYV row's chroma bytes;
// nil noise means none.
func chromaRowYUYV(dst, cu, cv []byte, nu, nv []int8, g int32) {
	dst = dst[:4*len(cu)]
	cv = cv[:len(cu)]
	if nu == nil {
		for i := range cu {
			dst[4*i+1] = 128
			dst[4*i+3] = 128
		}
		return
	}
	nu, nv = nu[:len(cu)], nv[:len(cu)]
	for i := range cu {
		dst[4*i+1] = clampByte(128 + ((int32(cu[i])-128)*g+128)>>8 + int32(nu[i]))
		dst[4*i+3] = clampByte(128 + ((int32(cv[i])-128)*g+128)>>8 + int32(nv[i]))
	}
}

// chromaRowNV12 is chromaRowYUYV for NV12's interleaved UV row.
func chromaRowNV12(dst, cu, cv []byte, nu, nv []int8, g int32) {
	dst = dst[:2*len(cu)]
	cv = cv[:len(cu)]
	if nu == nil {
		for i := range dst {
			dst[i] = 128
		}
		return
	}
	nu, nv = nu[:len(cu)], nv[:len(cu)]
	for i := range cu {
		dst[2*i] = clampByte(128 + ((int32(cu[i])-128)*g+128)>>8 + int32(nu[i]))
		dst[2*i+1] = clampByte(128 + ((int32(cv[i])-128)*g+128)>>8 + int32(nv[i]))
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
