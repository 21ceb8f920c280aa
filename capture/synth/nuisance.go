package synth

import (
	"math"
	"math/rand/v2"
)

// Nuisance: things that change the picture but are not motion a camera owner
// wants to hear about. Their pixels are MaskStatic in the truth (as CDnet
// counts shadows and snowflakes with the background), so a detector that
// reports them loses pixel precision and raises false events.

// A shade is a travelling soft light change: a large soft-edged ellipse whose
// inside is multiplied by gain (below 1 a cloud's shadow, above 1 headlights'
// spill on a wall), whose centre goes from from to to during [start,
// start+dur) seconds. Everything under it, objects included, keeps its
// texture. The gain ramps from 1 at the ellipse's edge to gain at soft of its
// radius inwards (soft 1: a ramp all the way to the centre).
type shade struct {
	start, dur float64
	rx, ry     float64 // radii relative to the frame's width and height
	from, to   [2]float64
	gain, soft float64
}

// particleKind is the look and motion of a particle near the lens under the
// IR lamp.
type particleKind int

const (
	snowflake particleKind = iota // a fuzzy disc drifting down and sideways
	raindrop                      // a short bright streak falling fast
	insect                        // a fuzzy disc fluttering on a wavering path
)

// A swarm spawns particles of one kind at rate per second during [from, to)
// seconds; each lives at most life seconds (less when it leaves the frame).
type swarm struct {
	kind     particleKind
	from, to float64
	rate     float64
	life     float64
}

// particle is one spawned particle, in pixels and frames.
type particle struct {
	f0, f1       int     // first and last frame it is drawn
	x, y         float64 // position at f0
	vx, vy       float64 // pixels per frame
	wob, wobF    float64 // wobble amplitude (px) and angular rate (per frame)
	phase        float64
	rx, ry       float64 // radii in pixels
	bright       float64 // luma added at the centre
	kind         particleKind
	boundsRadius int
}

func newParticles(rng *rand.Rand, swarms []swarm, w, h int, fps float64) []particle {
	scale := float64(w) / 320
	var out []particle
	for _, s := range swarms {
		n := int(math.Round((s.to - s.from) * s.rate))
		for range n {
			t0 := s.from + rng.Float64()*(s.to-s.from)
			p := particle{kind: s.kind, f0: int(math.Round(t0 * fps))}
			life := s.life * (0.5 + 0.5*rng.Float64())
			p.f1 = p.f0 + max(1, int(math.Round(life*fps)))
			p.x, p.y = rng.Float64()*float64(w), rng.Float64()*float64(h)
			switch s.kind {
			case snowflake:
				p.rx = (3 + 5*rng.Float64()) * scale
				p.ry = p.rx
				p.vx = (rng.Float64()*2 - 1) * 3 * scale
				p.vy = (5 + 7*rng.Float64()) * scale
				p.wob, p.wobF, p.phase = 2*scale, 0.3+0.3*rng.Float64(), rng.Float64()*2*math.Pi
				p.bright = 80 + 100*rng.Float64()
			case raindrop:
				p.rx = 1.2 * scale
				p.ry = (8 + 8*rng.Float64()) * scale
				p.vx = 0.5 * scale
				p.vy = (14 + 8*rng.Float64()) * scale
				p.bright = 60 + 60*rng.Float64()
			case insect:
				p.rx = (4 + 5*rng.Float64()) * scale
				p.ry = p.rx * (0.7 + 0.3*rng.Float64())
				a := rng.Float64() * 2 * math.Pi
				sp := (4 + 4*rng.Float64()) * scale
				p.vx, p.vy = sp*math.Cos(a), sp*math.Sin(a)
				p.wob, p.wobF, p.phase = (6+6*rng.Float64())*scale, 0.9+0.6*rng.Float64(), rng.Float64()*2*math.Pi
				p.bright = 100 + 100*rng.Float64()
			}
			p.boundsRadius = int(math.Ceil(max(p.rx, p.ry))) + 1
			out = append(out, p)
		}
	}
	return out
}

