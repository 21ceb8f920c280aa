package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
	"github.com/camagent/camagent/storage/fmp4"
	"github.com/camagent/camagent/storage/fmp4/fmp4test"
	"github.com/camagent/camagent/storage/jpegframe"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/live"
	"github.com/camagent/camagent/uplink/live/livetest"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/upload"
	"github.com/chromedp/chromedp"
)

// mjpegClip makes a fragmented MP4 MJPEG clip of n synthetic frames (10 fps)
// with the project's muxer, and a thumbnail of its first frame.
func mjpegClip(t *testing.T, n int) (clip, thumb []byte) {
	t.Helper()
	src, err := synth.New(synth.Config{Width: 320, Height: 240, FPS: 10, Frames: n, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	w, err := fmp4.NewWriter(&out, fmp4.Track{Codec: fmp4.MJPEG, Width: 320, Height: 240, Timescale: 90000})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteInit(); err != nil {
		t.Fatal(err)
	}
	var pic jpegframe.Picture
	var jpg, th bytes.Buffer
	for i := range n {
		f, err := src.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := pic.Load(f.Format, f.Data); err != nil {
			t.Fatal(err)
		}
		jpg.Reset()
		if err := pic.Encode(&jpg, 70); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			var tn jpegframe.Thumbnailer
			if err := tn.FromFrame(&th, f.Format, f.Data); err != nil {
				t.Fatal(err)
			}
		}
		f.Release()
		if err := w.AddSample(jpg.Bytes(), time.Duration(i)*100*time.Millisecond, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), th.Bytes()
}

type busRelay struct{ bus *livetest.Bus }

func (b busRelay) For(id string) live.Transport { return b.bus.For(id) }

// needChromium returns the browser binary or fails saying how to get it.
func needChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run `make deps` (Debian package chromium)")
	return ""
}

// webRig is the cloud of one account ("alice") with one enrolled and paired
// camera, serving the page over TLS, with live-view signaling relayed over an
// in-process bus (MQTT in production).
type webRig struct {
	data, id, token string
	alice           provisioned
	c               *cloud
	hs              *httptest.Server
	bus             *livetest.Bus
}

func newWebRig(t *testing.T) *webRig {
	t.Helper()
	r := &webRig{data: t.TempDir(), bus: &livetest.Bus{}}
	mustRun(t, "init", "-data", r.data, "-log-level", "error")
	r.alice = provision(t, r.data, "alice")
	r.id = r.alice.key.DeviceID()
	r.token = string(bytes.TrimSpace([]byte(mustRun(t, "token", "-data", r.data, "-account", "alice"))))
	var err error
	r.c, _, err = openCloud(r.data, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	r.c.live = busRelay{r.bus}
	cert, err := r.c.serverCert(splitHosts(defaultHosts))
	if err != nil {
		t.Fatal(err)
	}
	ing, err := r.c.ingestServer(ingest.DefaultMaxObjectSize, ingest.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	r.hs = httptest.NewUnstartedServer(r.c.handler(ing))
	r.hs.TLS = ingest.TLSConfig(cert)
	r.hs.StartTLS()
	t.Cleanup(r.hs.Close)
	return r
}

// startCamera runs the camera's live view until the test ends: a Server
// answering over the bus, its owner keys only from the binding file the
// cloud signs, fed by open's sources at 10 frames/s (open(loop) again at the
// end of each, with later timestamps).
func (r *webRig) startCamera(t *testing.T, open func(loop int) (capture.Source, error)) *live.Server {
	t.Helper()
	pairingPub, err := identity.ParsePublicKeyPEM(must(os.ReadFile(filepath.Join(r.data, pairingPubFile))))
	if err != nil {
		t.Fatal(err)
	}
	src, err := open(0)
	if err != nil {
		t.Fatal(err)
	}
	format := src.Format()
	hub := &capture.Hub{}
	srv, err := live.NewServer(live.Config{DeviceID: r.id, Signer: r.alice.key, Hub: hub, Transport: r.bus.For(r.id),
		Owner: func() (identity.OwnerBinding, error) {
			return identity.LoadOwnerBinding(filepath.Join(r.data, "bindings", r.id+".binding"), pairingPub, r.id)
		},
		Format: func() capture.Format { return format }, IncludeLoopback: true, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = srv.Run(ctx); done <- struct{}{} }()
	go func() {
		defer func() { done <- struct{}{} }()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for loop := 1; ; loop++ {
			for {
				f, err := src.Next(ctx)
				if err != nil {
					break
				}
				hub.Publish(f)
				f.Release()
				select {
				case <-ctx.Done():
					src.Close()
					return
				case <-tick.C:
				}
			}
			src.Close()
			if src, err = open(loop); err != nil || ctx.Err() != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { stop(); <-done; <-done })
	return srv
}

// page is the owner's page in Debian's chromium, headless.
type page struct {
	t   *testing.T
	ctx context.Context
}

func openPage(ctx context.Context, t *testing.T, url string) *page {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(needChromium(t)), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(bcancel)
	p := &page{t: t, ctx: bctx}
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	return p
}

// wait polls the JavaScript condition expr until it holds (no time limit of
// its own: the test's context bounds it).
func wait(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
		return err
	})
}

func click(css string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) throw new Error('no ' + %q); e.click(); return true })()`, css, css))(ctx, tg)
		return err
	})
}

// do runs actions; on failure the test ends with what the page says.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v\npage says: %s", what, err, p.says())
	}
}

func (p *page) says() string {
	s, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.getElementById('log').textContent + ' | ' + document.getElementById('live-status').textContent`))
	return s
}

