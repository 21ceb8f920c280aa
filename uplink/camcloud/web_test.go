package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
	"github.com/camagent/camagent/storage/fmp4"
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

// TestWebPageInChromium: Debian's chromium, headless, signs in as a dev
// account, registers its owner key, watches the camera live (the picture
// must change), shows a verified clip and plays it, and shows a clip the
// cloud tampered with as refused.
func TestWebPageInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no browser")
	}
	browser := needChromium(t)
	data := t.TempDir()
	mustRun(t, "init", "-data", data, "-log-level", "error")
	alice := provision(t, data, "alice")
	id := alice.key.DeviceID()
	token := bytes.TrimSpace([]byte(mustRun(t, "token", "-data", data, "-account", "alice")))

	// The cloud, with an in-process relay to the device (MQTT in production).
	bus := &livetest.Bus{}
	c, _, err := openCloud(data, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	c.live = busRelay{bus}
	cert, err := c.serverCert(splitHosts(defaultHosts))
	if err != nil {
		t.Fatal(err)
	}
	ing, err := c.ingestServer(ingest.DefaultMaxObjectSize)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(c.handler(ing))
	hs.TLS = ingest.TLSConfig(cert)
	hs.StartTLS()
	defer hs.Close()

	// Two clips uploaded by the camera; the cloud then corrupts the second.
	tlsCfg, err := upload.TLSConfig(alice.key, alice.cert, must(os.ReadFile(filepath.Join(data, "ca.crt"))), "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := upload.NewClient(upload.ClientConfig{URL: hs.URL, TLS: tlsCfg})
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
		cose, err := manifest.Sign(m, alice.key)
		if err != nil {
			t.Fatal(err)
		}
		prev = sha256.Sum256(cose)
		it := upload.Item{Manifest: cose, Seq: seq, Objects: []upload.Object{{Object: m.Objects[0], Data: clip}, {Object: m.Objects[1], Data: thumb}}}
		if done, err := cl.Send(context.Background(), &it, nil, nil); err != nil || !done {
			t.Fatalf("upload %d: %v (done %v)", seq, err, done)
		}
	}
	stored := filepath.Join(data, ingestDir, "store", "devices", id, fmt.Sprintf("%020d", 2), "obj-clip")
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

	// The camera: a raw synthetic source, live view answering over the bus,
	// owner keys only from the binding file the cloud signs.
	pairingPub, err := identity.ParsePublicKeyPEM(must(os.ReadFile(filepath.Join(data, pairingPubFile))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hub := &capture.Hub{}
	src, err := synth.New(synth.Config{Width: 320, Height: 240, FPS: 10, Frames: 1 << 20, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := live.NewServer(live.Config{DeviceID: id, Signer: alice.key, Hub: hub, Transport: bus.For(id),
		Owner: func() (identity.OwnerBinding, error) {
			return identity.LoadOwnerBinding(filepath.Join(data, "bindings", id+".binding"), pairingPub, id)
		},
		Format: src.Format, IncludeLoopback: true, FPS: 10})
	if err != nil {
		t.Fatal(err)
	}
	devCtx, devStop := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { _ = srv.Run(devCtx); done <- struct{}{} }()
	go func() {
		defer func() { done <- struct{}{} }()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			f, err := src.Next(devCtx)
			if err != nil {
				return
			}
			hub.Publish(f)
			f.Release()
			select {
			case <-devCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { devStop(); <-done; <-done }()

	// The browser.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer bcancel()
	wait := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
			return err
		})
	}
	click := func(css string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) throw new Error('no ' + %q); e.click(); return true })()`, css, css))(ctx, tg)
			return err
		})
	}
	canvas := func() (string, error) {
		return chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('live-canvas').toDataURL()`))
	}
	pageSays := func() string {
		s, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('log').textContent + ' | ' + document.getElementById('live-status').textContent`))
		return s
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(hs.URL+PathApp),
		chromedp.SendKeys("#account", "alice"),
		chromedp.SendKeys("#token", string(token)),
		click("#signin"),
		wait("window.camagent.devicesLoaded === true"),
		click("#register-key"),
		wait("window.camagent.keyRegistered === true"),
		click("button.live"),
		wait("window.camagent.liveFrames >= 3"),
	); err != nil {
		t.Fatalf("live view: %v\npage says: %s", err, pageSays())
	}
	first, err := canvas()
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(bctx, wait("window.camagent.liveFrames >= 10")); err != nil {
		t.Fatalf("live view: %v\npage says: %s", err, pageSays())
	}
	later, err := canvas()
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if first == later {
		t.Error("the live picture does not change")
	}
	shotPath := filepath.Join(t.TempDir(), "live.png")
	if dir := os.Getenv("CAMAGENT_SCREENSHOT_DIR"); dir != "" {
		shotPath = filepath.Join(dir, "live-view.png")
	}
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shotPath)
	if st := srv.Status(); st.Accepted != 1 || st.Viewers != 1 {
		t.Errorf("device status %+v", st)
	}

	// Clips: #1 verified and played, #2 refused with the reason.
	if err := chromedp.Do(bctx, wait("window.camagent.clipsLoaded >= 1")); err != nil {
		t.Fatalf("clips: %v\npage says: %s", err, pageSays())
	}
	status := func(seq int) string {
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('.clip[data-seq="%d"] .status').textContent`, seq)))
		if err != nil {
			t.Fatalf("clip %d: %v", seq, err)
		}
		return s
	}
	status1, status2 := status(1), status(2)
	if err := chromedp.Do(bctx, click(`.clip[data-seq="1"] button.play`), wait("window.camagent.clipFramesDrawn >= 5")); err != nil {
		t.Fatalf("playing clip 1: %v\npage says: %s", err, pageSays())
	}
	if !bytes.Contains([]byte(status1), []byte("verified")) {
		t.Errorf("clip 1: %q, want verified", status1)
	}
	if !bytes.Contains([]byte(status2), []byte("REFUSED")) || !bytes.Contains([]byte(status2), []byte("SHA-256")) {
		t.Errorf("clip 2 (tampered): %q, want refused for its SHA-256", status2)
	}
	t.Logf("clip 1: %s\nclip 2: %s", status1, status2)
}
