package y4m

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
)

var headerTests = []struct {
	name   string
	in     string
	pix    capture.PixelFormat
	w, h   int
	fps    float64
	errIs  error  // nil: the header is accepted
	errHas string // text the error must contain
}{
	{"ffmpeg 420", "YUV4MPEG2 W4 H2 F30000:1001 It A0:0 C420mpeg2 XYSCSS=420MPEG2\n", capture.FormatNV12, 4, 2, 30000.0 / 1001, nil, ""},
	{"defaults", "YUV4MPEG2 W4 H2\n", capture.FormatNV12, 4, 2, 25, nil, ""},
	{"420jpeg", "YUV4MPEG2 W4 H2 F25:1 C420jpeg\n", capture.FormatNV12, 4, 2, 25, nil, ""},
	{"420paldv", "YUV4MPEG2 W4 H2 F50:2 C420paldv\n", capture.FormatNV12, 4, 2, 25, nil, ""},
	{"422", "YUV4MPEG2 W6 H3 F15:1 Ip C422\n", capture.FormatYUYV, 6, 3, 15, nil, ""},
	{"mono odd", "YUV4MPEG2 W3 H5 F10:1 Cmono\n", capture.FormatGREY, 3, 5, 10, nil, ""},
	{"extra spaces and unknown tags", "YUV4MPEG2  W4 H2  Zfoo Cmono \n", capture.FormatGREY, 4, 2, 25, nil, ""},
	{"max size", "YUV4MPEG2 W8192 H1 Cmono\n", capture.FormatGREY, 8192, 1, 25, nil, ""},
	{"444", "YUV4MPEG2 W4 H2 C444\n", 0, 0, 0, 0, ErrUnsupported, `"C444"`},
	{"10 bit", "YUV4MPEG2 W4 H2 C420p10\n", 0, 0, 0, 0, ErrUnsupported, `"C420p10"`},
	{"mono16", "YUV4MPEG2 W4 H2 Cmono16\n", 0, 0, 0, 0, ErrUnsupported, `"Cmono16"`},
	{"odd 420", "YUV4MPEG2 W3 H2 C420\n", 0, 0, 0, 0, ErrUnsupported, "even"},
	{"odd 422", "YUV4MPEG2 W3 H2 C422\n", 0, 0, 0, 0, ErrUnsupported, "even"},
	{"too wide", "YUV4MPEG2 W8193 H2\n", 0, 0, 0, 0, ErrBadHeader, "limit"},
	{"too high", "YUV4MPEG2 W2 H99999999999999999999\n", 0, 0, 0, 0, ErrBadHeader, "H"},
	{"zero width", "YUV4MPEG2 W0 H2\n", 0, 0, 0, 0, ErrBadHeader, "W0"},
	{"negative", "YUV4MPEG2 W-4 H2\n", 0, 0, 0, 0, ErrBadHeader, "W-4"},
	{"no height", "YUV4MPEG2 W4\n", 0, 0, 0, 0, ErrBadHeader, "missing"},
	{"wrong magic", "YUV4MPEG W4 H2\n", 0, 0, 0, 0, ErrBadHeader, "YUV4MPEG2"},
	{"glued tag", "YUV4MPEG2W4 H2\n", 0, 0, 0, 0, ErrBadHeader, "YUV4MPEG2"},
	{"zero rate", "YUV4MPEG2 W4 H2 F0:1\n", 0, 0, 0, 0, ErrBadHeader, "F0:1"},
	{"zero den", "YUV4MPEG2 W4 H2 F25:0\n", 0, 0, 0, 0, ErrBadHeader, "F25:0"},
	{"rate not ratio", "YUV4MPEG2 W4 H2 F25\n", 0, 0, 0, 0, ErrBadHeader, "F25"},
	{"huge rate", "YUV4MPEG2 W4 H2 F4294967296:1\n", 0, 0, 0, 0, ErrBadHeader, "F"},
	{"bad interlace", "YUV4MPEG2 W4 H2 Ix\n", 0, 0, 0, 0, ErrBadHeader, "Ix"},
	{"bad aspect", "YUV4MPEG2 W4 H2 A1:0\n", 0, 0, 0, 0, ErrBadHeader, "A1:0"},
	{"long line", "YUV4MPEG2 W4 H2 X" + strings.Repeat("x", MaxLine) + "\n", 0, 0, 0, 0, ErrBadHeader, "longer"},
	{"no newline", "YUV4MPEG2 W4 H2", 0, 0, 0, 0, ErrBadHeader, "ends"},
	{"empty", "", 0, 0, 0, 0, ErrBadHeader, "ends"},
}