// at returns the particle's centre in frame f.
func (p *particle) at(f int) (float64, float64) {
	k := float64(f - p.f0)
	x, y := p.x+p.vx*k, p.y+p.vy*k
	if p.wob > 0 {
		x += p.wob * math.Sin(p.wobF*k+p.phase)
		y += 0.6 * p.wob * math.Cos(1.3*p.wobF*k+p.phase)
	}
	return x, y
}

// paintParticles adds the particles alive in frame f to the luma: out of focus
// and lit by the IR lamp, each is a bright blob fading to its rim.
func (r *renderer) paintParticles(buf []byte, f int) {
	for i := range r.parts {
		p := &r.parts[i]
		if f < p.f0 || f > p.f1 {
			continue
		}
		cx, cy := p.at(f)
		b := p.boundsRadius
		x0, x1 := max(int(cx)-b, 0), min(int(cx)+b+1, r.w)
		y0, y1 := max(int(cy)-b, 0), min(int(cy)+b+1, r.h)
		for y := y0; y < y1; y++ {
			dy := (float64(y) + 0.5 - cy) / p.ry
			row := r.luma(buf, y)
			for x := x0; x < x1; x++ {
				dx := (float64(x) + 0.5 - cx) / p.rx
				d := dx*dx + dy*dy
				if d >= 1 {
					continue
				}
				a := 1 - d
				row[x*r.lstep] = clampByte(int32(row[x*r.lstep]) + int32(p.bright*a*a))
			}
		}
	}
}

// shadePatch is a shade rendered once: per pixel gains in 8.8 fixed point over
// its bounding box.
type shadePatch struct {
	f0, f1         int
	x0, y0, x1, y1 float64 // centre at f0 and f1, pixels
	w, h           int
	gain           []uint16 // 8.8 fixed point (a gain below 256 fits)
}

func newShadePatch(s shade, w, h int, fps float64) shadePatch {
	p := shadePatch{
		f0: int(math.Round(s.start * fps)),
		w:  max(2, int(math.Round(2*s.rx*float64(w)))),
		h:  max(2, int(math.Round(2*s.ry*float64(h)))),
	}
	p.f1 = max(p.f0+1, int(math.Round((s.start+s.dur)*fps)))
	p.x0, p.y0 = s.from[0]*float64(w), s.from[1]*float64(h)
	p.x1, p.y1 = s.to[0]*float64(w), s.to[1]*float64(h)
	p.gain = make([]uint16, p.w*p.h)
	for j := range p.h {
		dy := (float64(j)+0.5)/float64(p.h)*2 - 1
		for i := range p.w {
			dx := (float64(i)+0.5)/float64(p.w)*2 - 1
			d := math.Sqrt(dx*dx + dy*dy) // 0 centre, 1 edge
			k := 0.0                      // how much of the change applies
			switch {
			case d >= 1:
			case d <= 1-s.soft:
				k = 1
			default:
				k = float64(smooth(float32((1 - d) / s.soft)))
			}
			p.gain[j*p.w+i] = uint16(math.Round((1 + (s.gain-1)*k) * 256))
		}
	}
	return p
}

// paintShades multiplies the luma under each shade of frame f by its gain.
func (r *renderer) paintShades(buf []byte, f int) {
	for i := range r.shades {
		s := &r.shades[i]
		if f < s.f0 || f > s.f1 {
			continue
		}
		t := float64(f-s.f0) / float64(s.f1-s.f0)
		px := int(math.Round(s.x0+(s.x1-s.x0)*t)) - s.w/2
		py := int(math.Round(s.y0+(s.y1-s.y0)*t)) - s.h/2
		for y := max(py, 0); y < min(py+s.h, r.h); y++ {
			g := s.gain[(y-py)*s.w:]
			row := r.luma(buf, y)
			for x := max(px, 0); x < min(px+s.w, r.w); x++ {
				row[x*r.lstep] = clampByte((int32(row[x*r.lstep])*int32(g[x-px]) + 128) >> 8)
			}
		}
	}
}
