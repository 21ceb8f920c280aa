package upload_test

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"math/rand/v2"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/storagetest"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/upload"
)

var t0 = time.Date(2026, 5, 14, 15, 30, 12, 0, time.UTC)

var mjpeg = fmp4.Track{Codec: fmp4.MJPEG, Width: 64, Height: 48, FrameDuration: 100 * time.Millisecond}

// fakeJPEG returns n bytes that start and end like a JPEG picture.
func fakeJPEG(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	b[0], b[1], b[n-2], b[n-1] = 0xff, 0xd8, 0xff, 0xd9
	return b
}

// camera is a simulated camera: a device key and certificate, a clip store
// on a fake SD card, and the seal protocol of package manifest writing each
// clip's signed manifest (the agent's OnSeal hook).
type camera struct {
	env      *ingesttest.Env
	dev      *ingesttest.Device
	card     *storagetest.Card
	store    *storage.Store
	stateDir string
	boot     string

	mu    sync.Mutex
	seq   *manifest.Sequencer
	chain *manifest.Chain
	clips int
}

func newCamera(t *testing.T, env *ingesttest.Env, owner string) *camera {
	t.Helper()
	c := &camera{env: env, dev: env.NewDevice(t, owner), card: storagetest.NewCard(t, 0), stateDir: t.TempDir(), boot: "boot-1"}
	c.reopen(t)
	s, err := storage.NewStore(storage.StoreConfig{Card: c.card.Card, OnSeal: c.seal})
	if err != nil {
		t.Fatal(err)
	}
	c.store = s
	return c
}