func TestHeader(t *testing.T) {
	for _, tc := range headerTests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.in), ReaderOptions{Pool: 1})
			if tc.errIs != nil {
				if !errors.Is(err, tc.errIs) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.errIs, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := r.Format()
			if f.Pixel != tc.pix || f.Width != tc.w || f.Height != tc.h || f.FPS != tc.fps {
				t.Fatalf("format = %v, want %v %dx%d @ %v", f, tc.pix, tc.w, tc.h, tc.fps)
			}
			if _, err := r.Next(context.Background()); !errors.Is(err, io.EOF) {
				t.Fatalf("Next on an empty stream = %v, want io.EOF", err)
			}
		})
	}
}

// mono2x2 is the header of a tiny stream whose frames are 4 bytes.
const mono2x2 = "YUV4MPEG2 W2 H2 F25:1 Cmono\n"

// step is one expected Next result: a frame with these bytes, a bad frame, a
// clean end, or a fatal error.
type step struct {
	data  string
	bad   bool
	eof   bool
	fatal error
}

var frameTests = []struct {
	name  string
	in    string
	steps []step
}{
	{"two frames", mono2x2 + "FRAME\nabcdFRAME\nefgh", []step{{data: "abcd"}, {data: "efgh"}, {eof: true}, {eof: true}}},
	{"frame params", mono2x2 + "FRAME Ixyz XFOO=1\nabcdFRAME\nefgh", []step{{data: "abcd"}, {data: "efgh"}, {eof: true}}},
	{"truncated last frame", mono2x2 + "FRAME\nabcdFRAME\nef", []step{{data: "abcd"}, {bad: true}, {eof: true}}},
	{"marker only", mono2x2 + "FRAME\nabcdFRAME\n", []step{{data: "abcd"}, {bad: true}, {eof: true}}},
	{"cut marker", mono2x2 + "FRAME\nabcdFRA", []step{{data: "abcd"}, {bad: true}, {eof: true}}},
	{"cut frame line", mono2x2 + "FRAME\nabcdFRAME Ixx", []step{{data: "abcd"}, {bad: true}, {eof: true}}},
	{"bad marker", mono2x2 + "FRAMX\nabcdFRAME\nefgh", []step{{bad: true}, {data: "efgh"}, {eof: true}}},
	{"glued marker", mono2x2 + "FRAMEX\nabcdFRAME\nefgh", []step{{bad: true}, {data: "efgh"}, {eof: true}}},
	{"junk between frames", mono2x2 + "FRAME\nabcdjunkFRAME\nefgh", []step{{data: "abcd"}, {bad: true}, {data: "efgh"}, {eof: true}}},
	{"marker after F", mono2x2 + "FRAME\nabcdFFRAME\nefgh", []step{{data: "abcd"}, {bad: true}, {data: "efgh"}, {eof: true}}},
	{"long frame line", mono2x2 + "FRAME " + strings.Repeat("x", MaxLine) + "\nabcdFRAME\nefgh", []step{{bad: true}, {data: "efgh"}, {eof: true}}},
	{"junk to the end", mono2x2 + "FRAME\nabcdjunk", []step{{data: "abcd"}, {bad: true}, {eof: true}}},
	{"lost sync", mono2x2 + "FRAME\nabcdjunk" + strings.Repeat("z", 3000) + "FRAME\nefgh", []step{{data: "abcd"}, {bad: true}, {fatal: ErrLostSync}}},
	{"header only", mono2x2, []step{{eof: true}}},
}

func runSteps(t *testing.T, r *Reader, steps []step) {
	t.Helper()
	ctx := context.Background()
	for i, want := range steps {
		f, err := r.Next(ctx)
		switch {
		case want.eof:
			if err != io.EOF {
				t.Fatalf("step %d: Next = %v, want io.EOF", i, err)
			}
		case want.bad:
			if !errors.Is(err, capture.ErrBadFrame) {
				t.Fatalf("step %d: Next = %v, want ErrBadFrame", i, err)
			}
		case want.fatal != nil:
			if !errors.Is(err, want.fatal) || errors.Is(err, capture.ErrBadFrame) {
				t.Fatalf("step %d: Next = %v, want %v", i, err, want.fatal)
			}
		default:
			if err != nil {
				t.Fatalf("step %d: Next: %v", i, err)
			}
			if string(f.Data) != want.data {
				t.Fatalf("step %d: data %q, want %q", i, f.Data, want.data)
			}
			f.Release()
		}
	}
}

