package synth

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/y4m"
)

// TestWriteScene writes short scenes in each format and reads them back: the
// video through the y4m Reader, the truth through ReadTruth, both compared
// with a fresh Source.
func TestWriteScene(t *testing.T) {
	for _, pix := range []capture.PixelFormat{capture.FormatYUYV, capture.FormatNV12, capture.FormatGREY} {
		t.Run(pix.String(), func(t *testing.T) {
			cfg := Config{Scene: Foliage, Width: 64, Height: 48, FPS: 5, Format: pix, Seed: 3}
			dir := t.TempDir()
			vp, tp, err := WriteScene(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(vp) != "foliage-64x48-"+pix.String()+"-seed3.y4m" || filepath.Dir(tp) != dir {
				t.Fatalf("paths %s, %s", vp, tp)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(left) > 0 {
				t.Fatalf("temporary files left: %v", left)
			}
			want, frames := render(t, cfg)

			tf, err := ReadTruth(tp)
			if err != nil {
				t.Fatal(err)
			}
			if tf.Format != TruthFormat || tf.Video != filepath.Base(vp) || tf.Scene != Foliage || tf.Width != 64 ||
				tf.Height != 48 || tf.FPS != 5 || tf.Frames != len(frames) || tf.Seed != 3 ||
				!slices.Equal(tf.Spans, want.Spans()) || len(tf.Zones) != 1 || !slices.Equal(tf.Zones[0], want.ExcludeZones()[0]) {
				t.Fatalf("header %+v", tf.TruthHeader)
			}

			fh, err := os.Open(vp)
			if err != nil {
				t.Fatal(err)
			}
			r, err := y4m.NewReader(fh, y4m.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if f := r.Format(); f != want.Format() {
				t.Fatalf("file format %v, source format %v", f, want.Format())
			}
			for i := range frames {
				f, err := r.Next(context.Background())
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !bytes.Equal(f.Data, frames[i].data) {
					t.Fatalf("frame %d: file and source differ", i)
				}
				f.Release()
				tr, err := tf.Truth(i)
				if err != nil {
					t.Fatal(err)
				}
				if tr.Frame != i || tr.Motion != frames[i].motion || !bytes.Equal(tr.Mask, frames[i].mask) {
					t.Fatalf("frame %d: truth file and source differ", i)
				}
			}
			if _, err := r.Next(context.Background()); err != io.EOF {
				t.Fatalf("after the last frame: %v", err)
			}
			if _, err := tf.Truth(len(frames)); err == nil {
				t.Fatal("truth past the end")
			}
		})
	}
	if _, _, err := WriteScene(filepath.Join(t.TempDir(), "missing"), Config{Scene: Static, Frames: 2}); err == nil {
		t.Fatal("WriteScene into a missing directory succeeded")
	}
}

// TestFFprobe checks that ffprobe reads a written scene: size, pixel format,
// rate and frame count. It is skipped when ffprobe is not installed.
func TestFFprobe(t *testing.T) {
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not installed")
	}
	for _, tc := range []struct {
		pix  capture.PixelFormat
		want string
	}{
		{capture.FormatYUYV, "160,120,yuv422p,25/1,50"},
		{capture.FormatNV12, "160,120,yuv420p,25/1,50"},
		{capture.FormatGREY, "160,120,gray,25/1,50"},
	} {
		vp, _, err := WriteScene(t.TempDir(), Config{Scene: Objects, Width: 160, Height: 120, Frames: 50, Format: tc.pix})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
			"-show_entries", "stream=width,height,pix_fmt,r_frame_rate,nb_read_frames", "-of", "csv=p=0", vp).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe: %v\n%s", err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("%v: ffprobe says %q, want %q", tc.pix, got, tc.want)
		}
	}
}

