package live

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
)

// rawFrames renders n 640x480 raw frames once.
func rawFrames(t testing.TB, n int) (capture.Format, [][]byte) {
	t.Helper()
	src, err := synth.New(synth.Config{Width: 640, Height: 480, FPS: 10, Frames: n, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out [][]byte
	for range n {
		f, err := src.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(f.Data))
		f.Release()
	}
	return src.Format(), out
}

// publisher puts frames into a hub as a capture loop does, from a fixed pool.
type publisher struct {
	hub    *capture.Hub
	pool   *capture.Pool
	format capture.Format
	frames [][]byte
	n      int
}

func (p *publisher) publish(t testing.TB) {
	f, err := p.pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Fill(p.frames[p.n%len(p.frames)]); err != nil {
		t.Fatal(err)
	}
	f.Format = p.format
	f.Seq = uint64(p.n)
	f.Time = time.Unix(1e9, 0).Add(time.Duration(p.n) * 100 * time.Millisecond)
	p.n++
	p.hub.Publish(f)
	f.Release()
}

func hubQueues(h *capture.Hub) int { return len(h.Stats()) }

// TestPicturesSharedOnce: every session gets the same picture (encoded
// once), queues drop their oldest, nothing holds a capture queue without a
// subscriber, and every buffer returns to its pool at the end.
func TestPicturesSharedOnce(t *testing.T) {
	format, frames := rawFrames(t, 4)
	synctest.Test(t, func(t *testing.T) {
		hub := &capture.Hub{}
		pub := &publisher{hub: hub, pool: capture.NewPool(4, format.FrameSize()), format: format, frames: frames}
		e := newPictures(hub, 4, 10, 70, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { defer close(done); e.run(ctx) }()

		synctest.Wait()
		if n := hubQueues(hub); n != 0 {
			t.Fatalf("capture queues with no viewer: %d, want 0", n)
		}
		pub.publish(t)
		synctest.Wait()
		if n := e.encoded.Load(); n != 0 {
			t.Fatalf("encoded %d pictures with no viewer", n)
		}

		qs := []*picQueue{e.subscribe(), e.subscribe(), e.subscribe()}
		synctest.Wait()
		if n := hubQueues(hub); n != 1 {
			t.Fatalf("capture queues with 3 viewers: %d, want 1", n)
		}
		pub.publish(t)
		synctest.Wait()
		var first *picture
		for i, q := range qs {
			p := q.tryNext()
			if p == nil {
				t.Fatalf("viewer %d got no picture", i)
			}
			if first == nil {
				first = p
				if _, err := jpeg.Decode(bytes.NewReader(p.buf.Bytes())); err != nil {
					t.Fatalf("picture is not a JPEG: %v", err)
				}
			} else if p != first {
				t.Fatalf("viewer %d got a picture of its own, not the shared one", i)
			}
			p.release()
		}
		if n := e.encoded.Load(); n != 1 {
			t.Fatalf("encoded %d pictures for 3 viewers of 1 frame, want 1", n)
		}

		for range 3 { // three more frames: each queue (depth 2) keeps the newest two
			pub.publish(t)
			synctest.Wait()
		}
		for i, q := range qs {
			if d := q.dropped.Load(); d != 1 {
				t.Errorf("viewer %d dropped %d, want 1", i, d)
			}
		}
		p := qs[0].tryNext()
		if want := time.Unix(1e9, 0).Add(300 * time.Millisecond); !p.time.Equal(want) {
			t.Errorf("oldest picture kept is from %v, want %v", p.time, want)
		}
		p.release()

		for _, q := range qs {
			e.unsubscribe(q)
		}
		synctest.Wait()
		if n := hubQueues(hub); n != 0 {
			t.Fatalf("capture queues after the last viewer left: %d, want 0", n)
		}
		if len(e.free) != cap(e.free) {
			t.Errorf("pictures back in the pool: %d of %d", len(e.free), cap(e.free))
		}
		if pub.pool.Available() != 4 {
			t.Errorf("frames back in the capture pool: %d of 4", pub.pool.Available())
		}

		// A new viewer starts the intake again.
		q := e.subscribe()
		synctest.Wait()
		pub.publish(t)
		synctest.Wait()
		if p := q.tryNext(); p == nil {
			t.Fatal("no picture after a new viewer subscribed")
		} else {
			p.release()
		}
		e.unsubscribe(q)
		cancel()
		<-done
	})
}

// BenchmarkPictureFanout: one 640x480 YUYV frame per op, encoded once and
// handed to 1 or 4 viewers that take and release it (the data channel
// excluded: BenchmarkJPEGViewers has it). allocs/op is what image/jpeg
// allocates inside Encode, once per frame whatever the number of viewers;
// cpu-ms/frame is the process's CPU time per frame.
func BenchmarkPictureFanout(b *testing.B) {
	format, frames := rawFrames(b, 4)
	for _, viewers := range []int{1, 4} {
		b.Run(fmt.Sprintf("viewers=%d", viewers), func(b *testing.B) {
			ctx, cancel := context.WithCancel(b.Context())
			defer cancel()
			hub := &capture.Hub{}
			pub := &publisher{hub: hub, pool: capture.NewPool(4, format.FrameSize()), format: format, frames: frames}
			e := newPictures(hub, viewers, 60, 70, slog.New(slog.DiscardHandler))
			done := make(chan struct{})
			go func() { defer close(done); e.run(ctx) }()
			got := make(chan struct{}, viewers)
			var stopped []chan struct{}
			for range viewers {
				q := e.subscribe()
				s := make(chan struct{})
				stopped = append(stopped, s)
				go func() {
					defer close(s)
					defer e.unsubscribe(q)
					for {
						p, err := q.next(ctx)
						if err != nil {
							return
						}
						p.release()
						got <- struct{}{}
					}
				}()
			}
			for hubQueues(hub) == 0 { // the intake subscribes on its goroutine
				select {
				case <-ctx.Done():
					b.Fatal(ctx.Err())
				case <-time.After(time.Millisecond):
				}
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				pub.publish(b)
				for range viewers {
					<-got
				}
			}
			b.ReportMetric(float64(processCPU()-cpu0)/1e6/float64(b.N), "cpu-ms/frame")
			cancel()
			for _, s := range stopped {
				<-s
			}
			<-done
		})
	}
}