func TestFrames(t *testing.T) {
	for _, tc := range frameTests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.in), ReaderOptions{Pool: 1})
			if err != nil {
				t.Fatal(err)
			}
			runSteps(t, r, tc.steps)
			bad := 0
			for _, s := range tc.steps {
				if s.bad {
					bad++
				}
			}
			if r.Skipped() != uint64(bad) {
				t.Fatalf("Skipped = %d, want %d", r.Skipped(), bad)
			}
		})
	}
}

func TestSeqAndTime(t *testing.T) {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	in := "YUV4MPEG2 W2 H2 F30000:1001 Cmono\n" + "FRAME\nabcd" + "FRAMX\nabcd" + "FRAME\nabcd"
	r, err := NewReader(strings.NewReader(in), ReaderOptions{Start: start})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f0, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, capture.ErrBadFrame) {
		t.Fatalf("want a bad frame, got %v", err)
	}
	f2, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The skipped frame keeps its number and time slot.
	if f0.Seq != 0 || f2.Seq != 2 {
		t.Fatalf("seq %d, %d; want 0, 2", f0.Seq, f2.Seq)
	}
	if !f0.Time.Equal(start) || f2.Time.Sub(start) != 2002*time.Millisecond/30 {
		t.Fatalf("times %v, %v", f0.Time, f2.Time)
	}
	if f2.Format != r.Format() {
		t.Fatalf("frame format %v, want %v", f2.Format, r.Format())
	}
}

func TestFrameOffset(t *testing.T) {
	for _, tc := range []struct {
		seq      uint64
		num, den int
		want     time.Duration
	}{
		{0, 25, 1, 0},
		{1, 25, 1, 40 * time.Millisecond},
		{3, 30000, 1001, 100100 * time.Microsecond},
		{1 << 30, 25, 1, (1 << 30) * 40 * time.Millisecond},
		{1 << 40, 25, 1, 1<<63 - 1},
		{1 << 62, 1, maxRate, 1<<63 - 1},
	} {
		if got := frameOffset(tc.seq, tc.num, tc.den); got != tc.want {
			t.Errorf("frameOffset(%d, %d, %d) = %v, want %v", tc.seq, tc.num, tc.den, got, tc.want)
		}
	}
}

func TestLoop(t *testing.T) {
	in := mono2x2 + "FRAME\nabcdFRAME\nefghFRAME\nij"
	prefix := "some bytes before the stream"
	rs := strings.NewReader(prefix + in)
	if _, err := rs.Seek(int64(len(prefix)), io.SeekStart); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(rs, ReaderOptions{Loop: true, Pool: 2})
	if err != nil {
		t.Fatal(err)
	}
	runSteps(t, r, []step{{data: "abcd"}, {data: "efgh"}, {bad: true}, {data: "abcd"}, {data: "efgh"}, {bad: true}, {data: "abcd"}})

	if _, err := NewReader(io.MultiReader(strings.NewReader(in)), ReaderOptions{Loop: true}); err == nil {
		t.Fatal("Loop over a plain io.Reader accepted")
	}
	for _, in := range []string{mono2x2, mono2x2 + "FRAME\nab", mono2x2 + "garbage"} {
		r, err := NewReader(strings.NewReader(in), ReaderOptions{Loop: true})
		if err != nil {
			t.Fatal(err)
		}
		var got []error
		for range 4 {
			_, err := r.Next(context.Background())
			got = append(got, err)
			if err == io.EOF {
				break
			}
		}
		if got[len(got)-1] != io.EOF {
			t.Fatalf("%q: a loop over no good frame did not end: %v", in, got)
		}
	}
}