// smallTruth returns a valid truth file of a short foliage run.
func smallTruth(t testing.TB) []byte {
	t.Helper()
	_, tp, err := WriteScene(t.TempDir(), Config{Scene: Objects, Width: 64, Height: 48, FPS: 2, Frames: 12, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(tp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// record builds one truth record by hand.
func record(flags byte, runs ...uint64) []byte {
	body := []byte{flags}
	for i := 0; i+1 < len(runs); i += 2 {
		body = append(body, byte(runs[i]))
		body = binary.AppendUvarint(body, runs[i+1])
	}
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

const hdr2x2 = `{"format":"camagent-truth/1","width":2,"height":2,"fps":25,"frames":2,"spans":[{"first":1,"last":1}],"zones":[]}` + "\n"

var truthTests = []struct {
	name string
	in   string
	err  string // "" for a valid file
}{
	{"valid", hdr2x2 + string(record(0, 0, 4)) + string(record(1, 0, 1, 255, 2, 170, 1)), ""},
	{"no newline", strings.TrimSuffix(hdr2x2, "\n"), "header"},
	{"not json", "hello\n", "header"},
	{"wrong format", strings.Replace(hdr2x2, "truth/1", "truth/2", 1), "format"},
	{"too big", strings.Replace(hdr2x2, `"width":2`, `"width":9000`, 1), "size"},
	{"negative frames", strings.Replace(hdr2x2, `"frames":2`, `"frames":-1`, 1), "frames"},
	{"no fps", strings.Replace(hdr2x2, `"fps":25`, `"fps":0`, 1), "fps"},
	{"zone point", strings.Replace(hdr2x2, `"zones":[]`, `"zones":[[[0,0],[1,0],[2,1]]]`, 1), "zone"},
	{"short zone", strings.Replace(hdr2x2, `"zones":[]`, `"zones":[[[0,0],[1,0]]]`, 1), "zone"},
	{"missing frame", hdr2x2 + string(record(0, 0, 4)), "frame 1"},
	{"cut record", hdr2x2 + string(record(0, 0, 4)) + string(record(1, 0, 1, 255, 3))[:3], "frame 1"},
	{"short runs", hdr2x2 + string(record(0, 0, 3)) + string(record(1, 255, 4)), "cover"},
	{"long runs", hdr2x2 + string(record(0, 0, 5)) + string(record(1, 255, 4)), "exceed"},
	{"zero run", hdr2x2 + string(record(0, 0, 0, 0, 4)) + string(record(1, 255, 4)), "run"},
	{"bad value", hdr2x2 + string(record(0, 7, 4)) + string(record(1, 255, 4)), "value"},
	{"bad flags", hdr2x2 + string(record(2, 0, 4)) + string(record(1, 255, 4)), "flags"},
	{"huge record", hdr2x2 + "\xff\xff\xff\x0f", "record"},
	{"trailing bytes", hdr2x2 + string(record(0, 0, 4)) + string(record(1, 255, 4)) + "x", "after"},
	{"span without motion", hdr2x2 + string(record(0, 0, 4)) + string(record(0, 0, 4)), "span"},
	{"motion without span", hdr2x2 + string(record(1, 255, 4)) + string(record(1, 255, 4)), "span"},
	{"long header", `{"format":"` + strings.Repeat("x", maxTruthHeader) + "\"}\n", "longer"},
}

func TestParseTruth(t *testing.T) {
	for _, tc := range truthTests {
		t.Run(tc.name, func(t *testing.T) {
			tf, err := ParseTruth(strings.NewReader(tc.in))
			if tc.err != "" {
				if !errors.Is(err, ErrTruth) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrTruth about %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr, err := tf.Truth(1)
			if err != nil {
				t.Fatal(err)
			}
			if !tr.Motion || !bytes.Equal(tr.Mask, []byte{0, 255, 255, 170}) {
				t.Fatalf("frame 1: %+v", tr)
			}
			if tr, _ := tf.Truth(0); tr.Motion || !bytes.Equal(tr.Mask, []byte{0, 0, 0, 0}) {
				t.Fatalf("frame 0: %+v", tr)
			}
		})
	}
	if _, err := ParseTruth(bytes.NewReader(smallTruth(t))); err != nil {
		t.Fatalf("a written file: %v", err)
	}
	if _, err := ReadTruth(filepath.Join(t.TempDir(), "none.truth")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadTruth of a missing file = %v", err)
	}
}

// FuzzParseTruth checks that no input makes ParseTruth panic, and that an
// accepted file decodes every frame.
func FuzzParseTruth(f *testing.F) {
	for _, tc := range truthTests {
		f.Add([]byte(tc.in))
	}
	f.Add(smallTruth(f))
	f.Fuzz(func(t *testing.T, in []byte) {
		tf, err := ParseTruth(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrTruth) {
				t.Fatalf("error without ErrTruth: %v", err)
			}
			return
		}
		if tf.Width*tf.Height > 1<<16 {
			return // decoding is fine, but would only cost the fuzzer memory
		}
		for i := range tf.Frames {
			tr, err := tf.Truth(i)
			if err != nil {
				t.Fatal(err)
			}
			if len(tr.Mask) != tf.Width*tf.Height {
				t.Fatalf("mask of %d bytes", len(tr.Mask))
			}
		}
	})
}
