package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/camagent/camagent/capture/synth"
)

// TestDetectFiltered: the summary says which filter took what away. The
// particles scene's first 15 s are snow at night with a walker from 10 s:
// the particle filter takes small young regions away (counted under
// "particles"), the snow alone raises no event, and the walker raises one
// within 0.5 s of appearing.
func TestDetectFiltered(t *testing.T) {
	dir := t.TempDir()
	cfg := synth.Config{Scene: synth.Particles, Width: 320, Height: 240, Frames: 15 * 25, Seed: 1}
	video, _, err := synth.WriteScene(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	src, err := synth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spans := src.Spans()
	var stdout, stderr bytes.Buffer
	if err := detectCmd(context.Background(), []string{"-input", video}, &stdout, &stderr); err != nil {
		t.Fatalf("detect: %v (%s)", err, stderr.String())
	}
	var summary struct {
		Summary struct {
			Events []struct {
				StartFrame int `json:"start_frame"`
				EndFrame   int `json:"end_frame"`
			} `json:"events"`
			Filtered struct {
				Shake     uint64 `json:"shake"`
				Shadow    uint64 `json:"shadow"`
				Particles uint64 `json:"particles"`
			} `json:"filtered"`
		} `json:"summary"`
	}
	sc := bufio.NewScanner(&stdout)
	found := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `{"summary"`) {
			if err := json.Unmarshal(sc.Bytes(), &summary); err != nil {
				t.Fatal(err)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("no summary line")
	}
	s := summary.Summary
	t.Logf("events %+v, filtered %+v", s.Events, s.Filtered)
	if s.Filtered.Particles < 25 {
		t.Errorf("particles filtered in %d frames, want the snow (most of 9 s)", s.Filtered.Particles)
	}
	if len(spans) != 1 {
		t.Fatalf("truth spans %v, want the walker's", spans)
	}
	walker := false
	for _, e := range s.Events {
		if e.StartFrame < spans[0].First {
			t.Errorf("event at frames %d-%d starts before the walker (frame %d): the snow alone raised it", e.StartFrame, e.EndFrame, spans[0].First)
		}
		if e.StartFrame <= spans[0].First+12 && e.EndFrame >= spans[0].First {
			walker = true
		}
	}
	if !walker {
		t.Errorf("events %+v, want one going on within 0.5 s of the walker's first frame %d", s.Events, spans[0].First)
	}
}
