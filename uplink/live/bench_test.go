package live_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
	"github.com/camagent/camagent/uplink/live"
)

// prerendered is a source that replays a few frames rendered up front, so
// that benchmarks measure live view and not the synthetic renderer.
type prerendered struct {
	format capture.Format
	frames [][]byte
	pool   *capture.Pool
	n      int
}

func newPrerendered(b *testing.B, src capture.Source, n int) *prerendered {
	p := &prerendered{format: src.Format(), pool: capture.NewPool(8, src.Format().FrameSize())}
	for range n {
		f, err := src.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		p.frames = append(p.frames, append([]byte(nil), f.Data...))
		f.Release()
	}
	src.Close()
	return p
}

func (p *prerendered) Format() capture.Format { return p.format }
func (p *prerendered) Close() error           { return nil }
func (p *prerendered) Next(ctx context.Context) (*capture.Frame, error) {
	f, err := p.pool.Get()
	if err != nil {
		return nil, err
	}
	if err := f.Fill(p.frames[p.n%len(p.frames)]); err != nil {
		f.Release()
		return nil, err
	}
	f.Format = p.format
	f.Seq = uint64(p.n)
	f.Time = epoch.Add(time.Duration(p.n) * 100 * time.Millisecond)
	p.n++
	return f, nil
}

func raw640(b *testing.B) func(int) (capture.Source, error) {
	s, err := synth.New(synth.Config{Width: 640, Height: 480, FPS: 10, Frames: 1000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	p := newPrerendered(b, s, 10)
	return func(int) (capture.Source, error) { return p, nil }
}

// BenchmarkOfferToFirstFrame: from the owner signing an offer to the first
// JPEG picture decoded on the viewer's side, on loopback (640x480 raw
// source at 10 frames/s, so up to 100 ms of it is waiting for a frame).
func BenchmarkOfferToFirstFrame(b *testing.B) {
	ctx := testCtx(b)
	r := newRig(b, rigOpts{source: raw640(b), tweak: func(c *live.Config) { c.MaxViewers = 16 }})
	b.ResetTimer()
	for range b.N {
		v, err := live.Dial(ctx, r.viewerConfig())
		if err != nil {
			b.Fatal(err)
		}
		<-v.Pictures
		b.StopTimer()
		v.Close()
		waitFor(ctx, b, "the session to end", func() bool { return r.srv.Status().Viewers == 0 })
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/first-frame")
}

// BenchmarkJPEGViewers: 1 and 4 viewers of a 640x480 raw camera at 10
// frames/s with live.fps = 10, through real pion peer connections on
// loopback. One op is one picture delivered to the first viewer (the others
// drain theirs alongside). It reports the pictures per second delivered, the
// CPU used per picture by this process (the device's encoding, once for all
// viewers, and sending, AND the in-process viewers' receiving: an upper
// bound for the device's share) and allocs/op (pion's SCTP and DTLS
// included, on both sides).
func BenchmarkJPEGViewers(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			ctx := testCtx(b)
			r := newRig(b, rigOpts{source: raw640(b), tweak: func(c *live.Config) {
				c.FPS, c.Quality, c.MaxViewers = 10, 70, n
			}})
			var vs []*live.Viewer
			for range n {
				v, err := live.Dial(ctx, r.viewerConfig())
				if err != nil {
					b.Fatal(err)
				}
				defer v.Close()
				<-v.Pictures
				vs = append(vs, v)
			}
			dctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for _, v := range vs[1:] {
				wg.Go(func() {
					for {
						select {
						case <-v.Pictures:
						case <-dctx.Done():
							return
						}
					}
				})
			}
			defer func() { stop(); wg.Wait() }()
			cpu0, t0 := live.ProcessCPU(), time.Now()
			var bytes int
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p := <-vs[0].Pictures
				bytes += len(p)
			}
			wall := time.Since(t0)
			b.ReportMetric(float64(b.N)/wall.Seconds(), "pictures/s")
			b.ReportMetric(float64(live.ProcessCPU()-cpu0)/1e6/float64(b.N), "cpu-ms/picture")
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/picture")
		})
	}
}

// BenchmarkH264Viewer: one viewer of the H.264 file source (320x240, 10
// frames/s): access units per second delivered and CPU as above.
func BenchmarkH264Viewer(b *testing.B) {
	ctx := testCtx(b)
	r := newRig(b, rigOpts{source: h264Source(b)})
	v, err := live.Dial(ctx, r.viewerConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	tr := <-v.Tracks
	cpu0, t0 := live.ProcessCPU(), time.Now()
	b.ResetTimer()
	for n := 0; n < b.N; {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			b.Fatal(err)
		}
		if pkt.Marker {
			n++
		}
	}
	wall := time.Since(t0)
	b.ReportMetric(float64(b.N)/wall.Seconds(), "frames/s")
	b.ReportMetric(float64(live.ProcessCPU()-cpu0)/float64(wall)*100, "cpu-%")
}

// BenchmarkSessionMemory: heap in use per connected JPEG session (device
// side and viewer side together, one process), from two sessions.
func BenchmarkSessionMemory(b *testing.B) {
	ctx := testCtx(b)
	r := newRig(b, rigOpts{source: raw640(b)})
	var ms runtime.MemStats
	var per float64
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		var vs []*live.Viewer
		for range 2 {
			v, err := live.Dial(ctx, r.viewerConfig())
			if err != nil {
				b.Fatal(err)
			}
			<-v.Pictures
			<-v.Pictures
			vs = append(vs, v)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		per = float64(int64(ms.HeapAlloc)-int64(before)) / 2
		for _, v := range vs {
			v.Close()
		}
		waitFor(ctx, b, "the sessions to end", func() bool { return r.srv.Status().Viewers == 0 })
	}
	b.ReportMetric(per, "heap-bytes/session")
}