func (p *page) eval(expr string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	return s
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	shot, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.t.TempDir(), name)
	if dir := os.Getenv("CAMAGENT_SCREENSHOT_DIR"); dir != "" {
		path = filepath.Join(dir, name)
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

// signInAndWatch signs in as alice, registers the browser's owner key (the
// cloud then issues a binding naming it beside the account's CLI key) and
// opens live view of the camera.
func (p *page) signInAndWatch(r *webRig) {
	p.t.Helper()
	p.do("sign in", chromedp.SendKeys("#account", "alice"), chromedp.SendKeys("#token", r.token), click("#signin"),
		wait("window.camagent.devicesLoaded === true"))
	p.do("register the browser key", click("#register-key"), wait("window.camagent.keyRegistered === true"))
	p.do("open live view", click("button.live"))
}

// TestWebPageInChromium: Debian's chromium, headless, signs in as a dev
// account, registers its owner key, watches the camera live (the picture
// must change), shows a verified clip and plays it, and shows a clip the
// cloud tampered with as refused. The CLI's owner key still opens live view
// once the binding also names the browser's.
func TestWebPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	r := newWebRig(t)
	id := r.id

	// Two clips uploaded by the camera; the cloud then corrupts the second.
	tlsCfg, err := upload.TLSConfig(r.alice.key, r.alice.cert, must(os.ReadFile(filepath.Join(r.data, "ca.crt"))), "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := upload.NewClient(upload.ClientConfig{URL: r.hs.URL, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	var prev [32]byte
	for seq := uint64(1); seq <= 2; seq++ {
		// Clips of different lengths: the ingest stores equal objects once
		// (by SHA-256), so tampering with clip 2 would change clip 1 too.
		clip, thumb := mjpegClip(t, 18+2*int(seq))
		m := manifest.Manifest{Owner: "alice", Seq: seq, BootID: "boot", StartMS: time.Now().UnixMilli(), EndMS: time.Now().UnixMilli() + 2000,
			ClockTrusted: true, Prev: prev, Objects: []manifest.Object{
				{Role: manifest.RoleClip, MediaType: "video/mp4", Size: uint64(len(clip)), SHA256: sha256.Sum256(clip)},
				{Role: manifest.RoleThumbnail, MediaType: "image/jpeg", Size: uint64(len(thumb)), SHA256: sha256.Sum256(thumb)}}}
		cose, err := manifest.Sign(m, r.alice.key)
		if err != nil {
			t.Fatal(err)
		}
		prev = sha256.Sum256(cose)
		it := upload.Item{Manifest: cose, Seq: seq, Objects: []upload.Object{{Object: m.Objects[0], Data: clip}, {Object: m.Objects[1], Data: thumb}}}
		if done, err := cl.Send(context.Background(), &it, nil, nil); err != nil || !done {
			t.Fatalf("upload %d: %v (done %v)", seq, err, done)
		}
	}
	// #3 is a snapshot (the owner's snapshot command): one signed JPEG, no
	// clip; the page shows it verified, not as a clip without a video.
	_, snap := mjpegClip(t, 24)
	m := manifest.Manifest{Owner: "alice", Seq: 3, BootID: "boot", StartMS: time.Now().UnixMilli(), EndMS: time.Now().UnixMilli(),
		ClockTrusted: true, Prev: prev, Objects: []manifest.Object{
			{Role: "snapshot", MediaType: "image/jpeg", Size: uint64(len(snap)), SHA256: sha256.Sum256(snap)}}}
	cose, err := manifest.Sign(m, r.alice.key)
	if err != nil {
		t.Fatal(err)
	}
	snapItem := upload.Item{Manifest: cose, Seq: 3, Objects: []upload.Object{{Object: m.Objects[0], Data: snap}}}
	if done, err := cl.Send(context.Background(), &snapItem, nil, nil); err != nil || !done {
		t.Fatalf("upload the snapshot: %v (done %v)", err, done)
	}
	stored := filepath.Join(r.data, ingestDir, "store", "devices", id, fmt.Sprintf("%020d", 2), "obj-clip")
	b, err := os.ReadFile(stored)
	if err != nil {
		t.Fatalf("the stored clip to tamper with: %v", err)
	}
	b[len(b)-100] ^= 0xff
	// The two clips are the same bytes, and the ingest stores an object it
	// already holds once (a hard link): replace the second's file rather than
	// write through the link, so that only clip 2 is tampered with.
	if err := os.Remove(stored); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stored, b, 0o600); err != nil {
		t.Fatal(err)
	}

	// The camera: a raw synthetic source.
	srv := r.startCamera(t, func(int) (capture.Source, error) {
		return synth.New(synth.Config{Width: 320, Height: 240, FPS: 10, Frames: 1 << 20, Seed: 5})
	})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := openPage(ctx, t, r.hs.URL+PathApp)
	p.signInAndWatch(r)
	p.do("live view", wait("window.camagent.liveFrames >= 3"))
	canvas := `document.getElementById('live-canvas').toDataURL()`
	first := p.eval(canvas)
	p.do("live view", wait("window.camagent.liveFrames >= 10"))
	later := p.eval(canvas)
	p.screenshot("live-view.png")
	if first == later {
		t.Error("the live picture does not change")
	}
	if st := srv.Status(); st.Accepted != 1 || st.Viewers != 1 {
		t.Errorf("device status %+v", st)
	}

	// The binding the cloud issued for the browser key names the account's
	// CLI key too: a viewer holding the CLI's file key gets pictures.
	cliKey, err := accountKey(r.data, "alice")
	if err != nil {
		t.Fatal(err)
	}
	v, err := live.Dial(ctx, live.ViewerConfig{DeviceID: id, DeviceKey: r.alice.key.Public().(*ecdsa.PublicKey),
		Owner: cliKey, Transport: r.bus.For(id), IncludeLoopback: true})
	if err != nil {
		t.Fatalf("live view with the CLI key after the browser's registration: %v", err)
	}
	select {
	case <-v.Pictures:
	case <-ctx.Done():
		t.Fatalf("no picture for the CLI key's viewer: %v", ctx.Err())
	}
	v.Close()

	// Clips: #1 verified and played, #2 refused with the reason.
	p.do("clips", wait("window.camagent.clipsLoaded >= 1"))
	status := func(seq int) string {
		return p.eval(fmt.Sprintf(`document.querySelector('.clip[data-seq="%d"] .status').textContent`, seq))
	}
	status1, status2 := status(1), status(2)
	p.do("playing clip 1", click(`.clip[data-seq="1"] button.play`), wait("window.camagent.clipFramesDrawn >= 5"))
	if !strings.Contains(status1, "verified") {
		t.Errorf("clip 1: %q, want verified", status1)
	}
	if !strings.Contains(status2, "REFUSED") || !strings.Contains(status2, "SHA-256") {
		t.Errorf("clip 2 (tampered): %q, want refused for its SHA-256", status2)
	}
	if status3 := status(3); !strings.Contains(status3, "verified snapshot") {
		t.Errorf("snapshot 3: %q, want verified snapshot", status3)
	}
	t.Logf("clip 1: %s\nclip 2: %s", status1, status2)
}

