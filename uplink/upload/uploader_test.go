package upload_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/upload"
)

// events records what the ingest answered, in order.
type events struct {
	mu  sync.Mutex
	evs []ingest.Event
	ch  chan ingest.Event
}

func newEvents() *events { return &events{ch: make(chan ingest.Event, 1024)} }

func (e *events) observe(ev ingest.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
	select {
	case e.ch <- ev:
	default:
	}
}

func (e *events) list() []ingest.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]ingest.Event(nil), e.evs...)
}

func sha(t *testing.T, h string) string {
	t.Helper()
	if _, err := hex.DecodeString(h); err != nil || len(h) != 64 {
		t.Fatalf("bad sha256 %q", h)
	}
	return h
}

// TestUploaderDrainsBacklogInOrder: a backlog goes out as every manifest and
// thumbnail first (lowest sequence first), then the clip bodies, oldest
// first; each clip is marked uploaded on the card.
func TestUploaderDrainsBacklogInOrder(t *testing.T) {
	evs := newEvents()
	env := ingesttest.Start(t, ingesttest.Options{Observe: evs.observe})
	cam := newCamera(t, env, "olga")
	var infos []storage.ClipInfo
	role := map[string]string{}
	for range 3 {
		info := cam.record(t, 20)
		infos = append(infos, info)
		role[sha(t, info.SHA256)] = fmt.Sprintf("clip%d", len(infos))
		role[sha(t, info.ThumbnailSHA256)] = fmt.Sprintf("thumb%d", len(infos))
	}
	uploaded := make(chan string, 8)
	clk := newFakeClock()
	var logMu sync.Mutex
	var logBuf strings.Builder
	u := cam.uploader(t, cam.client(t, nil), clk, func(c *upload.Config) {
		c.OnUploaded = func(n string) { uploaded <- n }
		c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logBuf}, nil))
	})
	run(t, u)
	got := waitFor(t, uploaded, 3)
	logMu.Lock()
	logText := logBuf.String()
	logMu.Unlock()
	for i, info := range infos {
		if got[i] != info.Name {
			t.Errorf("upload %d: %s, want %s", i, got[i], info.Name)
		}
		// One log line per clip with its size and the time taken.
		line := fmt.Sprintf(`level=INFO msg="clip uploaded" clip=%s seq=%d bytes=%d took=`, info.Name, i+1, info.Size+info.ThumbnailSize)
		if strings.Count(logText, line) != 1 {
			t.Errorf("log lacks %q once:\n%s", line, logText)
		}
		if ok, err := cam.store.IsUploaded(info.Name); !ok || err != nil {
			t.Errorf("%s not marked uploaded (%v)", info.Name, err)
		}
	}
	var order []string
	for _, ev := range evs.list() {
		switch {
		case ev.Op == "manifest" && ev.Code == "":
			order = append(order, fmt.Sprintf("m%d", ev.Seq))
		case ev.Op == "object" && ev.Code == "":
			order = append(order, role[ev.SHA256])
		default:
			t.Errorf("unexpected ingest event %+v", ev)
		}
	}
	want := "m1 thumb1 m2 thumb2 m3 thumb3 m1 clip1 m2 clip2 m3 clip3"
	if strings.Join(order, " ") != want {
		t.Errorf("order at the ingest:\n got %s\nwant %s", strings.Join(order, " "), want)
	}
	st := u.Status()
	if st.Uploaded != 3 || st.Queued != 0 || st.Failures != 0 {
		t.Errorf("status %+v", st)
	}
}

