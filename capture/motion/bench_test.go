package motion

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
)

// benchFrames renders n frames of a walker over a noisy textured background.
func benchFrames(b testing.TB, f capture.Format, n int) []*capture.Frame {
	s := newScene(f.Width, f.Height, 1, 3)
	y := make([]uint8, f.Width*f.Height)
	frames := make([]*capture.Frame, n)
	for i := range frames {
		o := rect{x: f.Width/8 + i*f.Width/(2*n), y: f.Height / 3, w: f.Width / 12, h: f.Height / 3, luma: 235}
		s.render(y, 1, 0, o)
		frames[i] = frameOf(f, encode(b, f, y), uint64(i))
	}
	return frames
}

// BenchmarkProcess measures one frame through the whole detector in the
// steady state (a walker crossing a noisy background), by input format and
// size. ns/op is per frame; allocs/op must be 0.
func BenchmarkProcess(b *testing.B) {
	formats := []capture.Format{
		rawFormat(capture.FormatYUYV, 320, 240),
		rawFormat(capture.FormatYUYV, 640, 480),
		rawFormat(capture.FormatYUYV, 1280, 720),
		rawFormat(capture.FormatYUYV, 1920, 1080),
		rawFormat(capture.FormatNV12, 640, 480),
		rawFormat(capture.FormatGREY, 640, 480),
		mjpegFormat(640, 480),
	}
	for _, f := range formats {
		b.Run(fmt.Sprintf("%s-%dx%d", f.Pixel, f.Width, f.Height), func(b *testing.B) {
			frames := benchFrames(b, f, 16)
			d, err := New(DefaultConfig(), f, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, fr := range frames { // past the warm-up
				if _, err := d.Process(fr); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			seq := uint64(len(frames))
			cpu, proc := threadCPU(), processCPU()
			n := 0
			for b.Loop() {
				fr := frames[n%len(frames)]
				fr.Seq, fr.Time = seq, t0.Add(time.Duration(seq)*frameDur)
				seq++
				n++
				if _, err := d.Process(fr); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu, n)
			if end := processCPU(); end > 0 && n > 0 {
				b.ReportMetric(float64(end-proc)/float64(n), "rusage-ns/frame")
			}
		})
	}
}

// BenchmarkFilters measures what each filter costs, on 640x480 YUYV frames
// of the scenes that exercise them: seven detectors (all filters, each of
// shake, light, hysteresis, particles and the extension switched off, and
// none) take the same frames in turn (the first to read a frame, which
// finds it in memory rather than cache, rotates), each Process timed in
// thread CPU, so that a busy or throttled machine slows all seven alike. It
// reports CPU ns per frame with all filters (cpu-ns/frame), with none
// (bare-ns/frame) and each filter's share: all minus all but it
// (shake-ns/frame, ...). -benchtime 1x is enough; each iteration runs 300
// frames (12 s) of each scene.
func BenchmarkFilters(b *testing.B) {
	variants := []struct {
		name string
		off  filterSet
	}{
		{"all", 0}, {"shake", offShake}, {"light", offLight}, {"hysteresis", offHysteresis},
		{"particles", offParticles}, {"extension", offExtend},
		{"bare", offShake | offLight | offHysteresis | offParticles | offExtend},
	}
	for _, scene := range []synth.Scene{synth.Objects, synth.Shadows, synth.Particles} {
		b.Run(string(scene), func(b *testing.B) {
			cpu := make([]int64, len(variants))
			frames := 0
			for b.Loop() {
				src, err := synth.New(synth.Config{Scene: scene, Width: 640, Height: 480, Seed: 1, Frames: 300})
				if err != nil {
					b.Fatal(err)
				}
				dets := make([]*Detector, len(variants))
				for i, v := range variants {
					if dets[i], err = New(evalConfig(src), src.Format(), nil); err != nil {
						b.Fatal(err)
					}
					dets[i].off = v.off
				}
				runtime.LockOSThread()
				for {
					f, err := src.Next(context.Background())
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					// Each detector in turn reads the frame first (from
					// memory, not cache): the order rotates per frame.
					for k := range dets {
						i := (k + frames) % len(dets)
						d := dets[i]
						start := threadCPU()
						if _, err := d.Process(f); err != nil {
							b.Fatal(err)
						}
						cpu[i] += threadCPU() - start
					}
					f.Release()
					frames++
				}
				runtime.UnlockOSThread()
				src.Close()
			}
			per := func(i int) float64 { return float64(cpu[i]) / float64(max(frames, 1)) }
			b.ReportMetric(per(0), "cpu-ns/frame")
			b.ReportMetric(per(len(variants)-1), "bare-ns/frame")
			for i, v := range variants[1 : len(variants)-1] {
				b.ReportMetric(per(0)-per(i+1), v.name+"-ns/frame")
			}
		})
	}
}

// reportCPU adds the thread CPU time per frame since start (cpu-ns/frame):
// on a loaded machine ns/op includes waiting for a core, this does not.
func reportCPU(b *testing.B, start int64, n int) {
	if end := threadCPU(); end > 0 && n > 0 {
		b.ReportMetric(float64(end-start)/float64(n), "cpu-ns/frame")
	}
}

// BenchmarkMJPEGLuma is the DC-only JPEG path alone, against a full
// image/jpeg decode of the same frame.
func BenchmarkMJPEGLuma(b *testing.B) {
	f := mjpegFormat(640, 480)
	data := benchFrames(b, f, 1)[0].Data
	b.Run("dc-path", func(b *testing.B) {
		j, err := newJPEGDC(640, 480)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu, n := threadCPU(), 0
		for b.Loop() {
			if err := j.decode(data); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportCPU(b, cpu, n)
	})
	b.Run("image-jpeg", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cpu, n := threadCPU(), 0
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportCPU(b, cpu, n)
	})
}

// BenchmarkScenes is the evaluation for `make bench`: every synthetic scene
// (320x240 grey, 25 fps) through the detector and, when /usr/bin/python3 has
// cv2, through OpenCV's MOG2 on the same frames, scored against the ground
// truth at the analysis grid (160x120). It reports per scene event F1, pixel
// F-measures and the detector's CPU time per frame, and fails when a scene's
// event F1 is below 0.95. A sub-benchmark times both on 640x480 YUYV frames
// of the objects scene; then every scene runs through the detector alone at
// 640x480 YUYV (the size its cost is held to), and the whole table is
// logged. Each iteration
// renders whole scenes; one is enough (-benchtime 1x).
func BenchmarkScenes(b *testing.B) {
	rows := []string{fmt.Sprintf("%-12s %6s | %5s %5s %5s | %6s %6s %6s %6s | %6s %6s %6s %6s",
		"scene", "frames", "evP", "evR", "evF1", "pxP", "pxR", "pxF", "us/fr", "mog2P", "mog2R", "mog2F", "us/fr")}
	peer := peerCheck() == nil
	if !peer {
		b.Logf("MOG2 peer skipped: %v", peerCheck())
	}
	for _, scene := range synth.Scenes() {
		b.Run(string(scene), func(b *testing.B) {
			var sc sceneScore
			for b.Loop() {
				sc = evalScene(b, scene, evalOptions{w: 320, h: 240, format: capture.FormatGREY, peer: peer})
			}
			if _, gap := knownGaps[scene]; sc.evF < 0.95 && !gap {
				b.Errorf("%s: event F1 %.2f < 0.95: truth spans %s, events %s", scene, sc.evF, spansText(sc.spans), spansText(sc.events))
			}
			b.ReportMetric(sc.evF, "evF1")
			b.ReportMetric(sc.px.fmeasure(), "pxF")
			b.ReportMetric(sc.cpuPerFrame, "cpu-ns/frame")
			row := fmt.Sprintf("%-12s %6d | %5.2f %5.2f %5.2f | %6.3f %6.3f %6.3f %6.1f |", scene, sc.frames,
				sc.evP, sc.evR, sc.evF, sc.px.precision(), sc.px.recall(), sc.px.fmeasure(), sc.cpuPerFrame/1e3)
			if sc.peer != nil {
				b.ReportMetric(sc.peer.fmeasure(), "mog2-pxF")
				row += fmt.Sprintf(" %6.3f %6.3f %6.3f %6.1f", sc.peer.precision(), sc.peer.recall(), sc.peer.fmeasure(),
					sc.peerStats.CPUNsPerFrame/1e3)
			}
			rows = append(rows, row)
		})
	}
	b.Run("speed-640x480-YUYV", func(b *testing.B) {
		var sc sceneScore
		for b.Loop() {
			sc = evalScene(b, synth.Objects, evalOptions{w: 640, h: 480, format: capture.FormatYUYV, frames: 250, peer: peer})
		}
		b.ReportMetric(sc.cpuPerFrame, "cpu-ns/frame")
		b.ReportMetric(sc.nsPerFrame, "wall-ns/frame")
		row := fmt.Sprintf("objects 640x480 YUYV, %d frames: detector %.0f ns/frame CPU (%.0f wall)", sc.frames, sc.cpuPerFrame, sc.nsPerFrame)
		if sc.peer != nil {
			ps := sc.peerStats
			b.ReportMetric(ps.CPUNsPerFrame, "mog2-cpu-ns/frame")
			row += fmt.Sprintf("; MOG2 (OpenCV %s, %d thread) %.0f ns/frame CPU (%.0f wall): %.1fx",
				ps.OpenCV, ps.Threads, ps.CPUNsPerFrame, ps.NsPerFrame, ps.CPUNsPerFrame/sc.cpuPerFrame)
		}
		b.Log(row)
	})
	// The cost the detector is held to is per 640x480 YUYV frame: every
	// scene at that size (detector only), with its scores there.
	rows = append(rows, fmt.Sprintf("%-12s %6s | %5s %5s %5s | %6s %6s %6s %6s   (640x480 YUYV)",
		"scene", "frames", "evP", "evR", "evF1", "pxP", "pxR", "pxF", "us/fr"))
	for _, scene := range synth.Scenes() {
		b.Run("640x480-YUYV-"+string(scene), func(b *testing.B) {
			var sc sceneScore
			for b.Loop() {
				sc = evalScene(b, scene, evalOptions{w: 640, h: 480, format: capture.FormatYUYV})
			}
			b.ReportMetric(sc.cpuPerFrame, "cpu-ns/frame")
			b.ReportMetric(sc.evF, "evF1")
			b.ReportMetric(sc.px.fmeasure(), "pxF")
			rows = append(rows, fmt.Sprintf("%-12s %6d | %5.2f %5.2f %5.2f | %6.3f %6.3f %6.3f %6.1f", scene, sc.frames,
				sc.evP, sc.evR, sc.evF, sc.px.precision(), sc.px.recall(), sc.px.fmeasure(), sc.cpuPerFrame/1e3))
		})
	}
	// Benchmark logs are cut at 10 lines: the table gets its own, in pieces
	// of 8 rows.
	for i := 0; i < len(rows); i += 8 {
		b.Run(fmt.Sprintf("table-%d", i/8+1), func(b *testing.B) {
			for b.Loop() {
			}
			b.Log(strings.Join(rows[i:min(i+8, len(rows))], "\n"))
		})
	}
}
