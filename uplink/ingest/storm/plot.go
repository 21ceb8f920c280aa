package storm

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"time"
)

// Colours of the runs: no jitter red, full jitter blue.
var (
	colNoJitter = color.RGBA{0xd0, 0x20, 0x20, 0xff}
	colJitter   = color.RGBA{0x20, 0x50, 0xd0, 0xff}
	colAxis     = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colGrid     = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	colBack     = color.RGBA{0x20, 0xa0, 0x40, 0xff}
)

// mqttColour is the run's colour, lighter: its MQTT connection attempts
// and cameras back on MQTT.
func mqttColour(r *Result) color.RGBA {
	c := colour(r)
	light := func(v uint8) uint8 { return v + (0xff-v)*5/10 }
	return color.RGBA{light(c.R), light(c.G), light(c.B), 0xff}
}

func colour(r *Result) color.RGBA {
	if r.NoJitter {
		return colNoJitter
	}
	return colJitter
}

// WritePNG plots the runs into path: on top, upload attempts per second
// since the outage began (the green line is the cloud's return); below,
// the share of cameras back against the time since the cloud's return.
func WritePNG(path string, runs []*Result) error {
	const w, h = 1000, 720
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	if len(runs) == 0 {
		return writePNG(path, img)
	}
	r0 := runs[0]
	title := fmt.Sprintf("reconnect storm: %d cameras, cloud down %s, backoff %s..%s", r0.Devices, dur(r0.Outage),
		dur(r0.Backoff.Base), dur(r0.Backoff.Cap))
	drawText(img, 20, 10, 3, title, colAxis)
	lx := 20
	for _, r := range runs {
		fillRect(img, lx, 36, lx+24, 42, colour(r))
		drawText(img, lx+30, 34, 2, name(r), colAxis)
		lx += 30 + textWidth(name(r), 2) + 30
	}
	drawText(img, lx, 34, 2, "green: cloud back; light: MQTT", colBack)

	// Top: attempts per second over time.
	var tmax time.Duration
	var ymax float64
	for _, r := range runs {
		tmax = max(tmax, time.Duration(len(r.Attempts))*r.Bucket)
		ymax = max(ymax, peakRate(r), peakOf(r.MQTT.Attempts, r.Bucket))
	}
	top := axes{x0: 80, y0: 70, x1: w - 20, y1: 360, xmax: tmax.Seconds(), ymax: niceMax(ymax)}
	top.draw(img, "attempts/s (uploads; light: MQTT connects)", "seconds since the outage began")
	for _, r := range runs {
		plotRate(img, top, r.MQTT.Attempts, r.Bucket, mqttColour(r))
		plotRate(img, top, r.Attempts, r.Bucket, colour(r))
	}
	bx := top.x(r0.Outage.Seconds())
	for y := top.y0; y < top.y1; y += 4 {
		fillRect(img, bx, y, bx+2, y+2, colBack)
	}

	// Bottom: share of cameras back over time since the cloud's return.
	var bmax time.Duration
	for _, r := range runs {
		bmax = max(bmax, r.Percentile(100), r.MQTT.Percentile(100))
	}
	bot := axes{x0: 80, y0: 420, x1: w - 20, y1: h - 50, xmax: max(bmax.Seconds(), 0.001), ymax: 100}
	bot.draw(img, "% cameras back (upload stored; light: MQTT connected)", "seconds since the cloud came back")
	for _, r := range runs {
		plotBack(img, bot, r.MQTT.Back, r.Devices, mqttColour(r))
		plotBack(img, bot, r.Back, r.Devices, colour(r))
	}
	return writePNG(path, img)
}

func peakOf(xs []int64, bucket time.Duration) float64 {
	var p int64
	for _, x := range xs {
		p = max(p, x)
	}
	return float64(p) / bucket.Seconds()
}

func plotRate(img *image.RGBA, top axes, counts []int64, bucket time.Duration, c color.RGBA) {
	{
		px, py := -1, -1
		for k, n := range counts {
			x := top.x(float64(k) * bucket.Seconds())
			x2 := top.x(float64(k+1) * bucket.Seconds())
			y := top.y(float64(n) / bucket.Seconds())
			if px >= 0 {
				line(img, px, py, x, y, c)
			}
			line(img, x, y, x2, y, c)
			px, py = x2, y
		}
	}
}

func plotBack(img *image.RGBA, bot axes, back []time.Duration, n int, c color.RGBA) {
	px, py := bot.x(0), bot.y(0)
	for i, d := range back {
		x, y := bot.x(d.Seconds()), bot.y(100*float64(i+1)/float64(n))
		line(img, px, py, x, py, c)
		line(img, x, py, x, y, c)
		px, py = x, y
	}
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("storm: plot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("storm: plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("storm: plot: %w", err)
	}
	return nil
}

// axes is a plot area: pixels x0..x1, y0..y1 (y up) for values 0..xmax,
// 0..ymax.
type axes struct {
	x0, y0, x1, y1 int
	xmax, ymax     float64
}

func (a axes) x(v float64) int { return a.x0 + int(v/a.xmax*float64(a.x1-a.x0)) }
func (a axes) y(v float64) int { return a.y1 - int(v/a.ymax*float64(a.y1-a.y0)) }

func (a axes) draw(img *image.RGBA, ylabel, xlabel string) {
	for i := 0; i <= 5; i++ {
		v := a.ymax * float64(i) / 5
		y := a.y(v)
		line(img, a.x0, y, a.x1, y, colGrid)
		s := fmt.Sprintf("%.0f", v)
		drawText(img, a.x0-8-textWidth(s, 2), y-5, 2, s, colAxis)
	}
	step := niceStep(a.xmax / 8)
	for v := 0.0; v <= a.xmax+1e-9; v += step {
		x := a.x(v)
		line(img, x, a.y0, x, a.y1, colGrid)
		s := trimFloat(v)
		drawText(img, x-textWidth(s, 2)/2, a.y1+8, 2, s, colAxis)
	}
	line(img, a.x0, a.y0, a.x0, a.y1, colAxis)
	line(img, a.x0, a.y1, a.x1, a.y1, colAxis)
	drawText(img, a.x0, a.y0-18, 2, ylabel, colAxis)
	drawText(img, a.x1-textWidth(xlabel, 2), a.y1+26, 2, xlabel, colAxis)
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1e-3
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func niceMax(v float64) float64 { return max(5*niceStep(v/5), 1) }

func fillRect(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	draw.Draw(img, image.Rect(x0, y0, x1, y1), image.NewUniform(c), image.Point{}, draw.Src)
}

// line draws a 2-pixel line from (x0, y0) to (x1, y1) (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0+1, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