// TestLiveH264InChromium: with an H.264 camera (an Annex B file made by
// Debian's ffmpeg, played in a loop) the page receives the video track and
// chromium decodes it: the video element has a size and its presented-frame
// count (requestVideoFrameCallback) keeps advancing.
func TestLiveH264InChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	r := newWebRig(t)
	data := fmp4test.H264Fixture(t, "320x240", 30, "-pix_fmt", "yuv420p", "-profile:v", "baseline")
	epoch := time.Now()
	srv := r.startCamera(t, func(loop int) (capture.Source, error) {
		return livetest.NewAnnexB(data, 10, epoch.Add(time.Duration(loop)*3*time.Second))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := openPage(ctx, t, r.hs.URL+PathApp)
	p.signInAndWatch(r)
	p.do("H.264 live view", wait("window.camagent.videoFrames >= 5 && window.camagent.videoWidth > 0"))
	first := p.eval(`String(window.camagent.videoFrames)`)
	p.do("H.264 live view", wait(fmt.Sprintf("window.camagent.videoFrames >= %s + 10", first)))
	size := p.eval(`(() => { const v = document.getElementById('live-video'); return v.videoWidth + 'x' + v.videoHeight })()`)
	if size != "320x240" {
		t.Errorf("decoded video is %s, want 320x240", size)
	}
	if s := p.says(); !strings.Contains(s, "h264") {
		t.Errorf("page says %q, want live h264", s)
	}
	p.screenshot("live-view-h264.png")
	if st := srv.Status(); st.Viewers != 1 || st.Sessions[0].Media != live.MediaH264 || st.Sessions[0].Sent == 0 {
		t.Errorf("device status %+v", st)
	}
	t.Logf("presented %s frames at %s", p.eval(`String(window.camagent.videoFrames)`), size)
}