// reopen opens the sequence and chain state from disk, as a restarted
// agent does.
func (c *camera) reopen(t *testing.T) {
	t.Helper()
	seq, err := manifest.OpenSequencer(filepath.Join(c.stateDir, "seq"), 0)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := manifest.OpenChain(filepath.Join(c.stateDir, "chain"), c.dev.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.seq, c.chain = seq, chain
	c.mu.Unlock()
}

// seal is the OnSeal hook: the seal protocol of package manifest.
func (c *camera) seal(info storage.ClipInfo) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	sum, err := hex.DecodeString(info.SHA256)
	if err != nil || len(sum) != 32 {
		return fmt.Errorf("clip sha256 %q", info.SHA256)
	}
	m := manifest.Manifest{Owner: c.dev.Owner, BootID: c.boot, StartMS: info.Start.UnixMilli(),
		EndMS: info.Start.Add(info.Duration).UnixMilli(), ClockTrusted: true}
	o := manifest.Object{Role: manifest.RoleClip, MediaType: "video/mp4", Size: uint64(info.Size)}
	copy(o.SHA256[:], sum)
	m.Objects = append(m.Objects, o)
	if info.Thumbnail != "" {
		ts, err := hex.DecodeString(info.ThumbnailSHA256)
		if err != nil || len(ts) != 32 {
			return fmt.Errorf("thumbnail sha256 %q", info.ThumbnailSHA256)
		}
		o := manifest.Object{Role: manifest.RoleThumbnail, MediaType: "image/jpeg", Size: uint64(info.ThumbnailSize)}
		copy(o.SHA256[:], ts)
		m.Objects = append(m.Objects, o)
	}
	n, err := c.seq.Next()
	if err != nil {
		return err
	}
	m.Seq, m.Prev = n, c.chain.Last()
	cose, err := manifest.Sign(m, c.dev.Key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(info.Manifest, cose, 0o644); err != nil {
		return err
	}
	return c.chain.Advance(cose)
}

// record writes and seals one clip of frames frames (about 1 KB each).
func (c *camera) record(t *testing.T, frames int) storage.ClipInfo {
	t.Helper()
	c.mu.Lock()
	c.clips++
	n := c.clips
	c.mu.Unlock()
	start := t0.Add(time.Duration(n) * time.Minute)
	cw, err := c.store.Create(storage.ClipSpec{Start: start, Event: uint64(n), Track: mjpeg, FragmentDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if err := cw.AddSample(fakeJPEG(1000, byte(i+n)), start.Add(time.Duration(i)*100*time.Millisecond), true); err != nil {
			t.Fatal(err)
		}
	}
	info, err := cw.Seal(storage.ClipFinish{Events: []uint64{uint64(n)}, EventTime: start, Part: 1, Thumbnail: fakeJPEG(300+n, 9)})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// fakeClock is Now and After for the uploader: After records the wait and
// fires at once (advancing Now), except for waits of at least block, which
// never fire (an idle uploader waiting for a parked item).
//
// With hold, the first wait is announced on held and fires only when
// release is closed: the test then knows the uploader got that far.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waits   []time.Duration
	block   time.Duration
	held    chan time.Duration
	release chan time.Time
	// onWait, if set, is told of each wait before it is recorded (outside
	// the clock's lock: it may ask the uploader's Status).
	onWait func(time.Duration)
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now(), block: 30 * time.Minute} }

// holding returns a fake clock that holds the first wait.
func holding() *fakeClock {
	c := newFakeClock()
	c.held, c.release = make(chan time.Duration, 1), make(chan time.Time)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	if c.onWait != nil {
		c.onWait(d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	if c.held != nil && len(c.waits) == 1 {
		c.held <- d
		return c.release
	}
	if d >= c.block {
		return nil
	}
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

// cutDialer dials TCP and, once armed, cuts the connection after limit
// more bytes were written on it, calling onCut.
type cutDialer struct {
	limit atomic.Int64 // < 0: never cut
	onCut func()
	cuts  atomic.Int32
}

func (d *cutDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &cutConn{Conn: c, d: d}, nil
}

type cutConn struct {
	net.Conn
	d       *cutDialer
	written int64
}

var errCut = errors.New("test: connection cut")

func (c *cutConn) Write(p []byte) (int, error) {
	lim := c.d.limit.Load()
	if lim >= 0 && c.written+int64(len(p)) > lim {
		n := int(lim - c.written)
		if n > 0 {
			c.Conn.Write(p[:n])
		}
		c.Conn.Close()
		if c.d.cuts.Add(1) == 1 && c.d.onCut != nil {
			c.d.onCut()
		}
		return max(n, 0), errCut
	}
	c.written += int64(len(p))
	return c.Conn.Write(p)
}

// client returns an upload client of the camera, dialing through dial when
// it is not nil.
func (c *camera) client(t *testing.T, dial *cutDialer) *upload.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: c.dev.TLS(c.env.Roots())}
	if dial != nil {
		tr.DialContext = dial.DialContext
	}
	t.Cleanup(tr.CloseIdleConnections)
	cl, err := upload.NewClient(upload.ClientConfig{URL: c.env.URL, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// uploader returns an uploader of the camera on the fake clock, without
// start delay or rescans; edit adjusts the config.
func (c *camera) uploader(t *testing.T, cl *upload.Client, clk *fakeClock, edit func(*upload.Config)) *upload.Uploader {
	t.Helper()
	cfg := upload.Config{Store: c.store, Client: cl, DeviceID: c.dev.ID, Now: clk.Now, After: clk.After,
		Rand: rand.New(rand.NewPCG(1, 2)), StartDelay: -1, Rescan: -1, ItemRate: 1000, ItemBurst: 1000}
	if edit != nil {
		edit(&cfg)
	}
	u, err := upload.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// run runs u until the test ends or stop is called; it fails the test if
// Run returns an error.
func run(t *testing.T, u *upload.Uploader) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor receives n names from ch, failing after a generous limit (a hung
// test, not a timing assertion).
func waitFor(t *testing.T, ch <-chan string, n int) []string {
	t.Helper()
	var got []string
	limit := time.NewTimer(time.Minute)
	defer limit.Stop()
	for len(got) < n {
		select {
		case name := <-ch:
			got = append(got, name)
		case <-limit.C:
			t.Fatalf("waited a minute for %d uploads, got %d: %v", n, len(got), got)
		}
	}
	return got
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
