package fmp4

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden pins the byte layout of small clips; the files also seed FuzzScan.
func TestGolden(t *testing.T) {
	for name, clip := range map[string][]byte{
		"tiny-mjpeg.mp4": tinyMJPEG(t),
		"tiny-h264.mp4":  tinyH264(t),
	} {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, clip, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(clip, want) {
			t.Errorf("%s: muxed %d bytes differ from the golden %d bytes (go test -update rewrites it)", name, len(clip), len(want))
		}
	}
}

func TestH264Probe(t *testing.T) {
	needTool(t, "ffprobe")
	tests := []struct {
		name          string
		size          string
		args          []string
		width, height int
		profile       string
	}{
		{"high 4:2:0", "320x240", []string{"-pix_fmt", "yuv420p"}, 320, 240, "High"},
		{"baseline, cropped, with AUDs", "200x120", []string{"-pix_fmt", "yuv420p", "-profile:v", "baseline", "-x264-params", "aud=1"}, 200, 120, "Constrained Baseline"},
		{"high 4:4:4", "320x240", []string{"-pix_fmt", "yuv444p"}, 320, 240, "High 4:4:4 Predictive"},
	}
	const frames, interval = 30, 100 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aus := splitAccessUnits(t, h264Fixture(t, tt.size, frames, tt.args...))
			if len(aus) != frames {
				t.Fatalf("split %d access units, want %d", len(aus), frames)
			}
			tr := h264Track(t, aus)
			clip := muxClip(t, tr, h264Samples(aus, interval), time.Second)
			p := ffprobe(t, clip)
			checkProbe(t, p, "h264", tt.width, tt.height, frames, frames*interval, interval)
			if got := p.Streams[0].Profile; got != tt.profile {
				t.Errorf("profile %q, want %q", got, tt.profile)
			}
			if tag := p.Streams[0].CodecTag; tag != "avc1" {
				t.Errorf("codec tag %q, want avc1", tag)
			}
			ffmpegDecode(t, clip)

			rep, err := Scan(bytes.NewReader(clip), int64(len(clip)))
			if err != nil || rep.Stop != nil {
				t.Fatalf("Scan: %v, stop %v", err, rep.Stop)
			}
			if rep.Track.Codec != H264 || rep.Track.Width != tt.width || rep.Track.Height != tt.height || rep.Track.Timescale != DefaultTimescale {
				t.Errorf("Scan track %+v", rep.Track)
			}
			if len(rep.Fragments) != 3 || rep.Samples() != frames {
				t.Errorf("Scan found %d fragments of %d samples, want 3 of %d", len(rep.Fragments), rep.Samples(), frames)
			}
			for _, f := range rep.Fragments {
				if !f.Key || !f.Checked {
					t.Errorf("fragment %+v does not start on a checked keyframe", f)
				}
			}

			// The same units given length-prefixed make the same file.
			avccSamples := h264Samples(aus, interval)
			for i := range avccSamples {
				n, err := avccSize(aus[i])
				if err != nil {
					t.Fatal(err)
				}
				b := make([]byte, n)
				putAVCC(b, aus[i])
				avccSamples[i].data = b
			}
			if clip2 := muxClip(t, tr, avccSamples, time.Second); !bytes.Equal(clip, clip2) {
				t.Errorf("AVCC input muxed to %d bytes differing from Annex B's %d", len(clip2), len(clip))
			}
		})
	}
}

// countWriter records the size of each Write.
type countWriter struct{ writes []int }

func (c *countWriter) Write(p []byte) (int, error) {
	c.writes = append(c.writes, len(p))
	return len(p), nil
}

func TestFlushWritesOnce(t *testing.T) {
	var cw countWriter
	w, err := NewWriter(&cw, Track{Codec: MJPEG, Width: 64, Height: 48})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteInit(); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Flush(); n != 0 || err != nil || len(cw.writes) != 1 {
		t.Fatalf("empty Flush = %d, %v after %d writes; want 0, nil, no write", n, err, len(cw.writes)-1)
	}
	for frag := range 3 {
		for i := range 4 {
			pts := time.Duration(frag*4+i) * 100 * time.Millisecond
			if err := w.AddSample(fakeJPEG(100+i, 1), pts, true); err != nil {
				t.Fatal(err)
			}
		}
		if got := w.FragmentDuration(); got != 400*time.Millisecond {
			t.Errorf("FragmentDuration = %v, want 400ms", got)
		}
		if w.PendingSamples() != 4 || w.PendingBytes() != 4*100+6 {
			t.Errorf("pending %d samples, %d bytes", w.PendingSamples(), w.PendingBytes())
		}
		before := len(cw.writes)
		n, err := w.Flush()
		if err != nil {
			t.Fatal(err)
		}
		if len(cw.writes) != before+1 || cw.writes[before] != n {
			t.Fatalf("Flush returned %d after writes %v; want one write of that size", n, cw.writes[before:])
		}
		if want := moofSize(4) + 8 + 406; n != want {
			t.Errorf("fragment of %d bytes, want %d", n, want)
		}
		if w.PendingSamples() != 0 || w.FragmentDuration() != 0 {
			t.Errorf("after Flush: %d samples pending over %v", w.PendingSamples(), w.FragmentDuration())
		}
	}
}

