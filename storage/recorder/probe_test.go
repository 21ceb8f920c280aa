package recorder

import (
	"bytes"
	"context"
	"image/jpeg"
	"os"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/fmp4/fmp4test"
	"github.com/camagent/camagent/storage/jpegframe"
)

// rawScene fills a frame of a picture with a moving bright square: luma
// gradient background, the square at a place that depends on i.
func rawScene(f capture.Format) func(i int, b []byte) int {
	return func(i int, b []byte) int {
		w, h := f.Width, f.Height
		sq, sx, sy := w/8, (i*13)%(w-w/8), (i*7)%(h-h/8)
		luma := func(x, y int) byte {
			if x >= sx && x < sx+sq && y >= sy && y < sy+sq {
				return 235
			}
			return byte(30 + (x+y)*150/(w+h))
		}
		switch f.Pixel {
		case capture.FormatYUYV:
			for y := range h {
				row := b[y*2*w:]
				for x := 0; x < w; x += 2 {
					row[2*x], row[2*x+1], row[2*x+2], row[2*x+3] = luma(x, y), 110, luma(x+1, y), 150
				}
			}
			return 2 * w * h
		case capture.FormatNV12:
			for y := range h {
				for x := range w {
					b[y*w+x] = luma(x, y)
				}
			}
			for k := w * h; k < w*h*3/2; k += 2 {
				b[k], b[k+1] = 110, 150
			}
			return w * h * 3 / 2
		default:
			for y := range h {
				for x := range w {
					b[y*w+x] = luma(x, y)
				}
			}
			return w * h
		}
	}
}

// peaked wraps a source to offer every frame to Peak with a score that is
// highest at frame peak.
type peaked struct {
	*source
	rec  *Recorder
	peak int
}

func (p *peaked) Next(ctx context.Context) (*capture.Frame, error) {
	f, err := p.source.Next(ctx)
	if err == nil && p.rec != nil {
		d := float64(int(f.Seq) - p.peak)
		p.rec.Peak(f, 100-d*d, 2)
	}
	return f, err
}

func TestRawClipsProbe(t *testing.T) {
	for _, tc := range []struct {
		pix  capture.PixelFormat
		w, h int
	}{
		{capture.FormatYUYV, 640, 480},
		{capture.FormatNV12, 320, 240},
		{capture.FormatGREY, 320, 240},
	} {
		t.Run(tc.pix.String(), func(t *testing.T) {
			f := capture.Format{Pixel: tc.pix, Width: tc.w, Height: tc.h, FPS: 10}
			src := &peaked{source: &source{n: 60, interval: 100 * time.Millisecond, format: f, fill: rawScene(f)}, peak: 25}
			r := newRig(t, nil, storage.StoreConfig{}, Config{PreRoll: time.Second, PostRoll: time.Second}, src)
			src.rec = r.rec
			r.rec.Notify(Event{ID: 7, Start: at(2), End: at(3)})
			r.run(t)
			clips := r.clips(t)
			if len(clips) != 1 {
				t.Fatalf("%d clips", len(clips))
			}
			c := clips[0]
			p := ffprobe(t, c.info.Path)
			checkProbe(t, p, "mjpeg", tc.w, tc.h, 31, 3100*time.Millisecond)
			ffmpegDecode(t, c.info.Path)
			// The thumbnail is the peak frame (2.5 s), scaled to 320 wide
			// (a YUYV frame twice that wide is kept at half size first).
			thumb, err := os.ReadFile(c.info.Thumbnail)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, f.FrameSize())
			var th jpegframe.Thumbnailer
			var want bytes.Buffer
			th.Width, th.Quality = 320, 80
			pf, pic := f, buf[:rawScene(f)(25, buf)]
			if halvable(f, len(pic), 320) {
				pf = capture.Format{Pixel: capture.FormatYUYV, Width: f.Width / 2, Height: f.Height / 2}
				half := make([]byte, pf.FrameSize())
				halveYUYV(half, pic, f)
				pic = half
			}
			if err := th.FromFrame(&want, pf, pic); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(thumb, want.Bytes()) {
				t.Error("thumbnail is not the peak frame's")
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb))
			if err != nil || cfg.Width != 320 || cfg.Height != 320*tc.h/tc.w {
				t.Errorf("thumbnail %dx%d, %v", cfg.Width, cfg.Height, err)
			}
			if !c.meta.PeakTime.Equal(at(2.5)) || c.meta.PeakScore != 100 || c.meta.PeakBoxes != 2 {
				t.Errorf("peak %v score %v boxes %d", c.meta.PeakTime, c.meta.PeakScore, c.meta.PeakBoxes)
			}
			if st := r.rec.Status(); st.Encoded != 60 || st.Recorded != 31 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func TestThumbnailWithoutPeak(t *testing.T) {
	f := capture.Format{Pixel: capture.FormatYUYV, Width: 320, Height: 240, FPS: 10}
	src := &source{n: 40, interval: 100 * time.Millisecond, format: f, fill: rawScene(f)}
	r := newRig(t, nil, storage.StoreConfig{}, Config{PreRoll: time.Second, PostRoll: time.Second}, src)
	r.rec.Notify(Event{ID: 1, Start: at(2), End: at(2.5)})
	r.run(t)
	clips := r.clips(t)
	if len(clips) != 1 || clips[0].info.Thumbnail == "" || clips[0].meta.PeakScore != 0 {
		t.Fatalf("clips %+v", clips)
	}
	thumb, _ := os.ReadFile(clips[0].info.Thumbnail)
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb)); err != nil || cfg.Width != 320 {
		t.Errorf("fallback thumbnail: %v %v", cfg, err)
	}
}

