package synth

// A plan is a scene's script in resolution- and rate-independent units: times
// in seconds, sizes and positions relative to the frame.
type plan struct {
	seconds float64 // default length
	movers  []mover
	lights  []lightStep
	night   float64 // time of the IR switch; < 0 for none
	flicker bool
	drift   bool
	zones   [][][2]float64 // foliage polygons (the first is rendered as foliage)
	shakes  [][2]float64   // spells of camera shake, [from, to) seconds
	shades  []shade        // travelling soft light changes (nuisance.go)
	swarms  []swarm        // particles near the lens (nuisance.go)
}

type shape int

const (
	shapeEllipse shape = iota
	shapeWalker
	shapeCar
	shapeBall
)

// A mover is one moving object. Its centre goes in a straight line from from
// to to (relative coordinates) during [start, start+dur) seconds. A coordinate
// outside 0..1 means off screen: it is pushed out until the whole object and
// its border are outside the frame, so every mover enters and leaves.
type mover struct {
	shape      shape
	start, dur float64
	w, h       float64 // size relative to the frame
	from, to   [2]float64
	bob        float64 // vertical bob amplitude (gait), relative to the height
}

// A lightStep is a sudden global light change by a factor gain; auto-exposure
// then takes back (1-keep) of it within about a second.
type lightStep struct {
	at, gain, keep float64
}

func walker(start, dur, y float64, leftToRight bool) mover {
	m := mover{shape: shapeWalker, start: start, dur: dur, w: 0.08, h: 0.30, from: [2]float64{-0.1, y}, to: [2]float64{1.1, y}, bob: 0.006}
	if !leftToRight {
		m.from, m.to = m.to, m.from
	}
	return m
}

func car(start, dur, y float64, leftToRight bool) mover {
	m := mover{shape: shapeCar, start: start, dur: dur, w: 0.34, h: 0.17, from: [2]float64{-0.3, y}, to: [2]float64{1.3, y}}
	if !leftToRight {
		m.from, m.to = m.to, m.from
	}
	return m
}

func ball(start, dur, y0, y1 float64) mover {
	return mover{shape: shapeBall, start: start, dur: dur, w: 0.045, h: 0.06, from: [2]float64{1.1, y0}, to: [2]float64{-0.1, y1}}
}

// foliageZone is the tree crown in the upper right of the foliage scene.
func foliageZone() [][2]float64 {
	return [][2]float64{
		{0.56, 0.04}, {0.80, 0.02}, {0.95, 0.10}, {0.97, 0.30}, {0.86, 0.44}, {0.66, 0.42}, {0.54, 0.26},
	}
}

func planFor(s Scene) plan {
	p := plan{night: -1}
	switch s {
	case Static:
		p.seconds = 20
	case Objects:
		p.seconds = 40
		p.movers = []mover{
			walker(2, 6, 0.62, true),
			ball(10.5, 1.6, 0.35, 0.40),
			car(15, 4, 0.78, true),
			{shape: shapeWalker, start: 16, dur: 7, w: 0.07, h: 0.26, from: [2]float64{1.1, 0.55}, to: [2]float64{-0.1, 0.58}, bob: 0.006},
			{shape: shapeEllipse, start: 27, dur: 5, w: 0.10, h: 0.12, from: [2]float64{0.15, -0.1}, to: [2]float64{0.9, 1.1}},
			{shape: shapeWalker, start: 34, dur: 5, w: 0.04, h: 0.12, from: [2]float64{1.05, 0.6}, to: [2]float64{0.7, 1.15}, bob: 0.003},
		}
	case LightChange:
		p.seconds = 30
		p.lights = []lightStep{{5, 1.6, 0.55}, {11, 0.55, 0.7}, {15.5, 1.35, 0.6}, {22, 1.5, 0.5}}
		p.movers = []mover{walker(19, 7, 0.6, true)}
	case DayNight:
		p.seconds = 30
		p.night = 8
		p.lights = []lightStep{{8, 1.7, 0}}
		p.movers = []mover{walker(17, 6, 0.6, false), car(25.5, 3.5, 0.78, true)}
	case Flicker:
		p.seconds = 30
		p.flicker = true
		p.movers = []mover{walker(10, 5, 0.6, true), car(21, 4, 0.78, false)}
	case Foliage:
		p.seconds = 30
		p.zones = [][][2]float64{foliageZone()}
		w := walker(6, 5, 0.72, true)
		w.h = 0.28
		c := car(16, 3, 0.80, false)
		c.h = 0.16
		p.movers = []mover{w, c, ball(24, 2.5, 0.62, 0.66)}
	case Shake:
		p.seconds = 30
		p.shakes = [][2]float64{{3, 6}, {13, 16.5}, {21, 23}}
		p.movers = []mover{walker(8, 4, 0.6, true), walker(19, 7, 0.65, false)}
	case Shadows:
		p.seconds = 40
		p.shades = []shade{
			{start: 2, dur: 8, rx: 0.45, ry: 0.5, from: [2]float64{-0.5, 0.5}, to: [2]float64{1.5, 0.55}, gain: 0.55, soft: 0.6},
			{start: 12, dur: 3, rx: 0.18, ry: 0.22, from: [2]float64{-0.2, 0.45}, to: [2]float64{1.2, 0.4}, gain: 1.6, soft: 0.8},
			{start: 16, dur: 9, rx: 0.4, ry: 0.45, from: [2]float64{1.4, 0.2}, to: [2]float64{-0.4, 0.8}, gain: 0.6, soft: 0.5},
			{start: 27, dur: 13, rx: 0.6, ry: 0.6, from: [2]float64{-0.6, 0.55}, to: [2]float64{1.2, 0.6}, gain: 0.55, soft: 0.5},
		}
		p.movers = []mover{walker(31, 6, 0.62, true)}
	case Particles:
		p.seconds = 50
		p.night = 0
		p.swarms = []swarm{
			{kind: snowflake, from: 1, to: 15, rate: 12, life: 1.5},
			{kind: raindrop, from: 17, to: 31, rate: 40, life: 0.4},
			{kind: insect, from: 33, to: 50, rate: 3, life: 2},
		}
		p.movers = []mover{walker(10, 5, 0.6, true), walker(26, 5, 0.62, false), walker(43, 6, 0.6, true)}
	case Drift:
		p.seconds = 40
		p.drift = true
		p.movers = []mover{walker(5, 5, 0.6, true), car(15, 4, 0.78, true), walker(26, 6, 0.62, false), ball(35, 3, 0.3, 0.45)}
	}
	return p
}
