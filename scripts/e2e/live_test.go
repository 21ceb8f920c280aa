//go:build linux

package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// liveWait bounds each wait of the live step (the page's sign-in, the
// camera's answer, the first pictures under TCG). It only keeps a broken
// link from hanging the test.
const liveWait = 2 * time.Minute

// guestTURNPort is where the guest reaches the dev cloud's TURN server
// (camcloud serve -turn, forwarded; [live] ice_servers in
// scripts/qemu/camagent.toml): QEMU's restricted network carries only TCP
// to forwarded ports, so the camera reaches the browser on the host through
// TURN, as a camera behind NAT reaches a viewer.
const guestTURNPort = 3478

// checkLive is the live-view step: Debian's chromium, headless, opens the
// dev cloud's page (/app/), signs in as the owner, registers its WebCrypto
// key (the cloud signs a binding naming it beside the CLI key and sends it
// over MQTT; the camera verifies and installs it), and watches the VM
// camera (vivid) live: JPEG pictures over a WebRTC data channel, relayed
// through the dev cloud's TURN server; the page verified the answer's
// signature against the device key pinned at pairing before it connected.
func checkLive(t *testing.T, v *vm, cloud *devCloud, device, shotPath string) {
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

	// No config patch first: the qemu-virt board's live allowance (12 MiB
	// beyond its 24 MiB budget while a viewer is connected, agent/budget)
	// admits one viewer. The ICE servers ([live] in
	// scripts/qemu/camagent.toml) point at the dev cloud's TURN server with
	// the credential on the flash.
	token, err := exec.Command(cloud.tools.cloud, "token", "-data", cloud.data, "-account", devAccount).Output()
	if err != nil {
		t.Fatalf("camcloud token: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*liveWait)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
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
			v.fatalf(t, "%s: %v\npage says: %s\n%s", what, err, says(), v.tail())
		}
	}
	// doLive is do for a wait on live pictures: when it fails, the log's
	// tail says which stage stalled — how many pictures the page drew and
	// what it received, and the camera's own count of each live session
	// (pictures encoded, sent and skipped, bytes) from ctl status.
	doLive := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		err := chromedp.Do(bctx, actions...)
		if err == nil {
			return
		}
		page, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`'pictures drawn: ' + window.camagent.liveFrames +
			', data channel: ' + JSON.stringify(window.camagent.liveStats || null)`))
		t.Logf("%s: the page: %s; %s", what, page, says())
		t.Logf("%s: the camera's live sessions (ctl status):\n%s", what, v.run(t, "camagent ctl status", 0))
		v.fatalf(t, "%s: %v (pictures drawn by the page: %s)\n%s", what, err, page, v.tail())
	}
	do("sign in", chromedp.Navigate(cloud.url+"/app/"), chromedp.SendKeys("#account", devAccount),
		chromedp.SendKeys("#token", strings.TrimSpace(string(token))), click("#signin"),
		wait("window.camagent.devicesLoaded === true"))
	from := v.mark()
	do("register the browser's key", click("#register-key"), wait("window.camagent.keyRegistered === true"))
	// The cloud sent the binding naming the browser key over MQTT; the
	// camera installs it (pairing key, this device, newer than its own).
	inst := v.waitFor(t, regexp.MustCompile(`msg="owner binding installed".*`), from, commandWait,
		"the camera's install of the binding naming the browser key")
	t.Logf("camera: %s", strings.TrimSpace(inst[0]))

	before := guestRSS(t, v, "before the viewer")
	from = v.mark()
	doLive("live view of the VM camera", click("button.live"), wait("window.camagent.liveFrames >= 5"))
	status, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('live-status').textContent +
		' (connection ' + window.camagent.liveState + ')'`))
	if !strings.Contains(status, "answer signed by its pinned key; jpeg") || !strings.Contains(status, device) {
		t.Errorf("page says %q, want live jpeg from %s with the answer's signature verified", status, device)
	}
	size, err := chromedp.Run(bctx, chromedp.Evaluate[string](`(() => { const c = document.getElementById('live-canvas'); return c.width + 'x' + c.height })()`))
	if err != nil || size != "640x480" {
		t.Errorf("live picture %q (%v), want vivid's 640x480", size, err)
	}
	doLive("more live pictures", wait("window.camagent.liveFrames >= 15"))
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(90))
	if err == nil {
		if err := os.WriteFile(shotPath, shot, 0o644); err == nil {
			t.Logf("screenshot: %s", shotPath)
		}
	}
	line := v.waitFor(t, regexp.MustCompile(`msg="live: session started".*`), from, commandWait, "the camera's live session line")
	t.Logf("live view from the VM camera in chromium: %s; camera: %s", status, strings.TrimSpace(line[0]))
	with := guestRSS(t, v, "with one viewer")
	do("stop live view", click("#live-stop"))
	v.waitFor(t, regexp.MustCompile(`msg="live: session (ended|idle)[^"]*".*`), from, commandWait, "the camera's end of the live session")
	after := guestRSS(t, v, "after the viewer left")
	// A second, short session (a few seconds, less than the memory part's
	// 10 s between samples, which must still see it end: sessionsEnded):
	// what the first left behind (the runtime's records of its goroutines,
	// one-time caches) is paid once, so the figure after the second is the
	// first's, not higher.
	drawn, _ := chromedp.Run(bctx, chromedp.Evaluate[int](`window.camagent.liveFrames`))
	from = v.mark()
	doLive("a second live session", click("button.live"), wait(fmt.Sprintf("window.camagent.liveFrames >= %d", drawn+10)))
	v.waitFor(t, regexp.MustCompile(`msg="live: session started".*`), from, commandWait, "the camera's second live session line")
	do("stop the second live view", click("#live-stop"))
	v.waitFor(t, regexp.MustCompile(`msg="live: session (ended|idle)[^"]*".*`), from, commandWait, "the camera's end of the second live session")
	again := guestRSS(t, v, "after a second viewer left")
	t.Logf("agent memory in the guest (issue 11: <= 36 MB with one viewer, back to the first figure after):\n  before a viewer: %s\n  with one viewer: %s\n  after it left:   %s\n  after a second viewer left: %s", before, with, after, again)

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

