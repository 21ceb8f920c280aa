package fmp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func bytesReaderAt(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func scanBytes(t testing.TB, b []byte) Report {
	t.Helper()
	rep, err := Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return rep
}

// checkReport checks the invariants every report keeps.
func checkReport(t testing.TB, rep Report, size int64) {
	t.Helper()
	if rep.ValidSize < 0 || rep.ValidSize > size || rep.ValidSize+rep.Trailing != size {
		t.Fatalf("valid %d + trailing %d != size %d", rep.ValidSize, rep.Trailing, size)
	}
	if rep.InitSize == 0 && (len(rep.Fragments) > 0 || rep.ValidSize != 0 || rep.Stop == nil) {
		t.Fatalf("no init segment, yet %d fragments, valid size %d, stop %v", len(rep.Fragments), rep.ValidSize, rep.Stop)
	}
	end := rep.InitSize
	for i, f := range rep.Fragments {
		if f.Offset < end || f.Size <= 0 || f.End() > rep.ValidSize || f.Samples <= 0 {
			t.Fatalf("fragment %d %+v out of place (previous end %d, valid %d)", i, f, end, rep.ValidSize)
		}
		end = f.End()
	}
	if len(rep.Fragments) > 0 && end != rep.ValidSize {
		t.Fatalf("last fragment ends at %d, valid size %d", end, rep.ValidSize)
	}
	if rep.Stop == nil && rep.InitSize == 0 {
		t.Fatal("no stop reason for an invalid file")
	}
}

func TestScanWhole(t *testing.T) {
	tests := []struct {
		name  string
		clip  []byte
		track TrackInfo
	}{
		{"mjpeg", tinyMJPEG(t), TrackInfo{ID: 1, Codec: MJPEG, SampleEntry: "mp4v", Width: 64, Height: 48, Timescale: 90000}},
		{"h264", tinyH264(t), TrackInfo{ID: 1, Codec: H264, SampleEntry: "avc1", Width: 320, Height: 240, Timescale: 90000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := scanBytes(t, tt.clip)
			checkReport(t, rep, int64(len(tt.clip)))
			if rep.Stop != nil || rep.Trailing != 0 || rep.ValidSize != int64(len(tt.clip)) {
				t.Fatalf("stop %v, valid %d, trailing %d of %d", rep.Stop, rep.ValidSize, rep.Trailing, len(tt.clip))
			}
			if rep.Track != tt.track {
				t.Errorf("track %+v, want %+v", rep.Track, tt.track)
			}
			if string(tt.clip[rep.InitSize+4:rep.InitSize+8]) != "moof" {
				t.Errorf("init size %d does not end before a moof", rep.InitSize)
			}
			if len(rep.Fragments) != 3 {
				t.Fatalf("%d fragments, want 3", len(rep.Fragments))
			}
			for i, f := range rep.Fragments {
				want := Fragment{Offset: f.Offset, Size: f.Size, Seq: uint32(i + 1), Samples: 5,
					BaseTime: uint64(i) * 45000, Duration: 45000, Key: true, Checked: true}
				if f != want {
					t.Errorf("fragment %d: %+v, want %+v", i, f, want)
				}
			}
			if d := rep.Duration(); d.Seconds() != 1.5 {
				t.Errorf("duration %v, want 1.5s", d)
			}
		})
	}
}

// TestScanTruncated cuts the file at every byte: the valid prefix is the init
// segment and the fragments that end before the cut, and scanning just that
// prefix finds it whole.
func TestScanTruncated(t *testing.T) {
	for name, clip := range map[string][]byte{"mjpeg": tinyMJPEG(t), "h264": tinyH264(t)} {
		t.Run(name, func(t *testing.T) {
			full := scanBytes(t, clip)
			for cut := range len(clip) + 1 {
				rep := scanBytes(t, clip[:cut])
				checkReport(t, rep, int64(cut))
				if int64(cut) < full.InitSize {
					if rep.InitSize != 0 || !errors.Is(rep.Stop, ErrTruncated) {
						t.Fatalf("cut %d inside the init: init %d, stop %v", cut, rep.InitSize, rep.Stop)
					}
					continue
				}
				want, validSize := 0, full.InitSize
				for _, f := range full.Fragments {
					if f.End() <= int64(cut) {
						want, validSize = want+1, f.End()
					}
				}
				if len(rep.Fragments) != want || rep.ValidSize != validSize {
					t.Fatalf("cut %d: %d fragments valid to %d, want %d to %d", cut, len(rep.Fragments), rep.ValidSize, want, validSize)
				}
				if atBoundary := validSize == int64(cut); atBoundary != (rep.Stop == nil) {
					t.Fatalf("cut %d: stop %v", cut, rep.Stop)
				} else if !atBoundary && !errors.Is(rep.Stop, ErrTruncated) {
					t.Fatalf("cut %d: stop %v, want ErrTruncated", cut, rep.Stop)
				}
				again := scanBytes(t, clip[:rep.ValidSize])
				if again.Stop != nil || len(again.Fragments) != want {
					t.Fatalf("cut %d: rescanning the valid prefix: %d fragments, stop %v", cut, len(again.Fragments), again.Stop)
				}
			}
		})
	}
}

// frag locates the fields of fragment i of a clip made by muxClip.
type frag struct {
	off, n                             int // moof offset, samples
	seq, trackID, base, count, dataOff int
	sample0Size, crc, mdat, payload    int
}

func locate(t testing.TB, clip []byte, i int) frag {
	t.Helper()
	f := scanBytes(t, clip).Fragments[i]
	o := int(f.Offset)
	l := frag{off: o, n: f.Samples, seq: o + 20, trackID: o + 44, base: o + 60, count: o + 80, dataOff: o + 84, sample0Size: o + 92}
	l.crc = o + 88 + 12*l.n + 8 + 16 + 4
	l.mdat = o + moofSize(l.n)
	l.payload = l.mdat + 8
	if string(clip[l.mdat+4:l.mdat+8]) != "mdat" || string(clip[o+4:o+8]) != "moof" {
		t.Fatalf("fragment %d layout not as expected", i)
	}
	return l
}

func add32(b []byte, at int, d int32) {
	binary.BigEndian.PutUint32(b[at:], uint32(int32(binary.BigEndian.Uint32(b[at:]))+d))
}

func put32(b []byte, at int, v uint32) { binary.BigEndian.PutUint32(b[at:], v) }

// boxAt returns the offset of the first box of type typ.
func boxAt(t testing.TB, b []byte, typ string) int {
	t.Helper()
	i := bytes.Index(b, []byte(typ))
	if i < 4 {
		t.Fatalf("no %s box", typ)
	}
	return i - 4
}

type corruption struct {
	name      string
	mutate    func(t testing.TB, b []byte) []byte
	fragments int   // whole fragments still found
	stop      error // nil: the file stays valid
	trailing  int   // -1: do not check
}

func corruptions() []corruption {
	mid := func(f func(b []byte, l frag)) func(testing.TB, []byte) []byte {
		return func(t testing.TB, b []byte) []byte { f(b, locate(t, b, 1)); return b }
	}
	last := func(f func(b []byte, l frag)) func(testing.TB, []byte) []byte {
		return func(t testing.TB, b []byte) []byte { f(b, locate(t, b, 2)); return b }
	}
	appendBytes := func(tail []byte) func(testing.TB, []byte) []byte {
		return func(_ testing.TB, b []byte) []byte { return append(b, tail...) }
	}
	garbage := make([]byte, 1000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	free := []byte{0, 0, 0, 12, 'f', 'r', 'e', 'e', 1, 2, 3, 4}
	uuid := append([]byte{0, 0, 0, 28, 'u', 'u', 'i', 'd'}, make([]byte, 20)...)
	return []corruption{
		{"moof size larger", mid(func(b []byte, l frag) { add32(b, l.off, 4) }), 1, ErrCorrupt, -1},
		{"moof size smaller", mid(func(b []byte, l frag) { add32(b, l.off, -4) }), 1, ErrCorrupt, -1},
		{"moof size below a header", mid(func(b []byte, l frag) { put32(b, l.off, 7) }), 1, ErrCorrupt, -1},
		{"moof size 1 with a huge largesize", mid(func(b []byte, l frag) { put32(b, l.off, 1) }), 1, ErrTruncated, -1},
		{"moof size past the end", mid(func(b []byte, l frag) { put32(b, l.off, 1<<30) }), 1, ErrTruncated, -1},
		{"moof type changed", mid(func(b []byte, l frag) { b[l.off+4] = 'n' }), 1, ErrCorrupt, -1},
		{"mdat size larger", mid(func(b []byte, l frag) { add32(b, l.mdat, 1) }), 1, ErrCorrupt, -1},
		{"mdat size smaller", mid(func(b []byte, l frag) { add32(b, l.mdat, -1) }), 1, ErrCorrupt, -1},
		{"mdat size 0 in the middle", mid(func(b []byte, l frag) { put32(b, l.mdat, 0) }), 1, ErrCorrupt, -1},
		{"mdat size 0 at the end", last(func(b []byte, l frag) { put32(b, l.mdat, 0) }), 3, nil, 0},
		{"mdat type changed", mid(func(b []byte, l frag) { b[l.mdat+7] = 'x' }), 1, ErrCorrupt, -1},
		{"sample size larger", mid(func(b []byte, l frag) { add32(b, l.sample0Size, 1) }), 1, ErrCorrupt, -1},
		{"sample count huge", mid(func(b []byte, l frag) { put32(b, l.count, 0xffffffff) }), 1, ErrCorrupt, -1},
		{"trun without per-sample fields, huge count", mid(func(b []byte, l frag) {
			put32(b, l.count-4, trunDataOffset)
			put32(b, l.count, 0xffffffff)
		}), 1, ErrLimit, -1},
		{"trun without per-sample fields", mid(func(b []byte, l frag) { put32(b, l.count-4, trunDataOffset) }), 1, ErrCorrupt, -1},
		{"sample count 0", mid(func(b []byte, l frag) { put32(b, l.count, 0) }), 1, ErrCorrupt, -1},
		{"data offset off by one", mid(func(b []byte, l frag) { add32(b, l.dataOff, 1) }), 1, ErrCorrupt, -1},
		{"sequence repeats", mid(func(b []byte, l frag) { put32(b, l.seq, 1) }), 1, ErrCorrupt, -1},
		{"decode time goes back", mid(func(b []byte, l frag) { binary.BigEndian.PutUint64(b[l.base:], 0) }), 1, ErrCorrupt, -1},
		{"other track", mid(func(b []byte, l frag) { put32(b, l.trackID, 2) }), 1, ErrCorrupt, -1},
		{"payload byte flipped", mid(func(b []byte, l frag) { b[l.payload+3] ^= 0x10 }), 1, ErrCorrupt, -1},
		{"checksum changed", mid(func(b []byte, l frag) { b[l.crc] ^= 1 }), 1, ErrCorrupt, -1},
		{"payload tail never written", last(func(b []byte, l frag) { clear(b[len(b)-30:]) }), 2, ErrCorrupt, -1},
		{"garbage appended", appendBytes(garbage), 3, ErrTruncated, len(garbage)}, // its first word is a huge size,
		{"zeros appended", appendBytes(make([]byte, 4096)), 3, ErrCorrupt, 4096},
		{"a few bytes appended", appendBytes([]byte{0, 0, 1}), 3, ErrTruncated, 3},
		{"huge box header appended", appendBytes([]byte{0xff, 0xff, 0xff, 0xff, 'm', 'o', 'o', 'f'}), 3, ErrTruncated, 8},
		{"free box appended", appendBytes(free), 3, nil, len(free)},
		{"uuid box appended (a C2PA Merkle box)", appendBytes(uuid), 3, nil, len(uuid)},
		{"free box with largesize between fragments", func(t testing.TB, b []byte) []byte {
			l := locate(t, b, 1)
			box := []byte{0, 0, 0, 1, 's', 'k', 'i', 'p', 0, 0, 0, 0, 0, 0, 0, 20, 9, 9, 9, 9}
			return append(append(append([]byte(nil), b[:l.off]...), box...), b[l.off:]...)
		}, 3, nil, 0},
		{"no ftyp", func(t testing.TB, b []byte) []byte { b[4] = 'x'; return b }, 0, ErrCorrupt, -1},
		{"empty file", func(testing.TB, []byte) []byte { return nil }, 0, ErrTruncated, 0},
		{"no mvex", func(t testing.TB, b []byte) []byte { b[boxAt(t, b, "mvex")+4] = 'x'; return b }, 0, ErrUnsupported, -1},
		{"not video", func(t testing.TB, b []byte) []byte { copy(b[boxAt(t, b, "hdlr")+16:], "soun"); return b }, 0, ErrUnsupported, -1},
		{"timescale 0", func(t testing.TB, b []byte) []byte { put32(b, boxAt(t, b, "mdhd")+20, 0); return b }, 0, ErrCorrupt, -1},
		{"trex of another track", func(t testing.TB, b []byte) []byte { put32(b, boxAt(t, b, "trex")+12, 7); return b }, 0, ErrCorrupt, -1},
		{"stsd entry cut", func(t testing.TB, b []byte) []byte { put32(b, boxAt(t, b, "stsd")+16, 20); return b }, 0, ErrCorrupt, -1},
		{"moov over the limit", func(t testing.TB, b []byte) []byte {
			put32(b, boxAt(t, b, "moov"), MaxInitBoxSize+16)
			return append(b, make([]byte, MaxInitBoxSize)...)
		}, 0, ErrLimit, -1},
	}
}

func TestScanCorrupt(t *testing.T) {
	for name, clip := range map[string][]byte{"mjpeg": tinyMJPEG(t), "h264": tinyH264(t)} {
		for _, c := range corruptions() {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				b := c.mutate(t, append([]byte(nil), clip...))
				rep := scanBytes(t, b)
				checkReport(t, rep, int64(len(b)))
				if len(rep.Fragments) != c.fragments {
					t.Errorf("%d fragments, want %d (stop %v)", len(rep.Fragments), c.fragments, rep.Stop)
				}
				if c.stop == nil && rep.Stop != nil || c.stop != nil && !errors.Is(rep.Stop, c.stop) {
					t.Errorf("stop %v, want %v", rep.Stop, c.stop)
				}
				if c.trailing >= 0 && rep.Trailing != int64(c.trailing) {
					t.Errorf("%d trailing bytes, want %d", rep.Trailing, c.trailing)
				}
			})
		}
	}
}

