package fmp4

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
type probe struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		CodecTag     string `json:"codec_tag_string"`
		Width        int    `json:"width"`
		Height       int    `json:"height"`
		NbReadFrames string `json:"nb_read_frames"`
		Duration     string `json:"duration"`
		Profile      string `json:"profile"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

func needTool(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not running %s", name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed (Debian package ffmpeg): %v", name, err)
	}
	return p
}

// ffprobe runs ffprobe on data and checks its one stream.
func ffprobe(t testing.TB, data []byte) probe {
	t.Helper()
	bin := needTool(t, "ffprobe")
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-v", "error", "-show_streams", "-show_format", "-count_frames", "-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe complained: %s", stderr.String())
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v: %s", err, out)
	}
	if len(p.Streams) != 1 {
		t.Fatalf("ffprobe found %d streams: %s", len(p.Streams), out)
	}
	return p
}

// ffmpegDecode decodes the whole clip and fails on any error message.
func ffmpegDecode(t testing.TB, data []byte) {
	t.Helper()
	bin := needTool(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("ffmpeg decode: %v: %s", err, out)
	}
}

func checkProbe(t testing.TB, p probe, codec string, w, h, frames int, dur time.Duration, frame time.Duration) {
	t.Helper()
	s := p.Streams[0]
	if s.CodecName != codec || s.Width != w || s.Height != h {
		t.Errorf("stream %s %dx%d, want %s %dx%d", s.CodecName, s.Width, s.Height, codec, w, h)
	}
	if s.NbReadFrames != strconv.Itoa(frames) {
		t.Errorf("nb_read_frames %s, want %d", s.NbReadFrames, frames)
	}
	for name, v := range map[string]string{"stream": s.Duration, "format": p.Format.Duration} {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Errorf("%s duration %q: %v", name, v, err)
			continue
		}
		got := time.Duration(secs * float64(time.Second))
		if diff := (got - dur).Abs(); diff > frame {
			t.Errorf("%s duration %v, want %v within %v", name, got, dur, frame)
		}
	}
}

// h264Fixture encodes a test pattern with Debian's ffmpeg and libx264 and
// returns the Annex B elementary stream.
func h264Fixture(t testing.TB, size string, frames int, extra ...string) []byte {
	t.Helper()
	bin := needTool(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "out.h264")
	args := []string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=" + size + ":rate=10",
		"-frames:v", strconv.Itoa(frames), "-c:v", "libx264", "-threads", "1", "-g", "10", "-bf", "0"}
	args = append(args, extra...)
	args = append(args, "-f", "h264", path)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "libx264") {
			t.Skipf("ffmpeg without libx264: %s", out)
		}
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
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
