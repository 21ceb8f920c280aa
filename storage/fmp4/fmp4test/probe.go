package fmp4test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Probe is the part of ffprobe's JSON the tests check.
type Probe struct {
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

// NeedTool returns the path of an ffmpeg tool, or skips the test.
func NeedTool(t testing.TB, name string) string {
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

// ProbeFile runs ffprobe (counting frames) on a clip, fails on any complaint,
// and checks the clip has exactly one stream.
func ProbeFile(t testing.TB, path string) Probe {
	t.Helper()
	cmd := exec.Command(NeedTool(t, "ffprobe"), "-v", "error", "-show_streams", "-show_format", "-count_frames", "-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe complained: %s", stderr.String())
	}
	var p Probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v: %s", err, out)
	}
	if len(p.Streams) != 1 {
		t.Fatalf("ffprobe found %d streams: %s", len(p.Streams), out)
	}
	return p
}

// ProbeBytes is ProbeFile for a clip held in memory.
func ProbeBytes(t testing.TB, data []byte) Probe {
	t.Helper()
	return ProbeFile(t, writeTemp(t, data))
}

// Decode decodes every frame of a clip with ffmpeg and fails on any message.
func Decode(t testing.TB, path string) {
	t.Helper()
	out, err := exec.Command(NeedTool(t, "ffmpeg"), "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("ffmpeg decode: %v: %s", err, out)
	}
}

// DecodeBytes is Decode for a clip held in memory.
func DecodeBytes(t testing.TB, data []byte) {
	t.Helper()
	Decode(t, writeTemp(t, data))
}

func writeTemp(t testing.TB, data []byte) string {
	path := filepath.Join(t.TempDir(), "clip.mp4")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Check compares a probe's codec, size, frame count and both durations (to
// within tol) with what was written.
func Check(t testing.TB, p Probe, codec string, w, h, frames int, dur, tol time.Duration) {
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
		if got := time.Duration(secs * float64(time.Second)); (got - dur).Abs() > tol {
			t.Errorf("%s duration %v, want %v within %v", name, got, dur, tol)
		}
	}
}

// H264Fixture encodes ffmpeg's test pattern at 10 fps with libx264 (a
// keyframe every 10 frames, no B-frames, plus any extra ffmpeg arguments) and
// returns the Annex B elementary stream; it skips when libx264 is missing.
func H264Fixture(t testing.TB, size string, frames int, extra ...string) []byte {
	t.Helper()
	bin := NeedTool(t, "ffmpeg")
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
