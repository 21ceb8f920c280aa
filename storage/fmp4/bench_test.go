package fmp4

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// BenchmarkAddSampleFlush measures muxing per sample, with a fragment of 10
// samples flushed to io.Discard every 10 samples.
func BenchmarkAddSampleFlush(b *testing.B) {
	// A 10 KiB H.264 P-frame in Annex B, and a keyframe with parameter sets.
	aus := tinyH264AUs(b)
	key := append(append([]byte(nil), aus[0]...), bytes.Repeat([]byte{0x5a}, 30<<10)...)
	p := append(append([]byte(nil), aus[1]...), bytes.Repeat([]byte{0x5a}, 10<<10)...)
	tests := []struct {
		name   string
		track  Track
		sample func(i int) ([]byte, bool)
	}{
		{"mjpeg-40KiB", Track{Codec: MJPEG, Width: 640, Height: 480}, func(int) ([]byte, bool) { return fakeJPEG(40<<10, 3), true }},
		{"h264-annexb-10KiB", h264Track(b, aus), func(i int) ([]byte, bool) {
			if i%10 == 0 {
				return key, true
			}
			return p, false
		}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			w, err := NewWriter(io.Discard, tt.track)
			if err != nil {
				b.Fatal(err)
			}
			if err := w.WriteInit(); err != nil {
				b.Fatal(err)
			}
			samples := make([][]byte, 10)
			keys := make([]bool, 10)
			total := 0
			for i := range samples {
				samples[i], keys[i] = tt.sample(i)
				total += len(samples[i])
			}
			b.SetBytes(int64(total / 10))
			pts := time.Duration(0)
			step := func(i int) {
				if err := w.AddSample(samples[i%10], pts, keys[i%10]); err != nil {
					b.Fatal(err)
				}
				pts += 100 * time.Millisecond
				if i%10 == 9 {
					if _, err := w.Flush(); err != nil {
						b.Fatal(err)
					}
				}
			}
			for i := range 10 { // grow the buffers
				step(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				step(i)
			}
		})
	}
}

// BenchmarkScan10MB scans a 10 MB MJPEG clip of 250 frames of 40 KiB in
// fragments of 10 frames, checksums included.
func BenchmarkScan10MB(b *testing.B) {
	samples := make([]testSample, 250)
	for i := range samples {
		samples[i] = testSample{data: fakeJPEG(40<<10, byte(i)), pts: time.Duration(i) * 100 * time.Millisecond, key: true}
	}
	clip := muxClip(b, Track{Codec: MJPEG, Width: 640, Height: 480}, samples, time.Second)
	r := bytes.NewReader(clip)
	b.SetBytes(int64(len(clip)))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := Scan(r, int64(len(clip)))
		if err != nil || rep.Stop != nil || len(rep.Fragments) != 25 {
			b.Fatalf("Scan: %v, stop %v, %d fragments", err, rep.Stop, len(rep.Fragments))
		}
	}
}
