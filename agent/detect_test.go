package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/capture/synth"
)

type frameLine struct {
	Frame  *int     `json:"frame"`
	Motion bool     `json:"motion"`
	Score  float64  `json:"score_percent"`
	Boxes  [][4]int `json:"boxes"`
	Bad    bool     `json:"bad"`
}

func TestDetectCmd(t *testing.T) {
	dir := t.TempDir()
	// The objects scene's first walker crosses from 2 s to 8 s.
	video, _, err := synth.WriteScene(dir, synth.Config{Scene: synth.Objects, Width: 160, Height: 120, Frames: 250, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "camagent.toml")
	writeFile(t, cfgPath, "[storage]\nmount = \"/x\"\n\n[motion]\nthreshold = 14\nevent_gap = \"1s\"\n[[motion.zones]]\npolygon = [[0, 0], [0.2, 0], [0.2, 0.2]]\nexclude = true\n")

	var stdout, stderr bytes.Buffer
	err = detectCmd(context.Background(), []string{"-input", video, "-config", cfgPath, "-zone", "exclude:0.9,0.9 1,0.9 1,1"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("detect: %v (%s)", err, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	frames, motionFrames, maxScore := 0, 0, 0.0
	var summary struct {
		Summary struct {
			Frames       int `json:"frames"`
			BadFrames    int `json:"bad_frames"`
			MotionFrames int `json:"motion_frames"`
			Events       []struct {
				StartFrame  int     `json:"start_frame"`
				EndFrame    int     `json:"end_frame"`
				Start       float64 `json:"start_s"`
				PeakPercent float64 `json:"peak_percent"`
			} `json:"events"`
			Grid [3]int `json:"grid"`
		} `json:"summary"`
	}
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"summary"`) {
			if err := json.Unmarshal(sc.Bytes(), &summary); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var l frameLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if l.Frame == nil || *l.Frame != frames {
			t.Fatalf("line %d is %q", frames, sc.Text())
		}
		for _, b := range l.Boxes {
			if b[0] < 0 || b[1] < 0 || b[2] <= 0 || b[3] <= 0 || b[0]+b[2] > 160 || b[1]+b[3] > 120 {
				t.Fatalf("frame %d: box %v outside 160x120", frames, b)
			}
		}
		if l.Motion {
			motionFrames++
			maxScore = max(maxScore, l.Score)
		}
		frames++
	}
	s := summary.Summary
	if frames != 250 || s.Frames != 250 || s.BadFrames != 0 || s.MotionFrames != motionFrames {
		t.Fatalf("%d lines, summary %+v", frames, s)
	}
	// (While it enters, the walker is a small region, which counts once it
	// has persisted for 0.4 s: the particle filter.)
	if len(s.Events) != 1 || s.Events[0].StartFrame < 50 || s.Events[0].StartFrame > 63 || s.Events[0].EndFrame < 190 || s.Events[0].EndFrame > 205 {
		t.Fatalf("events %+v, want one from about frame 50 to 200", s.Events)
	}
	if got := s.Events[0].Start; got != float64(s.Events[0].StartFrame)/25 {
		t.Errorf("start %v s for frame %d", got, s.Events[0].StartFrame)
	}
	// Scores in percent of the picture, the frames' and the event's alike
	// (issue 15: one scale).
	if p := s.Events[0].PeakPercent; p < 1 || p > 100 || math.Abs(p-maxScore) > 0.001 {
		t.Errorf("event peak %v%%, frames' highest score %v%%: want the same, in percent", p, maxScore)
	}
	if s.Grid != [3]int{160, 120, 1} {
		t.Errorf("grid %v", s.Grid)
	}
}

func TestDetectCmdErrors(t *testing.T) {
	dir := t.TempDir()
	badHeader := filepath.Join(dir, "bad.y4m")
	writeFile(t, badHeader, "YUV4MPEG2 W0 H-1\nFRAME\n")
	unknownKey := filepath.Join(dir, "unknown.toml")
	writeFile(t, unknownKey, "[motion]\nthreshhold = 3\n")
	badValue := filepath.Join(dir, "bad.toml")
	writeFile(t, badValue, "[motion]\nthreshold = 300\n")
	video, _, err := synth.WriteScene(dir, synth.Config{Scene: synth.Static, Width: 64, Height: 48, Frames: 3})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no input", nil, ""},
		{"missing file", []string{"-input", filepath.Join(dir, "none.y4m")}, "no such file"},
		{"bad header", []string{"-input", badHeader}, "y4m"},
		{"unknown key", []string{"-input", video, "-config", unknownKey}, "motion.threshhold"},
		{"bad value", []string{"-input", video, "-config", badValue}, "threshold"},
		{"bad zone", []string{"-input", video, "-zone", "sideways:0,0 1,0 1,1"}, ""},
		{"zone out of range", []string{"-input", video, "-zone", "0,0 2,0 1,1"}, "zones[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := detectCmd(context.Background(), tt.args, &stdout, &stderr)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want == "" {
				if !errors.Is(err, errUsage) {
					t.Fatalf("err %v, want a usage error", err)
				}
				return
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadMotionConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.toml")
	writeFile(t, path, `[motion]
grid_width = 320
blur = false
threshold = 20
noise_k = 3.5
learn_rate = 0.05
shake = 0
still_time = "4s"
min_area_percent = 1
despeckle = "EedDl"
light_change_percent = 30
lightning_percent = 70
min_motion_frames = 5
event_gap = "10s"
cooldown = "2m"

[[motion.zones]]
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.5]]
`)
	got, err := loadMotionConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := motion.Config{GridWidth: 320, Threshold: 20, NoiseK: 3.5, LearnRate: 0.05, MinAreaPercent: 1, StillTime: 4 * time.Second,
		Despeckle: "EedDl", LightChangePercent: 30, LightningPercent: 70, MinMotionFrames: 5,
		EventGap: 10 * time.Second, Cooldown: 2 * time.Minute,
		Zones: []motion.Zone{{Polygon: [][2]float64{{0, 0}, {1, 0}, {1, 0.5}}}}}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Fatalf("got  %s\nwant %s", gotJSON, wantJSON)
	}
	if d, err := loadMotionConfig(""); err != nil || d.Threshold != motion.DefaultConfig().Threshold {
		t.Fatalf("defaults: %+v %v", d, err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
