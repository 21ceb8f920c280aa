package recorder

import (
	"context"
	"fmt"
	"github.com/camagent/camagent/capture"
	"math"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
)

type ev struct {
	start, end float64 // seconds; end < 0: still going when the frames end
}

type want struct {
	start, end float64 // capture times of the first and last frame
	frames     int
	part       int
	events     int
}

func TestClipTiming(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     func() *source
		cfg     Config
		events  []ev
		late    float64 // if > 0, the events are reported when the frame at this time is taken
		want    []want
		skipped uint64
	}{
		{name: "one event: pre-roll, event, post-roll", src: func() *source { return mjpegSource(30, 10, 500) },
			events: []ev{{10, 12}}, want: []want{{8, 15, 71, 1, 1}}},
		{name: "an event inside the post-roll extends the clip", src: func() *source { return mjpegSource(30, 10, 500) },
			events: []ev{{10, 11}, {13.5, 14}}, want: []want{{8, 17, 91, 1, 2}}},
		{name: "events farther apart make two clips", src: func() *source { return mjpegSource(30, 10, 500) },
			events: []ev{{10, 11}, {20, 21}}, want: []want{{8, 14, 61, 1, 1}, {18, 24, 61, 1, 1}}},
		{name: "no frame is in two clips: the second pre-roll is shorter", src: func() *source { return mjpegSource(30, 10, 500) },
			events: []ev{{10, 11}, {15, 16}}, want: []want{{8, 14, 61, 1, 1}, {14.1, 19, 50, 1, 1}}},
		{name: "max length splits a long event", src: func() *source { return mjpegSource(30, 10, 500) },
			cfg:    Config{MaxClip: 6 * time.Second, PreRoll: time.Second, PostRoll: time.Second},
			events: []ev{{5, 25}},
			want:   []want{{4, 9.9, 60, 1, 1}, {10, 15.9, 60, 2, 1}, {16, 21.9, 60, 3, 1}, {22, 26, 41, 4, 1}}},
		{name: "an event going on at the end is sealed at the end", src: func() *source { return mjpegSource(20, 10, 500) },
			events: []ev{{10, -1}}, want: []want{{8, 19.9, 120, 1, 1}}},
		{name: "pre-roll bounded in bytes", src: func() *source { return mjpegSource(30, 10, 10000) },
			cfg:    Config{PreRollBytes: 64 << 10},
			events: []ev{{10, 12}}, want: []want{{9.5, 15, 56, 1, 1}}},
		{name: "an event reported late still gets its pre-roll", src: func() *source { return mjpegSource(30, 10, 500) },
			events: []ev{{10, 12}}, late: 10.8, want: []want{{8, 15, 71, 1, 1}}},
		{name: "30 fps source recorded at 10 fps", src: func() *source { return mjpegSource(12, 30, 500) },
			events: []ev{{5, 7}}, want: []want{{3, 10, 71, 1, 1}}, skipped: 240},
		{name: "H.264 pre-roll starts on a keyframe", src: func() *source { return h264Source(30, 10) },
			events: []ev{{10.5, 12}}, want: []want{{8, 15, 71, 1, 1}}},
		{name: "H.264 splits at keyframes", src: func() *source { return h264Source(30, 10) },
			cfg:    Config{MaxClip: 3 * time.Second, PreRoll: time.Second, PostRoll: time.Second},
			events: []ev{{5.5, 11.2}},
			want:   []want{{4, 6.9, 30, 1, 1}, {7, 9.9, 30, 2, 1}, {10, 12.2, 23, 3, 1}}},
		{name: "H.264 keyframes farther apart than the max length", src: func() *source { return h264Source(30, 40) },
			cfg:    Config{MaxClip: 3 * time.Second, PreRoll: time.Second, PostRoll: time.Second},
			events: []ev{{5, 10}},
			want:   []want{{4, 7.9, 40, 1, 1}, {8, 11, 31, 2, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src()
			var r *rig
			notify := func() {
				for i, e := range tc.events {
					end := time.Time{}
					if e.end >= 0 {
						end = at(e.end)
					}
					r.rec.Notify(Event{ID: uint64(i + 1), Start: at(e.start)})
					if !end.IsZero() {
						r.rec.Notify(Event{ID: uint64(i + 1), Start: at(e.start), End: end})
					}
				}
			}
			if tc.late > 0 {
				lateFrame := int(math.Round(tc.late / src.interval.Seconds()))
				src.hook = func(i int) {
					if i == lateFrame {
						notify()
					}
				}
			}
			r = newRig(t, nil, storage.StoreConfig{}, tc.cfg, src)
			if tc.late == 0 {
				notify()
			}
			r.run(t)
			got := r.clips(t)
			if len(got) != len(tc.want) {
				for _, c := range got {
					t.Logf("clip %s %.3f..%.3f %d frames", c.info.Name, secs(c.meta.Start), secs(c.meta.End), c.meta.Frames)
				}
				t.Fatalf("%d clips, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				c := got[i]
				desc := fmt.Sprintf("clip %d (%s): %.3f..%.3f, %d frames, part %d, events %v", i, c.info.Name,
					secs(c.meta.Start), secs(c.meta.End), c.meta.Frames, c.meta.Part, c.meta.Events)
				if math.Abs(secs(c.meta.Start)-w.start) > 0.001 || math.Abs(secs(c.meta.End)-w.end) > 0.001 ||
					c.meta.Frames != w.frames || c.meta.Part != w.part || len(c.meta.Events) != w.events {
					t.Errorf("%s; want %.3f..%.3f, %d frames, part %d, %d events", desc, w.start, w.end, w.frames, w.part, w.events)
				}
			}
			st := r.rec.Status()
			if st.Frames != uint64(src.n) || st.DroppedBehind != 0 || st.BadFrames != 0 || st.SkippedRate != tc.skipped || st.Clip != "" {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// TestClockSteps: the capture clock steps back, then jumps ahead; each part
// of the stream is recorded in clips of its own and every clip is whole.
func TestClockSteps(t *testing.T) {
	src := mjpegSource(30, 10, 500)
	at := func(i int) time.Time {
		switch {
		case i < 100: // 0..9.9 s
			return base.Add(time.Duration(i) * 100 * time.Millisecond)
		case i < 200: // back to -50 s
			return base.Add(-50*time.Second + time.Duration(i-100)*100*time.Millisecond)
		default: // ahead to +100 s
			return base.Add(100*time.Second + time.Duration(i-200)*100*time.Millisecond)
		}
	}
	var r *rig
	// Events are reported as they happen, in the clock of their time.
	src.hook = func(i int) {
		switch i {
		case 50:
			r.rec.Notify(Event{ID: 1, Start: at(50)})
		case 99:
			r.rec.Notify(Event{ID: 1, Start: at(50), End: at(99)})
		case 120:
			r.rec.Notify(Event{ID: 2, Start: at(120)})
		case 190:
			r.rec.Notify(Event{ID: 2, Start: at(120), End: at(190)})
		case 220:
			r.rec.Notify(Event{ID: 3, Start: at(220)})
		case 240:
			r.rec.Notify(Event{ID: 3, Start: at(220), End: at(240)})
		}
	}
	r = newRig(t, nil, storage.StoreConfig{}, Config{PreRoll: time.Second, PostRoll: time.Second}, &retimed{src, at})
	r.run(t)
	clips := r.clips(t) // checks each clip is whole and none overlap
	var got []string
	for _, c := range clips {
		got = append(got, fmt.Sprintf("%.1f..%.1f", secs(c.meta.Start), secs(c.meta.End)))
	}
	want := "[-49.0..-40.1 4.0..9.9 101.0..105.0]"
	if fmt.Sprint(got) != want {
		t.Errorf("clips %v, want %s", got, want)
	}
	if st := r.rec.Status(); st.BadFrames != 0 || st.SkippedRate != 0 {
		t.Errorf("status %+v", st)
	}
}

// retimed gives frame i the time at(i).
type retimed struct {
	src *source
	at  func(i int) time.Time
}

func (r *retimed) Next(ctx context.Context) (*capture.Frame, error) {
	f, err := r.src.Next(ctx)
	if err == nil {
		f.Time = r.at(int(f.Seq))
	}
	return f, err
}