func TestWouldStartFragment(t *testing.T) {
	mj, err := NewWriter(io.Discard, Track{Codec: MJPEG, Width: 8, Height: 8})
	if err != nil {
		t.Fatal(err)
	}
	hw, err := NewWriter(io.Discard, h264Track(t, tinyH264AUs(t)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		w    *Writer
		key  bool
		want bool
	}{{mj, false, true}, {mj, true, true}, {hw, false, false}, {hw, true, true}} {
		if got := tt.w.WouldStartFragment(tt.key); got != tt.want {
			t.Errorf("%v WouldStartFragment(%v) = %v", tt.w.Track().Codec, tt.key, got)
		}
	}
	if got := hw.Track(); got.Width != 320 || got.Height != 240 || got.Timescale != DefaultTimescale {
		t.Errorf("H.264 track %dx%d at %d, want 320x240 from the SPS at %d", got.Width, got.Height, got.Timescale, DefaultTimescale)
	}
}

// TestSampleTimes checks durations from successive times, the last sample's
// duration, tfdt, and a custom timescale.
func TestSampleTimes(t *testing.T) {
	tests := []struct {
		name      string
		track     Track
		pts       []time.Duration
		cutAfter  int // flush after this many samples (and at the end)
		wantBase  []uint64
		wantDur   []uint64
		wantTotal time.Duration
	}{
		{"one sample: nominal", Track{Codec: MJPEG, Width: 8, Height: 8, FrameDuration: 40 * time.Millisecond},
			[]time.Duration{0}, 1, []uint64{0}, []uint64{3600}, 40 * time.Millisecond},
		{"one sample: default nominal", Track{Codec: MJPEG, Width: 8, Height: 8},
			[]time.Duration{0}, 1, []uint64{0}, []uint64{3000}, DefaultFrameDuration},
		{"irregular times", Track{Codec: MJPEG, Width: 8, Height: 8},
			[]time.Duration{0, 100 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond, 450 * time.Millisecond},
			3, []uint64{0, 36000}, []uint64{9000 + 4500 + 4500, 4500 + 4500}, 500 * time.Millisecond},
		{"timescale 1000", Track{Codec: MJPEG, Width: 8, Height: 8, Timescale: 1000},
			[]time.Duration{0, 33 * time.Millisecond, 66 * time.Millisecond, 100 * time.Millisecond},
			2, []uint64{0, 66}, []uint64{66, 34 + 34}, 134 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w, err := NewWriter(&out, tt.track)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteInit(); err != nil {
				t.Fatal(err)
			}
			for i, pts := range tt.pts {
				if err := w.AddSample(fakeJPEG(16, byte(i)), pts, false); err != nil {
					t.Fatal(err)
				}
				if i+1 == tt.cutAfter {
					if _, err := w.Flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if _, err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			rep, err := Scan(bytes.NewReader(out.Bytes()), int64(out.Len()))
			if err != nil || rep.Stop != nil {
				t.Fatalf("Scan: %v, %v", err, rep.Stop)
			}
			if len(rep.Fragments) != len(tt.wantBase) {
				t.Fatalf("%d fragments, want %d", len(rep.Fragments), len(tt.wantBase))
			}
			for i, f := range rep.Fragments {
				if f.BaseTime != tt.wantBase[i] || f.Duration != tt.wantDur[i] || !f.Key {
					t.Errorf("fragment %d: base %d duration %d key %v, want %d, %d, key", i, f.BaseTime, f.Duration, f.Key, tt.wantBase[i], tt.wantDur[i])
				}
			}
			if got := rep.Duration(); got != tt.wantTotal {
				t.Errorf("Duration = %v, want %v", got, tt.wantTotal)
			}
		})
	}
}

func TestNewWriterErrors(t *testing.T) {
	sps, pps := unhex(t, sps320High), unhex(t, pps320High)
	tests := []struct {
		name  string
		track Track
		opts  []Option
	}{
		{"no codec", Track{Width: 8, Height: 8}, nil},
		{"mjpeg without size", Track{Codec: MJPEG}, nil},
		{"mjpeg too wide", Track{Codec: MJPEG, Width: 70000, Height: 8}, nil},
		{"h264 without sps", Track{Codec: H264, PPS: [][]byte{pps}}, nil},
		{"h264 without pps", Track{Codec: H264, SPS: [][]byte{sps}}, nil},
		{"h264 bad sps", Track{Codec: H264, SPS: [][]byte{{0x67, 1}}, PPS: [][]byte{pps}}, nil},
		{"h264 pps that is an sps", Track{Codec: H264, SPS: [][]byte{sps}, PPS: [][]byte{sps[:1]}}, nil},
		{"fragment size too small", Track{Codec: MJPEG, Width: 8, Height: 8}, []Option{WithMaxFragmentSize(100)}},
		{"fragment size too large", Track{Codec: MJPEG, Width: 8, Height: 8}, []Option{WithMaxFragmentSize(MaxFragmentSizeLimit + 1)}},
		{"no samples per fragment", Track{Codec: MJPEG, Width: 8, Height: 8}, []Option{WithMaxFragmentSamples(0)}},
		{"timescale above ns", Track{Codec: MJPEG, Width: 8, Height: 8, Timescale: MaxTimescale + 1}, nil},
		{"too many samples per fragment", Track{Codec: MJPEG, Width: 8, Height: 8}, []Option{WithMaxFragmentSamples(MaxFragmentSamplesLimit + 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewWriter(io.Discard, tt.track, tt.opts...); !errors.Is(err, ErrConfig) {
				t.Errorf("NewWriter: %v, want ErrConfig", err)
			}
		})
	}
}

func TestAddSampleErrors(t *testing.T) {
	aus := tinyH264AUs(t) // keyframes at 0, 5, 10
	mjpeg := Track{Codec: MJPEG, Width: 8, Height: 8}
	type step struct {
		data  []byte
		pts   time.Duration
		key   bool
		flush bool // Flush before adding
		want  error
	}
	ms := time.Millisecond
	tests := []struct {
		name  string
		track Track
		opts  []Option
		steps []step
	}{
		{"h264 clip starts on a non-key", h264Track(t, aus), nil, []step{{aus[1], 0, false, false, ErrNeedKeyframe}, {aus[0], 0, true, false, nil}}},
		{"h264 fragment starts on a non-key", h264Track(t, aus), nil, []step{
			{aus[0], 0, true, false, nil}, {aus[1], 100 * ms, false, false, nil},
			{aus[2], 200 * ms, false, true, ErrNeedKeyframe}, {aus[5], 200 * ms, true, false, nil}}},
		{"time goes back", mjpeg, nil, []step{{fakeJPEG(10, 0), 100 * ms, true, false, nil}, {fakeJPEG(10, 0), 50 * ms, true, false, ErrTimestamp}}},
		{"time stands still", mjpeg, nil, []step{{fakeJPEG(10, 0), 100 * ms, true, false, nil}, {fakeJPEG(10, 0), 100 * ms, true, false, ErrTimestamp}}},
		{"same tick", mjpeg, nil, []step{{fakeJPEG(10, 0), 0, true, false, nil}, {fakeJPEG(10, 0), time.Microsecond, true, false, ErrTimestamp}}},
		{"time goes back across fragments", mjpeg, nil, []step{{fakeJPEG(10, 0), 100 * ms, true, false, nil}, {fakeJPEG(10, 0), 0, true, true, ErrTimestamp}}},
		{"negative time", mjpeg, nil, []step{{fakeJPEG(10, 0), -ms, true, false, ErrTimestamp}}},
		{"not a jpeg", mjpeg, nil, []step{{[]byte("hello, world"), 0, true, false, ErrInvalidSample}}},
		{"h264 without slice", h264Track(t, aus), nil, []step{{cat(start4, nalSPSx), 0, true, false, ErrInvalidSample}}},
		{"h264 bad avcc", h264Track(t, aus), nil, []step{{[]byte{0, 0, 0, 99, 0x65}, 0, true, false, ErrInvalidSample}}},
		{"sample too large", mjpeg, []Option{WithMaxFragmentSize(1024)}, []step{{fakeJPEG(1025, 0), 0, true, false, ErrSampleTooLarge}, {fakeJPEG(1024, 0), 0, true, false, nil}}},
		{"fragment bytes full", mjpeg, []Option{WithMaxFragmentSize(1024)}, []step{
			{fakeJPEG(600, 0), 0, true, false, nil}, {fakeJPEG(600, 0), ms, true, false, ErrFragmentFull},
			{fakeJPEG(600, 0), ms, true, true, nil}}},
		{"fragment samples full", mjpeg, []Option{WithMaxFragmentSamples(2)}, []step{
			{fakeJPEG(10, 0), 0, true, false, nil}, {fakeJPEG(10, 0), ms, true, false, nil},
			{fakeJPEG(10, 0), 2 * ms, true, false, ErrFragmentFull}, {fakeJPEG(10, 0), 2 * ms, true, true, nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w, err := NewWriter(&out, tt.track, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteInit(); err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.steps {
				if s.flush {
					if _, err := w.Flush(); err != nil {
						t.Fatal(err)
					}
				}
				before := w.PendingSamples()
				err := w.AddSample(s.data, s.pts, s.key)
				if s.want == nil && err != nil || s.want != nil && !errors.Is(err, s.want) {
					t.Fatalf("step %d: AddSample = %v, want %v", i, err, s.want)
				}
				if err != nil && w.PendingSamples() != before {
					t.Fatalf("step %d: a refused sample was added", i)
				}
			}
			if _, err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			// What was accepted still makes a whole file.
			rep, err := Scan(bytes.NewReader(out.Bytes()), int64(out.Len()))
			if err != nil || rep.Stop != nil || rep.Trailing != 0 {
				t.Fatalf("Scan: %v, %v, %d trailing", err, rep.Stop, rep.Trailing)
			}
		})
	}
}

func TestCallOrder(t *testing.T) {
	w, err := NewWriter(io.Discard, Track{Codec: MJPEG, Width: 8, Height: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AddSample(fakeJPEG(10, 0), 0, true); !errors.Is(err, ErrState) {
		t.Errorf("AddSample before WriteInit: %v, want ErrState", err)
	}
	if _, err := w.Flush(); !errors.Is(err, ErrState) {
		t.Errorf("Flush before WriteInit: %v, want ErrState", err)
	}
	if err := w.WriteInit(); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteInit(); !errors.Is(err, ErrState) {
		t.Errorf("second WriteInit: %v, want ErrState", err)
	}
}

func TestWriteFailureIsSticky(t *testing.T) {
	for _, failAt := range []string{"init", "fragment", "short write"} {
		t.Run(failAt, func(t *testing.T) {
			fw := &failWriter{n: 1 << 20}
			var w *Writer
			var err error
			switch failAt {
			case "init":
				fw.n = 10
			}
			var target io.Writer = fw
			if failAt == "short write" {
				target = shortWriter{}
			}
			w, err = NewWriter(target, Track{Codec: MJPEG, Width: 8, Height: 8})
			if err != nil {
				t.Fatal(err)
			}
			err = w.WriteInit()
			if failAt == "init" {
				if !errors.Is(err, errDisk) {
					t.Fatalf("WriteInit: %v, want the disk error", err)
				}
			} else {
				if err != nil && failAt != "short write" {
					t.Fatal(err)
				}
				if failAt == "short write" {
					if !errors.Is(err, io.ErrShortWrite) {
						t.Fatalf("WriteInit: %v, want io.ErrShortWrite", err)
					}
				} else {
					fw.n = 50
					if err := w.AddSample(fakeJPEG(100, 0), 0, true); err != nil {
						t.Fatal(err)
					}
					if _, err := w.Flush(); !errors.Is(err, errDisk) {
						t.Fatalf("Flush: %v, want the disk error", err)
					}
				}
			}
			fw.n = 1 << 20
			if err := w.AddSample(fakeJPEG(100, 0), time.Second, true); !errors.Is(err, ErrWriteFailed) {
				t.Errorf("AddSample after a failure: %v, want ErrWriteFailed", err)
			}
			if _, err := w.Flush(); !errors.Is(err, ErrWriteFailed) {
				t.Errorf("Flush after a failure: %v, want ErrWriteFailed", err)
			}
		})
	}
}

// shortWriter takes half of every write without an error.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

// TestNoAllocsPerSample checks the steady state: once the buffers have grown,
// AddSample and Flush allocate nothing.
func TestNoAllocsPerSample(t *testing.T) {
	aus := tinyH264AUs(t)
	tests := []struct {
		name    string
		track   Track
		samples [][]byte
		keys    []bool
	}{
		{"mjpeg", Track{Codec: MJPEG, Width: 8, Height: 8}, [][]byte{fakeJPEG(4000, 1), fakeJPEG(3000, 2)}, []bool{true, true}},
		{"h264 annex b", h264Track(t, aus), [][]byte{aus[0], aus[1]}, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := NewWriter(io.Discard, tt.track)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteInit(); err != nil {
				t.Fatal(err)
			}
			pts := time.Duration(0)
			fragment := func() {
				for i := range 10 {
					k := min(i, 1)
					if err := w.AddSample(tt.samples[k], pts, tt.keys[k]); err != nil {
						t.Fatal(err)
					}
					pts += 40 * time.Millisecond
				}
				if _, err := w.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			fragment() // grow the buffers
			if allocs := testing.AllocsPerRun(20, fragment); allocs != 0 {
				t.Errorf("%v allocations per fragment of 10 samples, want 0", allocs)
			}
		})
	}
}
