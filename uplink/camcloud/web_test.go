package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
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

// mjpegClip makes a fragmented MP4 MJPEG clip of n synthetic frames (10 fps,
// a fragment per half second; the scene's seed is n, so clips of different
// lengths show different pictures) with the project's muxer, and a
// thumbnail of its first frame.
func mjpegClip(t *testing.T, n int) (clip, thumb []byte) {
	t.Helper()
	src, err := synth.New(synth.Config{Width: 320, Height: 240, FPS: 10, Frames: n, Seed: int64(n)})
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
		if (i+1)%5 == 0 || i == n-1 {
			if _, err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
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

// wrap, when given, stands between the browser and the cloud (a server that
// lies, in the tests of what the page refuses).
func newWebRig(t *testing.T, wrap ...func(http.Handler) http.Handler) *webRig {
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
	h := r.c.handler(ing)
	for _, w := range wrap {
		h = w(h)
	}
	r.hs = httptest.NewUnstartedServer(h)
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

	// Items uploaded by the camera, its clips and pictures carrying Content
	// Credentials (C2PA) signed by its key; the cloud then corrupts clip 2.
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
	send := func(seq uint64, objs ...upload.Object) {
		t.Helper()
		m := manifest.Manifest{Owner: "alice", Seq: seq, BootID: "boot", StartMS: time.Now().UnixMilli(), EndMS: time.Now().UnixMilli() + 2000,
			ClockTrusted: true, Prev: prev}
		for _, o := range objs {
			m.Objects = append(m.Objects, o.Object)
		}
		cose, err := manifest.Sign(m, r.alice.key)
		if err != nil {
			t.Fatal(err)
		}
		prev = sha256.Sum256(cose)
		it := upload.Item{Manifest: cose, Seq: seq, Objects: objs}
		if done, err := cl.Send(context.Background(), &it, nil, nil); err != nil || !done {
			t.Fatalf("upload %d: %v (done %v)", seq, err, done)
		}
	}
	obj := func(role, mediaType string, data []byte) upload.Object {
		return upload.Object{Object: manifest.Object{Role: role, MediaType: mediaType, Size: uint64(len(data)), SHA256: sha256.Sum256(data)}, Data: data}
	}
	signer := c2paSigner(t, r.c, r.alice.key)
	captured := time.Now().Add(-time.Minute).UTC()
	item := func(seq uint64, clip, thumb []byte) {
		t.Helper()
		send(seq, obj(manifest.RoleClip, "video/mp4", clip), obj(manifest.RoleThumbnail, "image/jpeg", thumb))
	}
	// Clips of different lengths: the ingest stores equal objects once
	// (by SHA-256), so tampering with clip 2 would change clip 1 too.
	clip1, thumb1 := signedMedia(t, signer, 20, captured)
	item(1, clip1, thumb1)
	clip2, thumb2 := signedMedia(t, signer, 22, captured)
	item(2, clip2, thumb2)
	// #3 is a snapshot (the owner's snapshot command): one signed JPEG, no
	// clip; the page shows it verified, not as a clip without a video.
	_, snap := signedMedia(t, signer, 6, captured)
	send(3, obj("snapshot", "image/jpeg", snap))
	// Media whose Content Credentials do not hold, under a manifest of the
	// camera's own that names them as they are (so only the C2PA check in
	// the page can tell): #4 a pixel byte of the thumbnail flipped and a
	// fragment of the clip changed after C2PA signing; #5 the credentials
	// of another camera's clip and picture moved onto this camera's; #6 a
	// snapshot whose claim was changed (the signature no longer covers it);
	// #7 one whose capture time was rewritten (its assertion's hash in the
	// claim no longer matches).
	clip4, thumb4 := signedMedia(t, signer, 16, captured)
	item(4, tamperFragment(t, clip4, 1), flipPixel(t, thumb4))
	bobKey, _, err := identity.OpenDeviceKey(filepath.Join(t.TempDir(), "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	bobClip, bobThumb := signedMedia(t, c2paSigner(t, r.c, bobKey), 12, captured)
	clip5, thumb5 := signedMedia(t, signer, 14, captured)
	item(5, movedManifest(t, clip5, bobClip), movedManifest(t, thumb5, bobThumb))
	send(6, obj("snapshot", "image/jpeg", rewrite(t, snap, "xmp:iid:", "xmp:iiD:")))
	when := captured.Format(time.RFC3339Nano)
	send(7, obj("snapshot", "image/jpeg", rewrite(t, snap, when, "1"+when[1:])))
	stored := filepath.Join(r.data, ingestDir, "store", "devices", id, fmt.Sprintf("%020d", 2), "obj-clip")
	b, err := os.ReadFile(stored)
	if err != nil {
		t.Fatalf("the stored clip to tamper with: %v", err)
	}
	b[len(b)-100] ^= 0xff
	// The ingest stores an object it already holds once (a hard link):
	// replace the second's file rather than write through a link, so that
	// only clip 2 is tampered with.
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

	// Content Credentials, checked in the page beside its own checks: valid
	// and naming this camera for what it signed, invalid with the reason for
	// each kind of tampering.
	creds := func(seq int, role string) string {
		return p.eval(fmt.Sprintf(`(() => { const e = document.querySelector('.clip[data-seq="%d"] .c2pa[data-role="%s"]'); return e ? e.className + ': ' + e.textContent : 'none shown' })()`, seq, role))
	}
	bob := bobKey.DeviceID()
	for _, c := range []struct {
		seq       int
		role      string
		want      []string
		ownStatus string // what the page's own check says of the item
	}{
		{1, "clip", []string{"c2pa valid", "signed by " + id, "device " + id, "captured " + when, "all 4 fragments match", "no trusted time-stamp"}, "verified"},
		{1, "thumbnail", []string{"c2pa valid", "signed by " + id, "device " + id, "captured " + when, "no trusted time-stamp"}, "verified"},
		{2, "clip", []string{"c2pa invalid", "fragment 4 ", "changed after signing"}, "REFUSED"},
		{3, "snapshot", []string{"c2pa valid", "signed by " + id, "device " + id}, "verified snapshot"},
		{4, "thumbnail", []string{"c2pa invalid", "the picture changed after signing"}, "verified"},
		{4, "clip", []string{"c2pa invalid", "fragment 1 ", "changed after signing"}, "verified"},
		{5, "thumbnail", []string{"c2pa invalid", `signed by the key of "` + bob + `", not by ` + id + "'s pinned key"}, "verified"},
		{5, "clip", []string{"c2pa invalid", `signed by the key of "` + bob + `", not by ` + id + "'s pinned key"}, "verified"},
		{6, "snapshot", []string{"c2pa invalid", "the claim signature does not verify with the pinned key"}, "verified snapshot"},
		{7, "snapshot", []string{"c2pa invalid", "the assertion com.camagent.capture changed after signing"}, "verified snapshot"},
	} {
		got := creds(c.seq, c.role)
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("#%d %s: the page shows %q, want %q in it", c.seq, c.role, got, w)
			}
		}
		if st := status(c.seq); !strings.Contains(st, c.ownStatus) {
			t.Errorf("#%d: the page's own check says %q, want %q", c.seq, st, c.ownStatus)
		}
		t.Logf("#%d %s: %s", c.seq, c.role, got)
	}
	if log := p.eval(`document.getElementById('log').textContent`); !strings.Contains(log, "REFUSED the Content Credentials of the thumbnail of #4") {
		t.Errorf("the refusals do not list #4's Content Credentials: %s", log)
	}
	p.screenshot("clips-content-credentials.png")

	// Every byte the hashes cover counts: #1's thumbnail and clip, with one
	// such byte flipped (spread over the file) or cut short, are never
	// shown valid.
	s, e := app11Span(t, thumb1)
	p.coverage(id, "thumbnail", thumb1, [][2]int{{0, s}, {e, len(thumb1)}})
	var covered [][2]int // the clip: all but ftyp and the C2PA uuid boxes
	for i := 0; i < len(clip1); {
		n := int(binary.BigEndian.Uint32(clip1[i:]))
		if typ := string(clip1[i+4 : i+8]); typ != "ftyp" && typ != "uuid" {
			covered = append(covered, [2]int{i, i + n})
		}
		i += n
	}
	p.coverage(id, "clip", clip1, covered)
}

// coverage has the page's C2PA check (web/c2pa.js, against the pinned key)
// read item 1's object role as uploaded (b), then copies with one byte in
// the ranges flipped (150 places spread over them) and cut at 16 lengths:
// the original must be valid, no copy.
func (p *page) coverage(device, role string, b []byte, ranges [][2]int) {
	p.t.Helper()
	var all []int
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i++ {
			all = append(all, i)
		}
	}
	var flips, cuts []int
	for k := range 150 {
		flips = append(flips, all[k*len(all)/150])
	}
	for k := 1; k <= 16; k++ {
		cuts = append(cuts, k*len(b)/17)
	}
	args, _ := json.Marshal([]any{device, role, flips, cuts})
	res, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(async (device, role, flips, cuts) => {
		const { checkJPEG, checkMP4 } = await import('./c2pa.js');
		const { token } = JSON.parse(sessionStorage.getItem('camagent'));
		const get = async (path) => { const r = await fetch(path, { headers: { Authorization: 'Bearer ' + token } }); if (!r.ok) throw new Error(path + ': ' + r.status); return r; };
		const d = (await (await get('/app/api/devices')).json()).devices.find((x) => x.id === device);
		const spki = Uint8Array.from(atob(d.public_key), (c) => c.charCodeAt(0));
		const pinned = { spki, key: await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']) };
		const b = new Uint8Array(await (await get('/v1/items/' + device + '/1/' + role)).arrayBuffer());
		const check = role === 'clip' ? checkMP4 : checkJPEG;
		const out = { base: (await check(b, device, pinned)).state, valid: [], states: {} };
		const tally = async (what, c) => { const st = (await check(c, device, pinned)).state; out.states[st] = (out.states[st] || 0) + 1; if (st === 'valid') out.valid.push(what); };
		for (const i of flips) { const c = b.slice(); c[i] ^= 0x20; await tally('flip ' + i, c); }
		for (const n of cuts) await tally('cut at ' + n, b.slice(0, n));
		return JSON.stringify(out);
	})(...`+string(args)+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("coverage of the %s: %v", role, err)
	}
	var out struct {
		Base   string
		Valid  []string
		States map[string]int
	}
	if err := json.Unmarshal([]byte(res), &out); err != nil {
		p.t.Fatal(err)
	}
	if out.Base != "valid" || len(out.Valid) > 0 {
		p.t.Errorf("the %s as signed: %s, want valid; valid after a change: %v", role, out.Base, out.Valid)
	}
	p.t.Logf("the %s with a covered byte flipped (%d places) or cut short (%d lengths): %v", role, len(flips), len(cuts), out.States)
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
