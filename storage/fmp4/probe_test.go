package fmp4

import (
	"errors"
	"testing"
	"time"
)

func TestMJPEGProbe(t *testing.T) {
	needTool(t, "ffprobe")
	const frames, interval = 30, 100 * time.Millisecond
	samples := jpegFrames(t, 320, 240, frames, interval)
	clip := muxClip(t, Track{Codec: MJPEG, Width: 320, Height: 240}, samples, time.Second)
	p := ffprobe(t, clip)
	checkProbe(t, p, "mjpeg", 320, 240, frames, frames*interval, interval)
	if tag := p.Streams[0].CodecTag; tag != "mp4v" {
		t.Errorf("codec tag %q, want mp4v", tag)
	}
	ffmpegDecode(t, clip)

	rep, err := Scan(bytesReaderAt(clip), int64(len(clip)))
	if err != nil || rep.Stop != nil {
		t.Fatalf("Scan: %v, stop %v", err, rep.Stop)
	}
	if len(rep.Fragments) != 3 || rep.Samples() != frames {
		t.Errorf("Scan found %d fragments of %d samples, want 3 of %d", len(rep.Fragments), rep.Samples(), frames)
	}
}

// TestRecoveredPrefixProbes cuts real clips at every byte around a fragment
// boundary, and checks that the valid prefix Scan reports plays.
func TestRecoveredPrefixProbes(t *testing.T) {
	needTool(t, "ffprobe")
	const frames, interval = 30, 100 * time.Millisecond
	tests := []struct {
		name  string
		codec string
		clip  func(t *testing.T) []byte
	}{
		{"mjpeg", "mjpeg", func(t *testing.T) []byte {
			return muxClip(t, Track{Codec: MJPEG, Width: 320, Height: 240}, jpegFrames(t, 320, 240, frames, interval), time.Second)
		}},
		{"h264", "h264", func(t *testing.T) []byte {
			aus := splitAccessUnits(t, h264Fixture(t, "320x240", frames, "-pix_fmt", "yuv420p"))
			return muxClip(t, h264Track(t, aus), h264Samples(aus, interval), time.Second)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clip := tt.clip(t)
			full := scanBytes(t, clip)
			if len(full.Fragments) != 3 {
				t.Fatalf("%d fragments, want 3", len(full.Fragments))
			}
			f0, f1 := full.Fragments[0], full.Fragments[1]
			for cut := f0.End() - 200; cut < f1.Offset+int64(moofSize(f1.Samples))+200; cut++ {
				rep := scanBytes(t, clip[:cut])
				checkReport(t, rep, cut)
				want := 0
				switch {
				case cut >= f1.End():
					want = 2
				case cut >= f0.End():
					want = 1
				}
				if len(rep.Fragments) != want {
					t.Fatalf("cut at %d: %d fragments, want %d", cut, len(rep.Fragments), want)
				}
			}
			// A crash in the middle of the second fragment leaves the first.
			rep := scanBytes(t, clip[:f1.Offset+f1.Size/2])
			if rep.ValidSize != f0.End() || !errors.Is(rep.Stop, ErrTruncated) {
				t.Fatalf("valid to %d (want %d), stop %v", rep.ValidSize, f0.End(), rep.Stop)
			}
			prefix := clip[:rep.ValidSize]
			checkProbe(t, ffprobe(t, prefix), tt.codec, 320, 240, 10, time.Second, interval)
			ffmpegDecode(t, prefix)
		})
	}
}