// failingReaderAt fails reads that reach past failAt.
type failingReaderAt struct {
	b      []byte
	failAt int64
	err    error
}

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.failAt {
		return 0, f.err
	}
	return bytes.NewReader(f.b).ReadAt(p, off)
}

func TestScanReadErrors(t *testing.T) {
	clip := tinyMJPEG(t)
	full := scanBytes(t, clip)
	for _, at := range []int64{0, full.InitSize - 1, full.Fragments[1].Offset + 3, int64(len(clip)) - 1} {
		_, err := Scan(failingReaderAt{clip, at, errDisk}, int64(len(clip)))
		if !errors.Is(err, errDisk) {
			t.Errorf("read failing at %d: %v, want the disk error", at, err)
		}
	}
	// A reader shorter than the size it is said to have is truncation.
	rep, err := Scan(bytes.NewReader(clip[:full.Fragments[2].Offset+10]), int64(len(clip)))
	if err != nil || !errors.Is(rep.Stop, ErrTruncated) || len(rep.Fragments) != 2 {
		t.Errorf("short reader: %v, stop %v, %d fragments", err, rep.Stop, len(rep.Fragments))
	}
	if _, err := Scan(bytes.NewReader(clip), -5); err != nil {
		t.Errorf("negative size: %v", err)
	}
}

// FuzzScan checks that Scan never panics, keeps its invariants, and that the
// valid prefix it reports scans whole.
func FuzzScan(f *testing.F) {
	for _, name := range []string{"tiny-mjpeg.mp4", "tiny-h264.mp4"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, c := range corruptions() {
			if c.name == "moov over the limit" {
				continue // a megabyte seed slows the fuzzer down
			}
			f.Add(c.mutate(f, append([]byte(nil), b...)))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Scan(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("Scan of bytes in memory failed: %v", err)
		}
		checkReport(t, rep, int64(len(b)))
		if rep.InitSize == 0 {
			return
		}
		again, err := Scan(bytes.NewReader(b[:rep.ValidSize]), rep.ValidSize)
		if err != nil || again.Stop != nil || len(again.Fragments) != len(rep.Fragments) {
			t.Fatalf("rescanning the valid prefix of %d bytes: %v, stop %v, %d fragments, want %d",
				rep.ValidSize, err, again.Stop, len(again.Fragments), len(rep.Fragments))
		}
		if fmt.Sprint(again.Fragments) != fmt.Sprint(rep.Fragments) {
			t.Fatalf("rescan found %v, first scan %v", again.Fragments, rep.Fragments)
		}
	})
}