func TestPoolEmpty(t *testing.T) {
	r, err := NewReader(strings.NewReader(mono2x2+"FRAME\nabcdFRAME\nefgh"), ReaderOptions{Pool: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := r.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(ctx); !errors.Is(err, capture.ErrPoolEmpty) {
		t.Fatalf("Next with the pool held = %v, want ErrPoolEmpty", err)
	}
	f.Release()
	runSteps(t, r, []step{{data: "efgh"}, {eof: true}})
}

type closeRecorder struct {
	io.Reader
	closed int
}

func (c *closeRecorder) Close() error { c.closed++; return nil }

func TestCloseAndContext(t *testing.T) {
	src := &closeRecorder{Reader: strings.NewReader(mono2x2 + "FRAME\nabcd")}
	r, err := NewReader(src, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled ctx = %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if src.closed != 1 {
		t.Fatalf("underlying Close called %d times, want 1", src.closed)
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
}

// pattern fills a frame of f with bytes that depend on position and seq.
func pattern(f capture.Format, seq int) []byte {
	b := make([]byte, f.FrameSize())
	for i := range b {
		b[i] = byte(i*7 + seq*13 + i/(f.Width+1))
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []capture.Format{
		{Pixel: capture.FormatGREY, Width: 5, Height: 3, FPS: 12.5},
		{Pixel: capture.FormatNV12, Width: 6, Height: 4, FPS: 30000.0 / 1001},
		{Pixel: capture.FormatYUYV, Width: 4, Height: 3, FPS: 25},
	} {
		t.Run(f.Pixel.String(), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, f)
			if err != nil {
				t.Fatal(err)
			}
			pool := capture.NewPool(1, f.FrameSize())
			var want [][]byte
			for seq := range 3 {
				fr, _ := pool.Get()
				fr.Format = f
				if err := fr.Fill(pattern(f, seq)); err != nil {
					t.Fatal(err)
				}
				want = append(want, bytes.Clone(fr.Data))
				if err := w.WriteFrame(fr); err != nil {
					t.Fatal(err)
				}
				fr.Release()
			}
			r, err := NewReader(&buf, ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Format(); got.Pixel != f.Pixel || got.Width != f.Width || got.Height != f.Height || got.FPS != f.FPS {
				t.Fatalf("format %v, want %v", got, f)
			}
			for seq := range 3 {
				fr, err := r.Next(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(fr.Data, want[seq]) {
					t.Fatalf("frame %d differs after the round trip", seq)
				}
				fr.Release()
			}
			if _, err := r.Next(context.Background()); err != io.EOF {
				t.Fatalf("after the last frame: %v", err)
			}
		})
	}
}

func TestWriterStride(t *testing.T) {
	for _, tc := range []struct {
		pix    capture.PixelFormat
		w, h   int
		stride int
	}{
		{capture.FormatGREY, 3, 2, 8},
		{capture.FormatNV12, 4, 4, 6},
		{capture.FormatYUYV, 2, 3, 8},
	} {
		t.Run(tc.pix.String(), func(t *testing.T) {
			packed := capture.Format{Pixel: tc.pix, Width: tc.w, Height: tc.h}
			padded := packed
			padded.Stride = tc.stride
			src := pattern(packed, 1)
			// Lay src out with the padded stride, 0xEE in the padding.
			data := bytes.Repeat([]byte{0xEE}, padded.FrameSize())
			bpp := 1
			if tc.pix == capture.FormatYUYV {
				bpp = 2
			}
			lines := tc.h
			if tc.pix == capture.FormatNV12 {
				lines = tc.h * 3 / 2
			}
			for y := range lines {
				copy(data[y*tc.stride:], src[y*tc.w*bpp:(y+1)*tc.w*bpp])
			}
			var buf bytes.Buffer
			w, err := NewWriter(&buf, packed)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteFrame(&capture.Frame{Format: padded, Data: data}); err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(&buf, ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			fr, err := r.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(fr.Data, src) {
				t.Fatalf("got %v, want %v", fr.Data, src)
			}
		})
	}
}

func TestWriterErrors(t *testing.T) {
	grey := capture.Format{Pixel: capture.FormatGREY, Width: 4, Height: 2}
	for _, f := range []capture.Format{
		{Pixel: capture.FormatMJPEG, Width: 4, Height: 2},
		{Pixel: capture.FormatNV12, Width: 3, Height: 2},
		{Pixel: capture.FormatYUYV, Width: 3, Height: 2},
		{Pixel: capture.FormatGREY, Width: 0, Height: 2},
		{Pixel: capture.FormatGREY, Width: 4, Height: MaxDimension + 1},
		{Pixel: capture.FormatGREY, Width: 4, Height: 2, FPS: -1},
	} {
		if _, err := NewWriter(io.Discard, f); !errors.Is(err, ErrFormat) {
			t.Errorf("NewWriter(%v) = %v, want ErrFormat", f, err)
		}
	}
	w, err := NewWriter(io.Discard, grey)
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range []*capture.Frame{
		{Format: capture.Format{Pixel: capture.FormatNV12, Width: 4, Height: 2}, Data: make([]byte, 12)},
		{Format: capture.Format{Pixel: capture.FormatGREY, Width: 4, Height: 4}, Data: make([]byte, 16)},
		{Format: grey, Data: make([]byte, 7)},
		{Format: capture.Format{Pixel: capture.FormatGREY, Width: 4, Height: 2, Stride: 3}, Data: make([]byte, 8)},
	} {
		if err := w.WriteFrame(fr); !errors.Is(err, ErrFormat) {
			t.Errorf("WriteFrame(%v, %d bytes) = %v, want ErrFormat", fr.Format, len(fr.Data), err)
		}
	}
	failing := errors.New("disk full")
	if _, err := NewWriter(errWriter{failing}, grey); !errors.Is(err, failing) {
		t.Errorf("NewWriter on a failing writer = %v", err)
	}
}

type errWriter struct{ err error }

func (e errWriter) Write([]byte) (int, error) { return 0, e.err }

func TestRational(t *testing.T) {
	for _, tc := range []struct {
		fps      float64
		num, den int
	}{
		{25, 25, 1}, {0, 25, 1}, {12.5, 25, 2}, {30000.0 / 1001, 30000, 1001},
		{24000.0 / 1001, 24000, 1001}, {29.97, 2997, 100}, {1e12, maxRate, 1000},
	} {
		if n, d := rational(tc.fps); n != tc.num || d != tc.den {
			t.Errorf("rational(%v) = %d:%d, want %d:%d", tc.fps, n, d, tc.num, tc.den)
		}
	}
}

// planar converts a frame the Reader returned back to the Y4M planar layout.
func planar(f *capture.Frame) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f.Format)
	if err != nil {
		panic(err)
	}
	if err := w.WriteFrame(f); err != nil {
		panic(err)
	}
	_, body, _ := bytes.Cut(buf.Bytes(), []byte("FRAME\n"))
	return body
}

// TestFFmpegFixtures reads files ffmpeg wrote (testdata/ffmpeg_*.y4m, made by
// `ffmpeg -f lavfi -i testsrc=size=32x24:rate=30000/1001 -frames:v 3 -pix_fmt P`)
// and compares each frame with ffmpeg's own raw decoding (ffmpeg_*.yuv).
func TestFFmpegFixtures(t *testing.T) {
	for _, tc := range []struct {
		name string
		pix  capture.PixelFormat
	}{{"420", capture.FormatNV12}, {"422", capture.FormatYUYV}, {"mono", capture.FormatGREY}} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "ffmpeg_"+tc.name+".yuv"))
			if err != nil {
				t.Fatal(err)
			}
			fh, err := os.Open(filepath.Join("testdata", "ffmpeg_"+tc.name+".y4m"))
			if err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(fh, ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if f := r.Format(); f.Pixel != tc.pix || f.Width != 32 || f.Height != 24 || f.FPS != 30000.0/1001 {
				t.Fatalf("format %v", f)
			}
			frames := 0
			for ; ; frames++ {
				f, err := r.Next(context.Background())
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				p := planar(f)
				if !bytes.Equal(p, raw[frames*len(p):(frames+1)*len(p)]) {
					t.Fatalf("frame %d differs from ffmpeg's decoding", frames)
				}
				f.Release()
			}
			if frames != 3 {
				t.Fatalf("%d frames, want 3", frames)
			}
		})
	}
}