// guestRSS samples the agent's resident size in the guest six times, 5 s
// apart (the guest's sleep, as TestMemCheck), and says min/median/max in MB
// of VmRSS and of its parts: RssAnon, the anonymous memory (the Go heap and
// runtime, stacks; only the agent can give it back), and the file-backed
// pages, RssFile (vivid's mapped buffers) plus RssShmem (the binary's code
// and read-only data the kernel paged in: the binary lives in the
// initramfs, a RAM filesystem, so its pages count as shared memory). It is
// a figure for the log, not a check.
func guestRSS(t *testing.T, v *vm, when string) string {
	t.Helper()
	const sample = `sleep 5; awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/{printf "%s %s ", $1, $2} END{print ""}' /proc/$(cat /run/camera/camagent.pid)/status`
	// The collections over the samples: the Go runtime above its memory
	// limit collects back to back.
	var ms0 memStatus
	decodeJSON(v.run(t, "camagent ctl status -json", 0), &ms0)
	var rss, anon, file, shmem []float64
	for range 6 {
		m := rssSplitRE.FindStringSubmatch(v.runFor(t, sample, 0, commandWait+5*time.Second))
		if m == nil {
			t.Fatalf("no RSS sample in the guest's output (%s)", when)
		}
		for i, to := range []*[]float64{&rss, &anon, &file, &shmem} {
			kb, _ := strconv.ParseInt(m[i+1], 10, 64)
			*to = append(*to, float64(kb)*1024/1e6)
		}
	}
	f := func(name string, x []float64) string {
		s := slices.Clone(x)
		slices.Sort(s)
		for i := range x {
			x[i] = math.Round(x[i]*10) / 10
		}
		return fmt.Sprintf("%s min %.1f, median %.1f, max %.1f MB (samples %v)", name, s[0], s[len(s)/2], s[len(s)-1], x)
	}
	// And the agent's own view at the end: the Go heap's objects, and all
	// the Go runtime holds (heap spans, stacks, GC metadata) less what it
	// returned to the kernel.
	heap := "agent status unreadable"
	var ms memStatus
	if err := decodeJSON(v.run(t, "camagent ctl status -json", 0), &ms); err == nil {
		m := ms.Memory
		heap = fmt.Sprintf("go heap %.1f MB, go total %.1f MB (heap objects %.1f, heap free %.1f, stacks %.1f, runtime %.1f; go limit %.1f MB; %d collections during the samples)",
			mbOf(m.Heap), mbOf(m.Go), mbOf(m.Heap), mbOf(m.HeapFree), mbOf(m.Stacks), mbOf(m.Runtime), mbOf(m.GoLimit), m.GCCycles-ms0.Memory.GCCycles)
	}
	// Where the anonymous pages are: each mapping with 64 kB or more (the
	// Go heap arena is the largest; the runtime's metadata, which it never
	// unmaps, the next two), and the kernel's transparent huge page mode.
	maps := strings.TrimSpace(v.run(t, anonMappings, 0))
	return f("RSS", rss) + "; " + f("anonymous", anon) + "; " + f("file (driver buffers)", file) + "; " +
		f("shmem (the binary's pages)", shmem) + "; then " + heap + "; anonymous kB by mapping: " + maps
}

// anonMappings lists the agent's anonymous mappings of 64 kB or more in the
// guest (address range, name if any, anonymous kB; the kernel of the QEMU
// camera does not show the runtime's "[anon: Go: ...]" names), and says
// the kernel's transparent huge page mode.
const anonMappings = `awk '/^[0-9a-f]+-[0-9a-f]+ /{r=$1; n=$6; next} /^Anonymous:/{if($2>=64) printf "%s %s %d; ", r, n, $2} END{print ""}' ` +
	`/proc/$(cat /run/camera/camagent.pid)/smaps; ` +
	`echo "thp $(cat /sys/kernel/mm/transparent_hugepage/enabled)"`

// rssSplitRE matches guestRSS's sample: VmRSS, RssAnon, RssFile and
// RssShmem in kB.
var rssSplitRE = regexp.MustCompile(`VmRSS: (\d+) RssAnon: (\d+) RssFile: (\d+) RssShmem: (\d+)`)