func TestH264ClipProbes(t *testing.T) {
	stream := h264Fixture(t, "320x240", 80)
	aus := splitAUD(t, stream)
	if len(aus) != 80 {
		t.Fatalf("%d access units, want 80", len(aus))
	}
	src := &source{n: len(aus), interval: 100 * time.Millisecond,
		format: capture.Format{Pixel: capture.FormatH264, Width: 320, Height: 240, FPS: 10},
		fill:   func(i int, b []byte) int { return copy(b, aus[i]) }}
	r := newRig(t, nil, storage.StoreConfig{}, Config{PreRoll: 1500 * time.Millisecond, PostRoll: time.Second}, src)
	r.rec.Notify(Event{ID: 3, Start: at(3), End: at(4)})
	r.run(t)
	clips := r.clips(t)
	if len(clips) != 1 {
		t.Fatalf("%d clips", len(clips))
	}
	if secs(clips[0].meta.Start) != 1 || clips[0].info.Thumbnail != "" {
		t.Errorf("clip starts at %v (want 1 s, the keyframe before the pre-roll), thumbnail %q", secs(clips[0].meta.Start), clips[0].info.Thumbnail)
	}
	p := ffprobe(t, clips[0].info.Path)
	checkProbe(t, p, "h264", 320, 240, 41, 4100*time.Millisecond)
	ffmpegDecode(t, clips[0].info.Path)
}

// splitAUD cuts an Annex B stream into access units at its access unit
// delimiters.
func splitAUD(t *testing.T, s []byte) [][]byte {
	t.Helper()
	var starts []int
	for i := 0; i+4 < len(s); i++ {
		if s[i] == 0 && s[i+1] == 0 && s[i+2] == 1 && s[i+3]&0x1f == 9 {
			j := i
			if j > 0 && s[j-1] == 0 {
				j--
			}
			starts = append(starts, j)
		}
	}
	var aus [][]byte
	for k, st := range starts {
		end := len(s)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		aus = append(aus, s[st:end])
	}
	return aus
}

type probe = fmp4test.Probe

func needTool(t testing.TB, name string) string { t.Helper(); return fmp4test.NeedTool(t, name) }

func ffprobe(t testing.TB, path string) probe { t.Helper(); return fmp4test.ProbeFile(t, path) }

func ffmpegDecode(t testing.TB, path string) { t.Helper(); fmp4test.Decode(t, path) }

func checkProbe(t testing.TB, p probe, codec string, w, h, frames int, dur time.Duration) {
	t.Helper()
	fmp4test.Check(t, p, codec, w, h, frames, dur, 100*time.Millisecond)
}

// h264Fixture encodes a test pattern at 10 fps with a keyframe every 10
// frames and access unit delimiters.
func h264Fixture(t testing.TB, size string, frames int) []byte {
	t.Helper()
	return fmp4test.H264Fixture(t, size, frames, "-sc_threshold", "0", "-bsf:v", "h264_metadata=aud=insert")
}