// TestFFmpegReadsWriter checks that ffmpeg decodes what Writer writes to the
// same pixels; it is skipped when ffmpeg is not installed.
func TestFFmpegReadsWriter(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not installed")
	}
	for _, tc := range []struct {
		f       capture.Format
		pixFmt  string
		ffprobe string
	}{
		{capture.Format{Pixel: capture.FormatGREY, Width: 16, Height: 8, FPS: 25}, "gray", "16,8,gray,25/1,3"},
		{capture.Format{Pixel: capture.FormatNV12, Width: 16, Height: 8, FPS: 30000.0 / 1001}, "yuv420p", "16,8,yuv420p,30000/1001,3"},
		{capture.Format{Pixel: capture.FormatYUYV, Width: 16, Height: 8, FPS: 12.5}, "yuv422p", "16,8,yuv422p,25/2,3"},
	} {
		t.Run(tc.f.Pixel.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.y4m")
			fh, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w, err := NewWriter(fh, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for seq := range 3 {
				fr := &capture.Frame{Format: tc.f, Data: pattern(tc.f, seq)}
				if err := w.WriteFrame(fr); err != nil {
					t.Fatal(err)
				}
				want = append(want, planar(fr)...)
			}
			if err := fh.Close(); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
				"-show_entries", "stream=width,height,pix_fmt,r_frame_rate,nb_read_frames",
				"-of", "csv=p=0", path).CombinedOutput()
			if err != nil {
				t.Fatalf("ffprobe: %v\n%s", err, out)
			}
			if got := strings.TrimSpace(string(out)); got != tc.ffprobe {
				t.Fatalf("ffprobe says %q, want %q", got, tc.ffprobe)
			}
			raw, err := exec.Command(ffmpeg, "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", tc.pixFmt, "-").Output()
			if err != nil {
				t.Fatalf("ffmpeg: %v", err)
			}
			if !bytes.Equal(raw, want) {
				t.Fatalf("ffmpeg decoded %d bytes that differ from the %d written", len(raw), len(want))
			}
		})
	}
}

