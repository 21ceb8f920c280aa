package fmp4

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"testing"
	"time"

	"github.com/camagent/camagent/storage/fmp4/fmp4test"
)

// testSample is one frame to mux.
type testSample struct {
	data []byte
	pts  time.Duration
	key  bool
}

// jpegFrames encodes n frames of a moving test pattern at w x h.
func jpegFrames(t testing.TB, w, h, n int, interval time.Duration) []testSample {
	t.Helper()
	out := make([]testSample, n)
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for i := range n {
		for y := range h {
			for x := range w {
				img.Y[y*img.YStride+x] = uint8((x + y + 8*i) & 0xff)
			}
		}
		for y := range h / 2 {
			for x := range w / 2 {
				img.Cb[y*img.CStride+x] = uint8(x * 255 / (w / 2))
				img.Cr[y*img.CStride+x] = uint8(y * 255 / (h / 2))
			}
		}
		// A bright square that moves, so frames differ visibly.
		sq := image.Rect(0, 0, w/8, h/8).Add(image.Pt((i*7)%(w-w/8), (i*5)%(h-h/8)))
		for y := sq.Min.Y; y < sq.Max.Y; y++ {
			for x := sq.Min.X; x < sq.Max.X; x++ {
				img.Y[y*img.YStride+x] = 235
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75}); err != nil {
			t.Fatalf("encode frame %d: %v", i, err)
		}
		out[i] = testSample{data: buf.Bytes(), pts: time.Duration(i) * interval, key: true}
	}
	return out
}

// muxClip writes samples with a cutting policy of one fragment per fragDur,
// starting fragments only where WouldStartFragment allows.
func muxClip(t testing.TB, tr Track, samples []testSample, fragDur time.Duration, opts ...Option) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, tr, opts...)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	if err := w.WriteInit(); err != nil {
		t.Fatalf("WriteInit: %v", err)
	}
	for i, s := range samples {
		if w.PendingSamples() > 0 && w.FragmentDuration() >= fragDur && w.WouldStartFragment(s.key) {
			if _, err := w.Flush(); err != nil {
				t.Fatalf("Flush before sample %d: %v", i, err)
			}
		}
		if err := w.AddSample(s.data, s.pts, s.key); err != nil {
			t.Fatalf("AddSample %d: %v", i, err)
		}
	}
	if _, err := w.Flush(); err != nil {
		t.Fatalf("final Flush: %v", err)
	}
	if got := w.Written(); got != int64(out.Len()) {
		t.Fatalf("Written() = %d, output has %d bytes", got, out.Len())
	}
	return out.Bytes()
}

// probe is the part of ffprobe's JSON output the tests look at.
type probe = fmp4test.Probe

func needTool(t testing.TB, name string) string { t.Helper(); return fmp4test.NeedTool(t, name) }

// ffprobe runs ffprobe on data and checks its one stream.
func ffprobe(t testing.TB, data []byte) probe { t.Helper(); return fmp4test.ProbeBytes(t, data) }

// ffmpegDecode decodes the whole clip and fails on any error message.
func ffmpegDecode(t testing.TB, data []byte) { t.Helper(); fmp4test.DecodeBytes(t, data) }

func checkProbe(t testing.TB, p probe, codec string, w, h, frames int, dur time.Duration, frame time.Duration) {
	t.Helper()
	fmp4test.Check(t, p, codec, w, h, frames, dur, frame)
}

func h264Fixture(t testing.TB, size string, frames int, extra ...string) []byte {
	t.Helper()
	return fmp4test.H264Fixture(t, size, frames, extra...)
}

// splitAccessUnits cuts an Annex B stream into access units (each in Annex B
// form with 4-byte start codes): a new unit starts at an AUD, at an SPS, PPS
// or SEI after a slice, or at a slice whose first_mb_in_slice is 0 after a
// slice (H.264 7.4.1.2.3).
func splitAccessUnits(t testing.TB, stream []byte) [][]byte {
	t.Helper()
	r := newNALReader(stream)
	if !r.annexB {
		t.Fatal("fixture is not Annex B")
	}
	var aus [][]byte
	var cur []byte
	hasSlice := false
	for nal, ok := r.next(); ok; nal, ok = r.next() {
		typ := nal[0] & 0x1f
		newAU := false
		switch typ {
		case nalAUD:
			newAU = true
		case nalSPS, nalPPS, nalSEI, 14, 15, 16, 17, 18:
			newAU = hasSlice
		case nalSlice, nalIDR:
			newAU = hasSlice && len(nal) > 1 && nal[1]&0x80 != 0
		}
		if newAU && len(cur) > 0 {
			aus = append(aus, cur)
			cur, hasSlice = nil, false
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, nal...)
		if typ == nalSlice || typ == nalIDR {
			hasSlice = true
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// h264Samples turns access units into samples at interval, keyed by IDR.
func h264Samples(aus [][]byte, interval time.Duration) []testSample {
	out := make([]testSample, len(aus))
	for i, au := range aus {
		out[i] = testSample{data: au, pts: time.Duration(i) * interval, key: IsKeyframe(au)}
	}
	return out
}

// h264Track builds the track from the first access unit's parameter sets.
func h264Track(t testing.TB, aus [][]byte) Track {
	t.Helper()
	sps, pps := ParameterSets(aus[0])
	if len(sps) == 0 || len(pps) == 0 {
		t.Fatalf("first access unit carries %d SPS and %d PPS", len(sps), len(pps))
	}
	return Track{Codec: H264, SPS: sps, PPS: pps}
}

// failWriter fails after n bytes.
type failWriter struct {
	n      int
	writes int
}

var errDisk = errors.New("disk on fire")

func (f *failWriter) Write(p []byte) (int, error) {
	f.writes++
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errDisk
	}
	f.n -= len(p)
	return len(p), nil
}
