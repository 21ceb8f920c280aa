package recorder

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/storagetest"
)

var base = time.Date(2026, 5, 14, 15, 30, 0, 0, time.UTC)

// at returns the capture time s seconds after base.
func at(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }

// source is a finite frame source: frame i is made by fill at base + i*interval.
type source struct {
	n        int
	interval time.Duration
	format   capture.Format
	fill     func(i int, buf []byte) int // writes frame i, returns its size
	hook     func(i int)                 // runs before frame i is handed out
	block    bool                        // after the last frame wait for ctx instead of io.EOF

	pool *capture.Pool
	i    int
}

func (s *source) Next(ctx context.Context) (*capture.Frame, error) {
	if s.i >= s.n {
		if s.block {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return nil, io.EOF
	}
	if s.pool == nil {
		s.pool = capture.NewPool(4, max(s.format.FrameSize(), 64<<10))
	}
	if s.hook != nil {
		s.hook(s.i)
	}
	f, err := s.pool.Get()
	if err != nil {
		return nil, err
	}
	f.SetLen(s.fill(s.i, f.Buffer()))
	f.Format, f.Seq, f.Time = s.format, uint64(s.i), base.Add(time.Duration(s.i)*s.interval)
	s.i++
	return f, nil
}

// fakeJPEG fills buf with n bytes that start and end like a JPEG picture.
func fakeJPEG(buf []byte, n int, seed byte) int {
	for i := range n {
		buf[i] = seed + byte(i*7)
	}
	buf[0], buf[1], buf[n-2], buf[n-1] = 0xff, 0xd8, 0xff, 0xd9
	return n
}

func mjpegSource(seconds float64, fps float64, size int) *source {
	return &source{n: int(seconds * fps), interval: time.Duration(float64(time.Second) / fps),
		format: capture.Format{Pixel: capture.FormatMJPEG, Width: 64, Height: 48, FPS: fps},
		fill:   func(i int, b []byte) int { return fakeJPEG(b, size, byte(i)) }}
}

// Parameter sets of a 320x240 libx264 stream.
const (
	sps320 = "6764000cacd94141fb011000000300100000030140f1429960"
	pps320 = "68ebe3cb22c0"
)

// h264Source makes filler access units at 10 fps with an IDR (with SPS and
// PPS) every gop frames; not decodable, but muxable.
func h264Source(seconds float64, gop int) *source {
	sps, _ := hex.DecodeString(sps320)
	pps, _ := hex.DecodeString(pps320)
	return &source{n: int(seconds * 10), interval: 100 * time.Millisecond,
		format: capture.Format{Pixel: capture.FormatH264, Width: 320, Height: 240, FPS: 10},
		fill: func(i int, b []byte) int {
			au := b[:0]
			if i%gop == 0 {
				au = append(au, 0, 0, 0, 1)
				au = append(au, sps...)
				au = append(au, 0, 0, 0, 1)
				au = append(au, pps...)
				au = append(au, 0, 0, 0, 1, 0x65, 0x88)
			} else {
				au = append(au, 0, 0, 0, 1, 0x41, 0x9a)
			}
			for j := range 200 {
				au = append(au, byte(j+1))
			}
			return len(au)
		}}
}

type rig struct {
	card  *storagetest.Card
	store *storage.Store
	rec   *Recorder
}

func newRig(t *testing.T, card *storagetest.Card, scfg storage.StoreConfig, cfg Config, src Frames) *rig {
	t.Helper()
	if card == nil {
		card = storagetest.NewCard(t, 0)
	}
	scfg.Card = card.Card
	store, err := storage.NewStore(scfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store, cfg.Queue = store, src
	cfg.Lossless = true
	if cfg.PreRoll == 0 {
		cfg.PreRoll = 2 * time.Second
	}
	if cfg.PostRoll == 0 {
		cfg.PostRoll = 3 * time.Second
	}
	if cfg.FragmentDuration == 0 {
		cfg.FragmentDuration = time.Second
	}
	if cfg.CheckEvery == 0 {
		cfg.CheckEvery = time.Second
	}
	rec, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{card: card, store: store, rec: rec}
}

// run runs the recorder until its source ends.
func (r *rig) run(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	if err := r.rec.Run(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v, want io.EOF at the end of the frames", err)
	}
	// Run returns after its goroutines are done; one that has signalled its
	// WaitGroup may still be unwinding, so give stragglers a moment to exit.
	after := runtime.NumGoroutine()
	for i := 0; i < 200 && after > before; i++ {
		time.Sleep(5 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before {
		t.Errorf("%d goroutines before Run, %d after", before, after)
	}
}

// clip is what a test checks of a sealed clip.
type clip struct {
	info storage.ClipInfo
	meta storage.Metadata
	scan fmp4.Report
}

// clips returns the sealed clips, oldest first, checking each is whole.
func (r *rig) clips(t *testing.T) []clip {
	t.Helper()
	infos, err := r.store.Clips()
	if err != nil {
		t.Fatal(err)
	}
	var out []clip
	for _, info := range infos {
		if info.State != storage.ClipSealed && info.State != storage.ClipUploaded {
			t.Errorf("clip %s is %s", info.Name, info.State)
			continue
		}
		f, err := os.Open(info.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		m, err := storage.ReadMetadata(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		c := clip{info: info, meta: m, scan: scanFile(t, info.Path)}
		if c.scan.Stop != nil || c.scan.Trailing != 0 || c.scan.Samples() != m.Frames {
			t.Errorf("clip %s: scan stop %v, trailing %d, %d samples, metadata says %d", info.Name, c.scan.Stop, c.scan.Trailing, c.scan.Samples(), m.Frames)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].meta.Start.Before(out[j].meta.Start) })
	for i := 1; i < len(out); i++ {
		if !out[i].meta.Start.After(out[i-1].meta.End) {
			t.Errorf("clips %s and %s overlap", out[i-1].info.Name, out[i].info.Name)
		}
	}
	return out
}

func scanFile(t testing.TB, path string) fmp4.Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	r, err := fmp4.Scan(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// secs returns t as seconds after base.
func secs(t time.Time) float64 { return t.Sub(base).Seconds() }
