package recorder

import (
	"context"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/storagetest"
)

// benchRig records one event over all of src's frames, on a real folder
// (fdatasync and all), with the recorder's defaults but MaxClip.
func benchRig(b *testing.B, src *source, cfg Config) (*Recorder, *storage.Store) {
	card := storagetest.NewCard(b, 0)
	store, err := storage.NewStore(storage.StoreConfig{Card: card.Card})
	if err != nil {
		b.Fatal(err)
	}
	cfg.Store, cfg.Queue, cfg.Lossless = store, src, true
	rec, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return rec, store
}

// cycled renders n distinct frames once and hands them out in turn, so
// that making frames costs only a copy.
func cycled(f capture.Format, n int) func(i int, buf []byte) int {
	frames := make([][]byte, n)
	for i := range frames {
		buf := make([]byte, f.FrameSize())
		frames[i] = buf[:rawScene(f)(i*5, buf)]
	}
	return func(i int, buf []byte) int { return copy(buf, frames[i%n]) }
}

// BenchmarkRecordRawMJPEG records 640x480 YUYV frames at 10 fps as an MJPEG
// clip: one op is a whole 20 s clip (200 frames JPEG-encoded at quality 75,
// fragments of 2 s each written and fdatasync'ed, sealed with thumbnail and
// metadata). It reports the CPU time per second of clip (all goroutines,
// JPEG encoding included), the bytes written per byte of video (write
// amplification: fMP4 boxes and sidecars; filesystem metadata not counted)
// and the fsyncs per minute of recording (fragments, folders, sidecars).
func BenchmarkRecordRawMJPEG(b *testing.B) {
	f := capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480, FPS: 10}
	fill := cycled(f, 10)
	const seconds = 20
	var cpu time.Duration
	var written, video, syncs, frames uint64
	b.ReportAllocs()
	for b.Loop() {
		src := &source{n: seconds * 10, interval: 100 * time.Millisecond, format: f, fill: fill}
		rec, store := benchRig(b, src, Config{PreRoll: time.Second})
		rec.Notify(Event{ID: 1, Start: base.Add(time.Second)})
		c0 := cpuTime()
		if err := rec.Run(context.Background()); !errors.Is(err, io.EOF) {
			b.Fatal(err)
		}
		cpu += cpuTime() - c0
		st, sst := rec.Status(), store.Status()
		if sst.Sealed != 1 {
			b.Fatalf("%d clips sealed", sst.Sealed)
		}
		written += sst.BytesWritten
		syncs += sst.Syncs
		video += st.RecordedBytes
		frames += st.Recorded
	}
	clipSeconds := float64(frames) / 10
	b.ReportMetric(cpu.Seconds()*1000/clipSeconds, "cpu-ms/clip-s")
	b.ReportMetric(float64(written)/float64(video), "bytes-written/video-byte")
	b.ReportMetric(float64(syncs)/clipSeconds*60, "fsyncs/min")
	b.ReportMetric(float64(video)/float64(frames), "jpeg-bytes/frame")
}

// BenchmarkRecordMJPEGFrame is the per-frame cost of storing an MJPEG
// camera's frames as they are (no encoding): allocs/op shows the steady
// state allocates nothing per frame.
func BenchmarkRecordMJPEGFrame(b *testing.B) {
	const frames = 3000 // 5 minutes at 10 fps, in clips of 1 minute
	src := &source{n: frames, interval: 100 * time.Millisecond,
		format: capture.Format{Pixel: capture.FormatMJPEG, Width: 640, Height: 480, FPS: 10},
		fill:   func(i int, buf []byte) int { return fakeJPEG(buf, 40000, byte(i)) }}
	var allocs uint64
	var ms runtime.MemStats
	n := 0
	for b.Loop() {
		src.i = 0
		rec, _ := benchRig(b, src, Config{MaxClip: time.Minute})
		rec.Notify(Event{ID: 1, Start: base.Add(time.Second)})
		runtime.ReadMemStats(&ms)
		a0 := ms.Mallocs
		if err := rec.Run(context.Background()); !errors.Is(err, io.EOF) {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		allocs += ms.Mallocs - a0
		n += frames
	}
	b.ReportMetric(float64(allocs)/float64(n), "allocs/frame")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(n), "µs/frame")
}

// BenchmarkRecorderMemory runs a 640x480 YUYV camera through the recorder
// with a 5 s pre-roll (default 4 MiB cap) for 30 s with an event in the
// middle, and reports the peak heap the recorder added (sampled every
// frame) and what stays live after the run.
func BenchmarkRecorderMemory(b *testing.B) {
	f := capture.Format{Pixel: capture.FormatYUYV, Width: 640, Height: 480, FPS: 10}
	fill := cycled(f, 10)
	var peak, live uint64
	for b.Loop() {
		// The frames' pool is capture's, made before the measurement.
		src := &source{n: 300, interval: 100 * time.Millisecond, format: f, fill: fill, pool: capture.NewPool(4, f.FrameSize())}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base0 := ms.HeapAlloc
		var max uint64
		src.hook = func(int) {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > max {
				max = ms.HeapAlloc
			}
		}
		rec, _ := benchRig(b, src, Config{PreRoll: 5 * time.Second})
		rec.Notify(Event{ID: 1, Start: base.Add(12 * time.Second), End: base.Add(18 * time.Second)})
		if err := rec.Run(context.Background()); !errors.Is(err, io.EOF) {
			b.Fatal(err)
		}
		if st := rec.Status(); st.PreRollBytes == 0 || st.Clips != 1 {
			b.Fatalf("status %+v", st)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		live = ms.HeapAlloc - base0
		peak = max - base0
		runtime.KeepAlive(rec)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(live)/(1<<20), "live-heap-MiB")
}
