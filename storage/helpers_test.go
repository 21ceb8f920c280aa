package storage_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/storagetest"
)

var t0 = time.Date(2026, 5, 14, 15, 30, 12, 250e6, time.UTC)

// fakeJPEG returns n bytes that start and end like a JPEG picture.
func fakeJPEG(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	b[0], b[1], b[n-2], b[n-1] = 0xff, 0xd8, 0xff, 0xd9
	return b
}

var mjpeg = fmp4.Track{Codec: fmp4.MJPEG, Width: 64, Height: 48, FrameDuration: 100 * time.Millisecond}

// clock is a settable wall clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStore(t testing.TB, card *storagetest.Card, cfg storage.StoreConfig) (*storage.Store, *clock) {
	t.Helper()
	clk := &clock{t: t0.Add(time.Hour)}
	cfg.Card = card.Card
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	s, err := storage.NewStore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

// writeClip records frames fake pictures at 10 fps, in fragments of 1 s.
func writeClip(t *testing.T, s *storage.Store, start time.Time, event uint64, frames int) *storage.ClipWriter {
	t.Helper()
	cw, err := s.Create(storage.ClipSpec{Start: start, Event: event, Track: mjpeg, FragmentDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if err := cw.AddSample(fakeJPEG(1000, byte(i)), start.Add(time.Duration(i)*100*time.Millisecond), true); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
	}
	return cw
}

func sealClip(t *testing.T, s *storage.Store, start time.Time, event uint64, frames int) storage.ClipInfo {
	t.Helper()
	info, err := writeClip(t, s, start, event, frames).Seal(storage.ClipFinish{Events: []uint64{event}, EventTime: start, Part: 1, Thumbnail: fakeJPEG(300, 9)})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func scanFile(t *testing.T, path string) fmp4.Report {
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

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