// FuzzReader feeds arbitrary streams to the Reader: it must never panic, never
// return a frame of the wrong size, and stop within a bounded number of calls.
func FuzzReader(f *testing.F) {
	for _, tc := range headerTests {
		f.Add([]byte(tc.in), false)
	}
	for _, tc := range frameTests {
		f.Add([]byte(tc.in), false)
		f.Add([]byte(tc.in), true)
	}
	for _, name := range []string{"420", "422", "mono"} {
		b, err := os.ReadFile(filepath.Join("testdata", "ffmpeg_"+name+".y4m"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Fuzz(func(t *testing.T, in []byte, loop bool) {
		r, err := NewReader(bytes.NewReader(in), ReaderOptions{Loop: loop, Pool: 2, MaxWidth: 64, MaxHeight: 64})
		if err != nil {
			if !errors.Is(err, ErrBadHeader) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("header error without a sentinel: %v", err)
			}
			return
		}
		size := r.Format().FrameSize()
		for range 20 {
			fr, err := r.Next(context.Background())
			if err != nil {
				if errors.Is(err, capture.ErrBadFrame) {
					continue
				}
				return
			}
			if len(fr.Data) != size {
				t.Fatalf("frame of %d bytes, want %d", len(fr.Data), size)
			}
			fr.Release()
		}
	})
}

func benchReader(b *testing.B, pix capture.PixelFormat) {
	f := capture.Format{Pixel: pix, Width: 640, Height: 480, FPS: 25}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f)
	if err != nil {
		b.Fatal(err)
	}
	for seq := range 4 {
		if err := w.WriteFrame(&capture.Frame{Format: f, Data: pattern(f, seq)}); err != nil {
			b.Fatal(err)
		}
	}
	r, err := NewReader(bytes.NewReader(buf.Bytes()), ReaderOptions{Loop: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(int64(f.FrameSize()))
	b.ReportAllocs()
	for b.Loop() {
		fr, err := r.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fr.Release()
	}
}

func BenchmarkReader(b *testing.B) {
	for _, pix := range []capture.PixelFormat{capture.FormatGREY, capture.FormatNV12, capture.FormatYUYV} {
		b.Run(fmt.Sprint(pix), func(b *testing.B) { benchReader(b, pix) })
	}
}

func BenchmarkWriter(b *testing.B) {
	for _, pix := range []capture.PixelFormat{capture.FormatGREY, capture.FormatNV12, capture.FormatYUYV} {
		b.Run(fmt.Sprint(pix), func(b *testing.B) {
			f := capture.Format{Pixel: pix, Width: 640, Height: 480, FPS: 25}
			w, err := NewWriter(io.Discard, f)
			if err != nil {
				b.Fatal(err)
			}
			fr := &capture.Frame{Format: f, Data: pattern(f, 0)}
			b.SetBytes(int64(f.FrameSize()))
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WriteFrame(fr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