// TestUploaderFindsNewClips: with no rescans, a clip sealed while the
// uploader runs is found through the store's announcement, also one sealed
// during its start delay on a card where no clip was ever recorded; the
// device certificate comes from a file.
func TestUploaderFindsNewClips(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	cam := newCamera(t, env, "pia")
	certPath := filepath.Join(t.TempDir(), identity.CertFile)
	if err := os.WriteFile(certPath, pemCert(cam.dev.Cert.Certificate[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := upload.TLSConfig(cam.dev.Key, certPath, env.CA.CertPEM(), "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := upload.NewClient(upload.ClientConfig{URL: env.URL, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	uploaded := make(chan string, 8)
	clk := holding()
	u := cam.uploader(t, cl, clk, func(c *upload.Config) {
		c.StartDelay = time.Second
		c.OnUploaded = func(n string) { uploaded <- n }
	})
	run(t, u)
	<-clk.held // Run subscribed to the store and waits out its start delay
	if exists(cam.store.Dir()) {
		t.Fatal("the clips folder exists before the first clip")
	}
	if st := u.Status(); st.State != "starting" {
		t.Fatalf("status while starting: %+v", st)
	}
	first := cam.record(t, 5)
	close(clk.release)
	if got := waitFor(t, uploaded, 1); got[0] != first.Name {
		t.Errorf("uploaded %s, want %s", got[0], first.Name)
	}
	second, third := cam.record(t, 5), cam.record(t, 5)
	got := waitFor(t, uploaded, 2)
	if got[0] != second.Name || got[1] != third.Name {
		t.Errorf("uploaded %v, want %s %s", got, second.Name, third.Name)
	}
}

// TestUploaderResumesAfterPowerLoss: the agent dies (its context cancelled
// and its connection cut) in the middle of a clip body; a new agent started
// from the card resumes from the ingest's offset, so the ingest receives
// every byte exactly once, and the sequence numbers the restarted agent
// signs with never repeat one it used.
func TestUploaderResumesAfterPowerLoss(t *testing.T) {
	evs := newEvents()
	env := ingesttest.Start(t, ingesttest.Options{Observe: evs.observe})
	cam := newCamera(t, env, "quinn")
	info := cam.record(t, 150) // ~150 KB
	clipSHA := sha(t, info.SHA256)

	// First run: killed once 60 KB went out on its connection.
	ctx, kill := context.WithCancel(context.Background())
	dial := &cutDialer{onCut: kill}
	dial.limit.Store(60 << 10)
	u1 := cam.uploader(t, cam.client(t, dial), newFakeClock(), nil)
	done := make(chan error, 1)
	go func() { done <- u1.Run(ctx) }()
	if err := <-done; err != nil {
		t.Fatalf("first run: %v", err)
	}
	if dial.cuts.Load() == 0 {
		t.Fatal("the first run finished without being cut")
	}
	// Wait until the ingest has handled the cut request.
	for ev := range evs.ch {
		if ev.Op == "object" && ev.SHA256 == clipSHA {
			break
		}
	}
	if ok, _ := cam.store.IsUploaded(info.Name); ok {
		t.Fatal("clip marked uploaded after a cut")
	}
	var sum [32]byte
	hex.Decode(sum[:], []byte(clipSHA))
	st, err := cam.client(t, nil).ObjectStatus(context.Background(), sum)
	if err != nil {
		t.Fatal(err)
	}
	have := st.Offset
	if have == 0 || have >= uint64(info.Size) {
		t.Fatalf("the ingest has %d of %d bytes after the cut; want part of it", have, info.Size)
	}

	// The agent restarts: sequence and chain state from disk, a new
	// uploader on the same card.
	cam.reopen(t)
	uploaded := make(chan string, 4)
	u2 := cam.uploader(t, cam.client(t, nil), newFakeClock(), func(c *upload.Config) {
		c.OnUploaded = func(n string) { uploaded <- n }
	})
	run(t, u2)
	waitFor(t, uploaded, 1)
	t.Logf("cut after %d of %d clip bytes; the restarted agent sent %d", have, info.Size, u2.Status().BytesSent)
	want := uint64(info.Size + info.ThumbnailSize)
	if got := env.Ingest.Stats().BytesReceived; got != want {
		t.Errorf("the ingest received %d bytes, want exactly %d (every byte once)", got, want)
	}
	if got := u2.Status().BytesSent; got != uint64(info.Size)-have {
		t.Errorf("the restarted agent sent %d bytes, want %d (the clip from offset %d)", got, uint64(info.Size)-have, have)
	}

	// A clip sealed after the restart gets a number never used before, and
	// its manifest still links to the last one: no conflict, no gap.
	next := cam.record(t, 5)
	waitFor(t, uploaded, 1)
	b, err := os.ReadFile(next.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq <= 1 {
		t.Errorf("clip after the restart has sequence %d, reusing a number", m.Seq)
	}
	ist := env.Ingest.Stats()
	if ist.Gaps != 0 || ist.Refused[protocol.CodeSeqConflict] != 0 || ist.Refused[protocol.CodeSeqRollback] != 0 || ist.ManifestsAccepted != 2 {
		t.Errorf("ingest after the restart: %+v", ist)
	}
}

// TestUploaderBackoff: failures back off with full jitter within the cap,
// and a Retry-After (seconds or HTTP-date) is waited at least.
func TestUploaderBackoff(t *testing.T) {
	var mu sync.Mutex
	script := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) { w.Header().Set("Retry-After", "7"); fail(w, 503, protocol.CodeInternal) },
		func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", time.Now().Add(40*time.Second).UTC().Format(http.TimeFormat))
			fail(w, 429, protocol.CodeBusy)
		},
		func(w http.ResponseWriter) { fail(w, 500, protocol.CodeInternal) },
		func(w http.ResponseWriter) { fail(w, 502, protocol.CodeInternal) },
		func(w http.ResponseWriter) { fail(w, 503, protocol.CodeLookupFailed) },
	}
	env := ingesttest.Start(t, ingesttest.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			var f func(http.ResponseWriter)
			if len(script) > 0 {
				f, script = script[0], script[1:]
			}
			mu.Unlock()
			if f != nil {
				f(w)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	cam := newCamera(t, env, "rita")
	cam.record(t, 5)
	clk := newFakeClock()
	uploaded := make(chan string, 1)
	base, capd := 2*time.Second, 10*time.Second
	u := cam.uploader(t, cam.client(t, nil), clk, func(c *upload.Config) {
		c.Backoff = upload.Backoff{Base: base, Cap: capd}
		c.OnUploaded = func(n string) { uploaded <- n }
	})
	run(t, u)
	waitFor(t, uploaded, 1)
	w := clk.Waits()
	if len(w) != 5 {
		t.Fatalf("waits %v, want 5", w)
	}
	checks := []struct {
		name   string
		lo, hi time.Duration
	}{
		{"Retry-After: 7", 7 * time.Second, 7*time.Second + base},
		{"Retry-After: HTTP-date in 40 s", 38 * time.Second, 41*time.Second + base},
		{"3rd failure", 0, 4 * base},
		{"4th failure", 0, 8 * base},
		{"5th failure (capped)", 0, capd},
	}
	for i, c := range checks {
		if w[i] < c.lo || w[i] > c.hi {
			t.Errorf("%s: waited %v, want [%v, %v]", c.name, w[i], c.lo, c.hi)
		}
	}
	// OnUploaded is told once the status shows the success.
	st := u.Status()
	if st.Failures != 0 || st.Uploaded != 1 || st.LastCode != protocol.CodeLookupFailed {
		t.Errorf("status after recovery: %+v", st)
	}
}

func fail(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":"scripted","code":%q}`, code)
}

// TestUploaderStartDelay: the first attempt waits a random time within the
// start delay, different for different cameras.
func TestUploaderStartDelay(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	seen := map[time.Duration]bool{}
	for seed := range uint64(4) {
		cam := newCamera(t, env, "sam")
		clk := holding()
		u := cam.uploader(t, cam.client(t, nil), clk, func(c *upload.Config) {
			c.StartDelay = 30 * time.Second
			c.Rand = rand.New(rand.NewPCG(seed, 7))
		})
		stop := run(t, u)
		d := <-clk.held
		if st := u.Status(); st.State != "starting" || st.NextAttempt.IsZero() {
			t.Errorf("status during the start delay: %+v", st)
		}
		stop()
		if d < 0 || d > 30*time.Second {
			t.Errorf("start delay %v outside [0, 30s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 3 {
		t.Errorf("start delays %v: not jittered", seen)
	}
}

// TestUploaderParksRefused: an item the ingest refuses for good is set
// aside with its reason, and the rest of the queue goes on.
func TestUploaderParksRefused(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	cam := newCamera(t, env, "tom")
	bad, good := cam.record(t, 10), cam.record(t, 10)
	// Damage the first clip on the card (same size, other bytes).
	b, err := os.ReadFile(bad.Path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-10] ^= 0xff
	if err := os.WriteFile(bad.Path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// And plant a manifest of another device on a third clip.
	foreign := cam.record(t, 5)
	other := ingesttest.NewDevice(t, env.CA, "tom")
	fc, _ := other.Next(t, ingesttest.Thumb([]byte("not mine")))
	if err := os.WriteFile(foreign.Manifest, fc, 0o644); err != nil {
		t.Fatal(err)
	}
	uploaded := make(chan string, 4)
	u := cam.uploader(t, cam.client(t, nil), newFakeClock(), func(c *upload.Config) {
		c.OnUploaded = func(n string) { uploaded <- n }
	})
	run(t, u)
	if got := waitFor(t, uploaded, 1); got[0] != good.Name {
		t.Fatalf("uploaded %v, want %s", got, good.Name)
	}
	st := u.Status()
	phases := map[string]upload.ItemStatus{}
	for _, it := range st.Items {
		phases[it.Name] = it
	}
	if it := phases[bad.Name]; it.Phase != "parked" || it.Reason != protocol.CodeHashMismatch || it.RetryAt.IsZero() {
		t.Errorf("damaged clip: %+v, want parked for hash-mismatch", it)
	}
	if it := phases[foreign.Name]; it.Phase != "broken" || !strings.HasPrefix(it.Reason, "foreign-manifest") {
		t.Errorf("foreign manifest: %+v, want broken", it)
	}
	if ok, _ := cam.store.IsUploaded(bad.Name); ok {
		t.Error("damaged clip marked uploaded")
	}
}

// TestClassify: how the uploader reacts to each kind of answer.
func TestClassify(t *testing.T) {
	refused := func(code string) error { return &upload.RefusedError{Code: code} }
	tests := []struct {
		err  error
		want upload.Class
	}{
		{errors.New("dial tcp: connection refused"), upload.Transient},
		{refused(protocol.CodeBusy), upload.Transient},
		{refused(protocol.CodeLookupFailed), upload.Transient},
		{refused(protocol.CodeInternal), upload.Transient},
		{refused("http-502"), upload.Transient},
		{refused(protocol.CodeCertExpired), upload.DeviceLevel},
		{refused(protocol.CodeUnpaired), upload.DeviceLevel},
		{refused(protocol.CodeHashMismatch), upload.Permanent},
		{refused(protocol.CodeSeqRollback), upload.Permanent},
		{refused(protocol.CodeOwnerMismatch), upload.Permanent},
		{fmt.Errorf("x: %w", upload.ErrLocal), upload.Local},
	}
	for _, tc := range tests {
		if got := upload.Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if !errors.Is(refused("x"), upload.ErrRefused) {
		t.Error("RefusedError is not ErrRefused")
	}
}

// TestUploaderBandwidthCap: with a bandwidth cap, sending a clip takes its
// size over the rate (on the fake clock).
func TestUploaderBandwidthCap(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	cam := newCamera(t, env, "uma")
	info := cam.record(t, 100) // ~100 KB
	clk := newFakeClock()
	const rate = 20 << 10
	tr := &http.Transport{TLSClientConfig: cam.dev.TLS(env.Roots())}
	t.Cleanup(tr.CloseIdleConnections)
	cl, err := upload.NewClient(upload.ClientConfig{URL: env.URL, Transport: tr, Limiter: upload.NewLimiter(rate, clk.Now, clk.After)})
	if err != nil {
		t.Fatal(err)
	}
	uploaded := make(chan string, 1)
	u := cam.uploader(t, cl, clk, func(c *upload.Config) { c.OnUploaded = func(n string) { uploaded <- n } })
	run(t, u)
	waitFor(t, uploaded, 1)
	var total time.Duration
	for _, w := range clk.Waits() {
		total += w
	}
	size := float64(info.Size + info.ThumbnailSize)
	want := time.Duration((size - 5<<10) / rate * float64(time.Second)) // less the 5 KiB banked (rate/4)
	if total < want-200*time.Millisecond || total > want+200*time.Millisecond {
		t.Errorf("%.0f bytes at %d B/s took %v on the clock, want about %v", size, rate, total, want)
	}
}

// TestUploaderRefusedDeviceBacksOffFurther: while the ingest refuses the
// device itself (an expired certificate), the backoff grows past the normal
// cap towards RefusedCap, and the status says why; an upload that succeeds
// clears it.
func TestUploaderRefusedDeviceBacksOffFurther(t *testing.T) {
	const refusals = 10
	var (
		mu      sync.Mutex
		served  int
		blocked string
		u       *upload.Uploader
	)
	env := ingesttest.Start(t, ingesttest.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			served++
			n, up := served, u
			mu.Unlock()
			if n <= refusals {
				if n == refusals && up != nil {
					st := up.Status()
					mu.Lock()
					blocked = st.Blocked
					mu.Unlock()
				}
				fail(w, 401, protocol.CodeCertExpired)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	cam := newCamera(t, env, "rosa")
	cam.record(t, 5)
	clk := newFakeClock()
	clk.block = 1000 * time.Hour
	uploaded := make(chan string, 1)
	base, capd, refusedCap := 2*time.Second, 10*time.Second, time.Hour
	u2 := cam.uploader(t, cam.client(t, nil), clk, func(c *upload.Config) {
		c.Backoff = upload.Backoff{Base: base, Cap: capd}
		c.RefusedCap = refusedCap
		c.Rand = rand.New(rand.NewPCG(1, 2))
		c.OnUploaded = func(n string) { uploaded <- n }
	})
	mu.Lock()
	u = u2
	mu.Unlock()
	run(t, u2)
	waitFor(t, uploaded, 1)
	w := clk.Waits()
	if len(w) < refusals {
		t.Fatalf("waits %v, want one per refusal", w)
	}
	longest := time.Duration(0)
	for i, d := range w[:refusals] {
		ceil := min(refusedCap, base<<i)
		if d > ceil {
			t.Errorf("wait %d: %v, above its ceiling %v", i+1, d, ceil)
		}
		longest = max(longest, d)
	}
	if longest <= capd {
		t.Errorf("waits %v: none above the normal cap %v while the device is refused", w[:refusals], capd)
	}
	mu.Lock()
	got := blocked
	mu.Unlock()
	if !strings.Contains(got, protocol.CodeCertExpired) || !strings.Contains(got, "clock") {
		t.Errorf("status while refused: blocked = %q, want the reason (cert-expired) and the fix", got)
	}
	if st := u2.Status(); st.Blocked != "" {
		t.Errorf("status after an upload: blocked = %q, want empty", st.Blocked)
	}
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// shallowStore is the clip store with room for one announcement per
// subscriber, whatever the uploader asks for.
type shallowStore struct{ *storage.Store }

func (s shallowStore) Subscribe(int) *storage.Subscription { return s.Store.Subscribe(1) }

// TestUploaderAsksStoreAfterMissedClips: clips completed while the uploader
// is busy and its announcements are full are not lost: the store signals
// Changed and the uploader asks it what is pending (no rescans here).
func TestUploaderAsksStoreAfterMissedClips(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	cam := newCamera(t, env, "rosa")
	before := []storage.ClipInfo{cam.record(t, 5), cam.record(t, 5)}
	uploaded := make(chan string, 8)
	clk := holding()
	cfg := upload.Config{Store: shallowStore{cam.store}, Client: cam.client(t, nil), DeviceID: cam.dev.ID,
		Now: clk.Now, After: clk.After, Rand: rand.New(rand.NewPCG(1, 2)), StartDelay: -1, Rescan: -1,
		ItemRate: 1, ItemBurst: 1, OnUploaded: func(n string) { uploaded <- n }}
	u, err := upload.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	run(t, u)
	<-clk.held // the first clip went; the second waits for its pacing token
	var later []storage.ClipInfo
	for range 4 { // one fits the announcements, three do not
		later = append(later, cam.record(t, 5))
	}
	close(clk.release)
	got := waitFor(t, uploaded, 6)
	want := map[string]bool{}
	for _, c := range append(before, later...) {
		want[c.Name] = true
	}
	for _, n := range got {
		if !want[n] {
			t.Errorf("uploaded %s twice or unknown", n)
		}
		delete(want, n)
	}
	if pending, err := cam.store.Pending(); err != nil || len(pending) != 0 {
		t.Errorf("still pending after the uploads: %+v, %v", pending, err)
	}
}

// TestUploaderCloudBusy: a 503 with Retry-After (the ingest's admission
// control: overloaded) is the cloud being busy, not the camera's fault: the
// uploader waits at least what the ingest asked, plus a jitter of at most
// Backoff.Base, capped at Backoff.Cap; it keeps its queue, does not count
// failures (the outage backoff does not grow), and its status says "cloud
// busy, retrying in Ns". Then the clip goes.
func TestUploaderCloudBusy(t *testing.T) {
	hints := []string{"7", "7", "3600", "1"}
	var (
		mu     sync.Mutex
		served int
	)
	env := ingesttest.Start(t, ingesttest.Options{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			served++
			n := served
			mu.Unlock()
			if n <= len(hints) {
				w.Header().Set(protocol.HeaderRetryAfter, hints[n-1])
				fail(w, http.StatusServiceUnavailable, protocol.CodeOverloaded)
				return
			}
			h.ServeHTTP(w, r)
		})
	}})
	cam := newCamera(t, env, "rosa")
	cam.record(t, 5)
	clk := newFakeClock()
	clk.block = 1000 * time.Hour
	base, capd := 2*time.Second, time.Minute
	var (
		u        *upload.Uploader
		statuses []upload.Status
		waits    []time.Duration
	)
	clk.onWait = func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		if u != nil && len(statuses) < len(hints) {
			statuses = append(statuses, u.Status())
		}
	}
	uploaded := make(chan string, 1)
	u2 := cam.uploader(t, cam.client(t, nil), clk, func(c *upload.Config) {
		c.Backoff = upload.Backoff{Base: base, Cap: capd}
		c.OnUploaded = func(n string) { uploaded <- n }
	})
	mu.Lock()
	u = u2
	mu.Unlock()
	run(t, u2)
	waitFor(t, uploaded, 1)

	mu.Lock()
	defer mu.Unlock()
	if len(waits) < len(hints) || len(statuses) < len(hints) {
		t.Fatalf("waits %v, %d statuses: want one wait and one status per 503", waits, len(statuses))
	}
	for i, h := range hints {
		hint, _ := time.ParseDuration(h + "s")
		low := min(hint, capd)
		if d := waits[i]; d < low || d > low+base {
			t.Errorf("503 %d (Retry-After %ss): waited %v, want within [%v, %v]", i+1, h, d, low, low+base)
		}
		st := statuses[i]
		want := fmt.Sprintf("cloud busy, retrying in %ds", int((waits[i]+time.Second-1)/time.Second))
		if st.State != "busy" || st.Busy != want {
			t.Errorf("status during wait %d: state %q busy %q, want busy %q", i+1, st.State, st.Busy, want)
		}
		if st.Failures != 0 || st.Queued != 1 || st.LastCode != protocol.CodeOverloaded {
			t.Errorf("status during wait %d: %d failures, %d queued, last code %q; want 0, 1 (queue kept), overloaded",
				i+1, st.Failures, st.Queued, st.LastCode)
		}
	}
	if st := u2.Status(); st.Busy != "" || st.Uploaded != 1 {
		t.Errorf("status after the upload: busy %q, %d uploaded", st.Busy, st.Uploaded)
	}
}

// TestStatusUncheckedUntilTheStoreRecovers: after a power cut the restarted
// agent's queue is empty until the store has sealed the clip the cut left
// open; the status says the card is not checked yet (so an operator, or a
// test, does not take the empty queue for a drained backlog), and the clip
// is uploaded once the check has sealed it.
func TestStatusUncheckedUntilTheStoreRecovers(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	cam := newCamera(t, env, "quinn")
	start := t0.Add(time.Hour)
	cw, err := cam.store.Create(storage.ClipSpec{Start: start, Event: 1, Track: mjpeg, FragmentDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 { // two whole fragments and part of a third
		if err := cw.AddSample(fakeJPEG(1000, byte(i)), start.Add(time.Duration(i)*100*time.Millisecond), true); err != nil {
			t.Fatal(err)
		}
	}
	// The power goes: the writer is never sealed. The agent starts again
	// with a new store on the same card.
	s, err := storage.NewStore(storage.StoreConfig{Card: cam.card.Card, OnSeal: cam.seal})
	if err != nil {
		t.Fatal(err)
	}
	cam.store = s
	cam.reopen(t)
	uploaded := make(chan string, 4)
	u := cam.uploader(t, cam.client(t, nil), newFakeClock(), func(c *upload.Config) {
		c.OnUploaded = func(n string) { uploaded <- n }
	})
	run(t, u)
	if st := u.Status(); !st.Unchecked || st.Queued != 0 {
		t.Errorf("before the store's check: unchecked %v, %d queued; want unchecked and nothing queued", st.Unchecked, st.Queued)
	}
	rep, err := s.Recover()
	if err != nil || rep.Sealed != 1 {
		t.Fatalf("Recover: %+v, %v; want one clip sealed", rep, err)
	}
	got := waitFor(t, uploaded, 1)
	if st := u.Status(); st.Unchecked {
		t.Errorf("after the store's check and the upload of %v: still unchecked", got)
	}
}
