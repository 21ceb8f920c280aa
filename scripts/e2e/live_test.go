//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pion/turn/v5"
)

// liveWait bounds each wait of the live step (the page's sign-in, the
// camera's answer, the first pictures under TCG). It only keeps a broken
// link from hanging the test.
const liveWait = 2 * time.Minute

// The guest's TURN server: QEMU's restricted network carries only TCP to
// forwarded ports, so the camera reaches the browser on the host through a
// TURN server in the test (pion/turn, TCP on the host's loopback, relaying
// UDP from the host's address), as a camera behind NAT reaches a viewer
// through TURN.
const (
	guestTURNPort = 3478
	turnUser      = "camera"
	turnRealm     = "camagent-e2e"
	turnCredFile  = "/var/lib/camagent/turn.cred"
)

// startTURN runs a TURN server (TCP, long-term credential for turnUser) on
// the loopback until the test ends; it returns its port and the credential.
func startTURN(t *testing.T) (int, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("TURN: listen: %v", err)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	cred := hex.EncodeToString(b[:])
	key := turn.GenerateAuthKey(turnUser, turnRealm, cred)
	// The relay is on the host's own address, where the browser gathers its
	// candidates (chromium offers no loopback candidate of its own).
	relayIP := net.IPv4(127, 0, 0, 1)
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				relayIP = n.IP.To4()
				break
			}
		}
	}
	s, err := turn.NewServer(turn.ServerConfig{
		Realm: turnRealm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == turnUser
		},
		ListenerConfigs: []turn.ListenerConfig{{Listener: ln,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: relayIP.String()}}},
	})
	if err != nil {
		t.Fatalf("TURN: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().(*net.TCPAddr).Port, cred
}

// checkLive is the live-view step: Debian's chromium, headless, opens the
// dev cloud's page (/app/), signs in as the owner, registers its WebCrypto
// key (the cloud issues a binding naming it beside the CLI key, which is
// installed on the card as a pairing would), and watches the VM camera
// (vivid) live: JPEG pictures over a WebRTC data channel, relayed through
// the TURN server; the page verified the answer's signature against the
// device key pinned at pairing before it connected.
func checkLive(t *testing.T, v *vm, cloud *devCloud, device, turnCred, shotPath string) {
	t.Helper()
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Fatal("chromium is not installed: run `make deps` (Debian package chromium)")
	}

	// The camera's ICE servers, through the owner's signed config patch,
	// and the memory a viewer needs (the qemu-virt budget, 24 MiB, has
	// room for none: see agent/budget).
	v.run(t, fmt.Sprintf("echo %s > %s", turnCred, turnCredFile), 0)
	from := v.mark()
	patch := fmt.Sprintf(`memory_mb = 36\n[live]\nice_servers = ["turn:10.0.2.100:%d?transport=tcp"]\nturn_username = "%s"\nturn_credential_file = "%s"`,
		guestTURNPort, turnUser, turnCredFile)
	if out, err := exec.Command(cloud.tools.cloud, "cmd", "-data", cloud.data, "-account", devAccount, "-device", device,
		"-op", "config-patch", "-patch", patch, "-broker", fmt.Sprintf("tls://127.0.0.1:%d", cloud.mqttPort),
		"-wait", mqttWait.String()).CombinedOutput(); err != nil || !strings.Contains(string(out), "config-patch done") {
		t.Fatalf("camcloud cmd (the [live] ICE servers): %v\n%s\n%s", err, out, v.tail())
	}
	v.waitFor(t, regexp.MustCompile(`msg="config reloaded".*changed=.*live`), from, commandWait,
		"the agent's reload of the [live] patch")

	token, err := exec.Command(cloud.tools.cloud, "token", "-data", cloud.data, "-account", devAccount).Output()
	if err != nil {
		t.Fatalf("camcloud token: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*liveWait)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// The dev cloud's certificate is from its own CA.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("allow-loopback-in-peer-connection", true))
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer bcancel()
	wait := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			ctx, cancel := context.WithTimeout(ctx, liveWait)
			defer cancel()
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
			return err
		})
	}
	click := func(css string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](fmt.Sprintf(`(() => { document.querySelector(%q).click(); return true })()`, css))(ctx, tg)
			return err
		})
	}
	says := func() string {
		s, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('log').textContent + ' | ' +
			document.getElementById('live-status').textContent + ' | connection: ' + window.camagent.liveState +
			' | candidates: ' + JSON.stringify(window.camagent.liveCandidates)`))
		return s
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v\npage says: %s\n%s", what, err, says(), v.tail())
		}
	}
	do("sign in", chromedp.Navigate(cloud.url+"/app/"), chromedp.SendKeys("#account", devAccount),
		chromedp.SendKeys("#token", strings.TrimSpace(string(token))), click("#signin"),
		wait("window.camagent.devicesLoaded === true"))
	do("register the browser's key", click("#register-key"), wait("window.camagent.keyRegistered === true"))

	// The binding the cloud signed for the browser key, installed on the
	// flash beside the device key (the camera verifies it with the pairing key at every offer).
	binding, err := os.ReadFile(filepath.Join(cloud.data, "bindings", device+".binding"))
	if err != nil {
		t.Fatalf("the binding naming the browser key: %v", err)
	}
	id := "/var/lib/camagent"
	v.run(t, fmt.Sprintf("echo %s | base64 -d > %s/owner.binding.new && mv -f %s/owner.binding.new %s/owner.binding",
		base64.StdEncoding.EncodeToString(binding), id, id, id), 0)

	from = v.mark()
	do("live view of the VM camera", click("button.live"), wait("window.camagent.liveFrames >= 5"))
	status, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('live-status').textContent +
		' (connection ' + window.camagent.liveState + ')'`))
	if !strings.Contains(status, "answer signed by its pinned key; jpeg") || !strings.Contains(status, device) {
		t.Errorf("page says %q, want live jpeg from %s with the answer's signature verified", status, device)
	}
	size, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(() => { const c = document.getElementById('live-canvas'); return c.width + 'x' + c.height })()`))
	if err != nil || size != "640x480" {
		t.Errorf("live picture %q (%v), want vivid's 640x480", size, err)
	}
	do("more live pictures", wait("window.camagent.liveFrames >= 15"))
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(90))
	if err == nil {
		if err := os.WriteFile(shotPath, shot, 0o644); err == nil {
			t.Logf("screenshot: %s", shotPath)
		}
	}
	line := v.waitFor(t, regexp.MustCompile(`msg="live: session started".*`), from, commandWait, "the camera's live session line")
	t.Logf("live view from the VM camera in chromium: %s; camera: %s", status, strings.TrimSpace(line[0]))
	do("stop live view", click("#live-stop"))

	// The page lists the camera's clips and the owner's snapshot, each
	// verified in the browser: nothing the camera signed is refused.
	do("the clips", wait("window.camagent.clipsLoaded >= 1"))
	refused, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('#clips .status.refused')).map((e) => e.textContent).join('; ')`))
	if refused != "" {
		t.Errorf("the page refused what the camera signed: %s", refused)
	}
	// The Content Credentials (C2PA) inside them, checked in the page too
	// (web/c2pa.js, against the pinned device key): each valid and naming
	// this camera, a clip's among them.
	creds, _ := chromedp.Run(bctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll('#clips .c2pa')).map((e) => [e.dataset.role, e.className, e.textContent])`))
	clips := 0
	for _, c := range creds {
		if c[1] != "c2pa valid" || !strings.Contains(c[2], "device "+device) {
			t.Errorf("the page shows for a %s: %s, want valid Content Credentials of %s", c[0], c[2], device)
		} else if c[0] == "clip" {
			clips++
		}
	}
	if clips == 0 {
		t.Errorf("the page shows no valid Content Credentials of a clip: %v", creds)
	} else {
		t.Logf("the page shows %d Content Credentials valid, of %d clips; one: %s", len(creds), clips, creds[0][2])
	}
}
