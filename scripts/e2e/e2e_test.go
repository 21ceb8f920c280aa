//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/board/timesync"
)

// Bounds on each wait. A healthy camera needs a fraction of each (its first
// frame comes about 3 s of guest time after QEMU starts); they only keep a
// broken camera from hanging the test.
const (
	firstFrameWait = 45 * time.Second
	commandWait    = 20 * time.Second
	powerOffWait   = 45 * time.Second
)

// sdCase is one SD card file system: how to make it, read a file from it and
// check it from the host after the camera powered off. The vfat card (a
// consumer SD card) also carries the motion, clip and power-cut checks
// (clips_test.go); the ext4 run stays short, with the serial shell
// (shell_test.go).
type sdCase struct {
	cam   camera
	fs    string
	read  func(img, path string) *exec.Cmd
	check func(img string) *exec.Cmd
	clips bool
	shell bool
	// still is how long the still scene lasts (clips only); cut runs the
	// power-cut boots after the clip checks.
	still time.Duration
	cut   bool
	late  time.Duration // motionClip's allowance for a slower camera
	// other checks that a second account sees nothing of the camera (once
	// per dev cloud: the account is created then).
	other bool
	// live watches the camera in chromium over WebRTC (live_test.go).
	live bool
}

// camera is one of the QEMU cameras (scripts/qemu.sh CAMERA_ARCH) and its
// initramfs.
type camera struct {
	arch      string // arm64 or mipsle
	initramfs string
}

func (c camera) qemu() string {
	if c.arch == "mipsle" {
		return "qemu-system-mipsel"
	}
	return "qemu-system-aarch64"
}

func TestCamera(t *testing.T) {
	if os.Getenv("CAMAGENT_E2E") != "1" {
		t.Skip("boots the QEMU camera, so it runs only with CAMAGENT_E2E=1 (make e2e sets it, " +
			"after building out/initramfs.cpio.gz; make deps installs QEMU, mtools, dosfstools, e2fsprogs)")
	}
	root := repoRoot(t)
	arm64 := camera{arch: "arm64", initramfs: filepath.Join(root, "out", "initramfs.cpio.gz")}
	mipsle := camera{arch: "mipsle", initramfs: filepath.Join(root, "out", "initramfs-mipsle.cpio.gz")}
	for _, c := range []camera{arm64, mipsle} {
		if _, err := os.Stat(c.initramfs); err != nil {
			t.Fatalf("the %s camera image is missing (make image ARCH=%s builds it): %v", c.arch, c.arch, err)
		}
	}
	// The development vendor key scripts/image.sh made with the image.
	vendorKey := filepath.Join(root, "out", "vendor.key")
	if _, err := os.Stat(vendorKey); err != nil {
		t.Fatalf("the development vendor key is missing (make image makes it): %v", err)
	}
	for _, tool := range []string{"bash", "busybox", "qemu-system-aarch64", "qemu-system-mipsel", "mtype", "mcopy", "fsck.vfat", "debugfs",
		"e2fsck", "ffprobe", "ffmpeg", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (make deps installs it): %v", tool, err)
		}
	}

	// The arm64 camera runs everything; the MIPS camera (slower under TCG)
	// the short path: boot to first frame, a short still scene, a motion
	// event, its clip uploaded, and the clip checked from the host.
	tests := []sdCase{
		{
			cam:   arm64,
			fs:    "vfat",
			read:  func(img, path string) *exec.Cmd { return exec.Command("mtype", "-i", img, "::"+path) },
			check: func(img string) *exec.Cmd { return exec.Command("fsck.vfat", "-n", img) },
			clips: true,
			still: 60 * time.Second,
			cut:   true,
			other: true,
			live:  true,
		},
		{
			cam:   arm64,
			fs:    "ext4",
			read:  func(img, path string) *exec.Cmd { return exec.Command("debugfs", "-R", "cat /"+path, img) },
			check: func(img string) *exec.Cmd { return exec.Command("e2fsck", "-fn", img) },
			shell: true,
		},
		{
			cam:   mipsle,
			fs:    "vfat",
			read:  func(img, path string) *exec.Cmd { return exec.Command("mtype", "-i", img, "::"+path) },
			check: func(img string) *exec.Cmd { return exec.Command("fsck.vfat", "-n", img) },
			clips: true,
			still: 10 * time.Second,
			late:  2 * time.Second,
		},
	}
	// The dev cloud, for both cards: each is provisioned for it before its
	// first boot, and the vfat camera's clip must show up in it, verified.
	tools := buildHostTools(t, root)
	cloud := startCloud(t, tools, filepath.Join(root, "out", "e2e-camcloud.log"))
	t.Logf("dev cloud: camcloud serve on %s (the guest's 10.0.2.100:8443 is forwarded there)", cloud.url)
	began := time.Now()
	took := map[string]time.Duration{}
	for _, tc := range tests {
		// A camera that fails on one card fails the same way on the next: stop.
		start := time.Now()
		ok := t.Run(tc.cam.arch+"/"+tc.fs, func(t *testing.T) { testCamera(t, root, vendorKey, tc, cloud) })
		took[tc.cam.arch] += time.Since(start)
		if !ok {
			break
		}
	}
	t.Logf("wall time of the QEMU runs: %.1f s (arm64 %.1f s, mipsle %.1f s)", time.Since(began).Seconds(),
		took["arm64"].Seconds(), took["mipsle"].Seconds())
}

// status is the part of `camagent ctl status -json` the test checks.
type status struct {
	Capture captureStatus `json:"capture"`
	Parts   []struct {
		Name  string `json:"name"`
		State string `json:"state"`
	} `json:"parts"`
	// Present once the motion and recorder parts run.
	Motion   *motionStatus   `json:"motion"`
	Recorder *recorderStatus `json:"recorder"`
	Clips    *clipsStatus    `json:"clips"`
}

type captureStatus struct {
	Frames int64   `json:"frames"`
	FPS    float64 `json:"fps"`
	Format string  `json:"format"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Queues []struct {
		Name      string `json:"name"`
		Delivered uint64 `json:"delivered"`
		Dropped   uint64 `json:"dropped"`
	} `json:"queues"`
}

// queues says how many frames each consumer got and lost.
func (c captureStatus) queues() string {
	var parts []string
	for _, q := range c.Queues {
		parts = append(parts, fmt.Sprintf("%s %d delivered, %d dropped", q.Name, q.Delivered, q.Dropped))
	}
	return strings.Join(parts, "; ")
}

type motionStatus struct {
	Frames         uint64  `json:"frames"`
	Events         uint64  `json:"events"`
	Recalibrations uint64  `json:"recalibrations"`
	Noise          float64 `json:"noise"`
	ScorePercent   float64 `json:"score_percent"`
	Threshold      float64 `json:"threshold"`
	Recent         []struct {
		ID          uint64    `json:"id"`
		Start       time.Time `json:"start"`
		End         time.Time `json:"end"`
		PeakPercent float64   `json:"peak_percent"`
	} `json:"recent_events"`
}

type recorderStatus struct {
	State         string `json:"state"`
	Clip          string `json:"clip"`
	Frames        uint64 `json:"frames"`
	SkippedRate   uint64 `json:"skipped_rate"`
	DroppedBehind uint64 `json:"dropped_behind"`
	Encoded       uint64 `json:"encoded"`
	Recorded      uint64 `json:"recorded"`
	Clips         uint64 `json:"clips"`
	LastError     string `json:"last_error"`
}

type clipsStatus struct {
	State        string   `json:"state"`
	Clips        int      `json:"clips"`
	Sealed       uint64   `json:"sealed"`
	Syncs        uint64   `json:"syncs"`
	Recording    []string `json:"recording"`
	LastRecovery struct {
		Sealed   int   `json:"sealed"`
		CutBytes int64 `json:"cut_bytes"`
		Removed  int   `json:"removed"`
		Failed   int   `json:"failed"`
		Clips    int   `json:"clips"`
	} `json:"last_recovery"`
}

// state is the part of the SD card's camagent/state.json the test checks.
type state struct {
	CleanShutdown bool  `json:"clean_shutdown"`
	Frames        int64 `json:"frames"`
}

var (
	firstFrameRE = regexp.MustCompile(`[^\n]*msg="first frame"[^\n]*\n`)
	slogTimeRE   = regexp.MustCompile(`\btime=(\S+)`)
	initRE       = regexp.MustCompile(`camera \[([0-9.]+)\]: init started`)
	agentStartRE = regexp.MustCompile(`camera \[([0-9.]+)\]: starting camagent`)
	restartRE    = regexp.MustCompile(`camagent exited \(status \d+\)`)
	stoppedRE    = regexp.MustCompile(`camagent stopped \(status (\d+)\)`)
	// stat -c %y and /proc/uptime in the guest
	guestWallRE   = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [+-]\d{4}`)
	guestUptimeRE = regexp.MustCompile(`(?m)^([0-9]+\.[0-9]+) [0-9]+\.[0-9]+$`)
	// a kernel message on the console
	kernelLineRE = regexp.MustCompile(`(?m)^\[ *[0-9]+\.[0-9]+\] .*\n`)
)

func testCamera(t *testing.T, root, vendorKey string, tc sdCase, cloud *devCloud) {
	began := time.Now()
	ph := phases{last: began}
	defer ph.log(t)
	img := filepath.Join(t.TempDir(), "sd.img")
	if out, err := exec.Command("bash", filepath.Join(root, "scripts", "sd.sh"), img, tc.fs).CombinedOutput(); err != nil {
		t.Fatalf("scripts/sd.sh %s %s: %v\n%s", img, tc.fs, err, out)
	}
	deviceID := cloud.provision(t, root, img)
	t.Logf("SD card (%s) provisioned for the dev cloud: device %s, paired to %s", tc.fs, deviceID, devAccount)
	peer := startPeer(t)
	// The guest's 8443 reaches the dev cloud, its 8883 the cloud's broker,
	// its 1883 the test's echo peer, its 123 the time server ([time] servers
	// in scripts/qemu/camagent.toml).
	fwd := fmt.Sprintf("8443:%d 8883:%d 1883:%d 123:%d", cloud.port, cloud.mqttPort, peer, startTimeServer(t))
	// Its 3478 the dev cloud's TURN server for live view (camcloud serve
	// -turn, as make run starts it).
	fwd += fmt.Sprintf(" %d:%d", guestTURNPort, cloud.turnPort)
	v := boot(t, root, tc.cam, img, fwd, filepath.Join(root, "out", "e2e-console-"+tc.cam.arch+"-"+tc.fs+".log"))
	ph.failure = func() string { return v.failure }

	// Boot to the agent's first frame.
	ff := v.waitFor(t, firstFrameRE, 0, firstFrameWait, "the agent's first frame")
	sinceStart := time.Since(v.started)
	if !strings.Contains(ff[0], "YUYV") {
		t.Errorf("first-frame line does not name the format YUYV: %q", ff[0])
	}
	logBootTimes(t, v, ff[0], sinceStart)

	// The agent's status, through the console shell.
	st := v.status(t)
	if st.Capture.Frames <= 0 || st.Capture.Format != "YUYV" || st.Capture.Width != 640 || st.Capture.Height != 480 {
		t.Errorf("capture status = %+v, want frames > 0 of YUYV 640x480", st.Capture)
	}
	if len(st.Parts) == 0 {
		t.Errorf("status lists no parts")
	}
	t.Logf("status: %d frames at %.1f fps, %s %dx%d, %d parts", st.Capture.Frames, st.Capture.FPS,
		st.Capture.Format, st.Capture.Width, st.Capture.Height, len(st.Parts))

	// The network: the guest reaches the host's loopback only through the
	// forwarded ports.
	if out := v.run(t, "echo ping | nc -w 5 10.0.2.100 1883", 0); !strings.Contains(out, "pong ping") {
		t.Errorf("guest to 10.0.2.100:1883 (forwarded to 127.0.0.1:%d): got %q, want pong ping", peer, out)
	}
	ph.done("boot to first frame, status, network")
	if tc.shell {
		testShell(t, v, cloud.tools.agent, vendorKey)
		ph.done("serial shell: unlock, config set")
	}

	var c *clipRun
	if tc.clips {
		stillScene(t, v, firstFrameTime(t, ff[0]), tc.still)
		ph.done("still scene")
		logLoad(t, v, tc.cam.arch)
		ph.done("agent load")
		c = motionClip(t, v, tc.late)
		c.agent = cloud.tools.agent
		c.caFile = filepath.Join(cloud.data, "ca.crt")
		if c.deviceID != deviceID {
			t.Errorf("the clip was signed by device %s, the card was provisioned for %s", c.deviceID, deviceID)
		}
		ph.done("motion event and clip")
		// The clip uploaded: the cloud serves it, and a viewer verifies it.
		c.cloudBytes = cloud.waitShown(t, v, deviceID, c.seq)
		t.Logf("dev cloud: camcloud list -account %s shows clip #%s of %s (%d bytes) and its thumbnail, verified",
			devAccount, c.seq, deviceID, c.cloudBytes)
		if tc.other {
			cloud.checkOtherAccount(t, deviceID)
		}
		ph.done("upload to the dev cloud, shown verified")
		checkMQTT(t, v, cloud, deviceID, c)
		ph.done("MQTT: event verified in the cloud, commands")
		if tc.live {
			checkLive(t, v, cloud, deviceID, filepath.Join(root, "out", "e2e-live-view.jpg"))
			ph.done("live view in chromium")
		}
	}

	// Clean power-off, as typed by someone on the console, then the SD card
	// from the host.
	frames := v.status(t).Capture.Frames
	v.powerOff(t)
	checkRunRecord(t, tc, img, frames)
	if out, err := tc.check(img).CombinedOutput(); err != nil || bytes.Contains(out, []byte("Dirty bit")) {
		t.Errorf("%s SD image check: %v\n%s", tc.fs, err, out)
	}
	checkKeyOffCard(t, img)
	ph.done("power-off")
	if tc.clips {
		c.sha = checkClip(t, img, c, filepath.Join(t.TempDir(), "clip"))
		ph.done("clip checks on the host")
	}
	if tc.cut {
		powerCut(t, root, tc.cam, img, fwd, c, &ph)
	}
	t.Logf("wall time: %.1f s (QEMU ran %.1f s)", time.Since(began).Seconds(), v.ran.Seconds())
}

// loadLate is how much longer than its sleep and commandWait logLoad waits
// for a guest that answers late before it fails.
const loadLate = 90 * time.Second

// loadRE matches logLoad's guest command output.
var loadRE = regexp.MustCompile(`ticks (\d+) (\d+) uptime ([0-9.]+) ([0-9.]+) rss (\d+)`)

// logLoad logs, without asserting anything (the host is shared and noisy),
// the agent's CPU use over 5 s of guest time in the still scene (capture,
// motion analysis, the recorder's pre-roll encoding), its resident memory,
// and the capture rate.
func logLoad(t *testing.T, v *vm, arch string) {
	t.Helper()
	const cmd = `p=$(cat /run/camera/camagent.pid); a=$(awk '{print $14+$15}' /proc/$p/stat); ` +
		`u=$(cut -d' ' -f1 /proc/uptime); sleep 5; b=$(awk '{print $14+$15}' /proc/$p/stat); ` +
		`w=$(cut -d' ' -f1 /proc/uptime); r=$(awk '/VmRSS/{print $2}' /proc/$p/status); ` +
		`echo "ticks $a $b uptime $u $w rss $r"`
	// A measurement only: a guest that answers late is logged, not failed
	// (CI once saw the mipsle guest silent for over 25 s here, on a shared
	// host; the next steps check that the agent still works). A guest that
	// never answers fails.
	sent, cpu0 := time.Now(), v.cpu()
	from, re := v.enter(t, cmd)
	var out []string
	found := func() bool { out = re.FindStringSubmatch(v.con.text(from)); return out != nil }
	if err := v.await(5*time.Second+commandWait, found); err != nil {
		t.Logf("agent load: no answer from the guest within %v (%s); waiting longer",
			5*time.Second+commandWait, v.silence(sent, cpu0))
		if err := v.await(loadLate, found); err != nil {
			v.fatalf(t, "agent load: the guest's shell did not answer within %v (%v)\n%s",
				5*time.Second+commandWait+loadLate, err, v.tail())
		}
		t.Logf("agent load: the guest answered %.1f s after the command (5 s of it a sleep)", time.Since(sent).Seconds())
	}
	m := loadRE.FindStringSubmatch(out[1])
	if m == nil {
		t.Logf("agent load: unreadable %q", out[1])
		return
	}
	a, _ := strconv.ParseFloat(m[1], 64)
	b, _ := strconv.ParseFloat(m[2], 64)
	u, _ := strconv.ParseFloat(m[3], 64)
	w, _ := strconv.ParseFloat(m[4], 64)
	rss, _ := strconv.Atoi(m[5])
	st := v.status(t)
	t.Logf("agent load (%s guest, still scene): CPU %.0f%% of the guest's one core over %.1f s (USER_HZ 100), "+
		"RSS %.1f MB, capture %.1f fps (%s)", arch, 100*(b-a)/100/(w-u), w-u, float64(rss)/1024, st.Capture.FPS, st.Capture.queues())
}

// checkRunRecord checks the agent's run record on the card after a clean
// power-off: clean_shutdown and at least frames frames.
func checkRunRecord(t *testing.T, tc sdCase, img string, frames int64) {
	t.Helper()
	raw, err := tc.read(img, "camagent/state.json").Output()
	if err != nil {
		t.Fatalf("reading camagent/state.json from the %s SD image: %v", tc.fs, err)
	}
	var sd state
	if err := json.Unmarshal(raw, &sd); err != nil {
		t.Fatalf("camagent/state.json is not JSON: %v\n%s", err, raw)
	}
	if !sd.CleanShutdown || sd.Frames < frames {
		t.Errorf("camagent/state.json = %s, want clean_shutdown true and frames >= %d (the status before)", raw, frames)
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, raw)
	t.Logf("SD card (%s): camagent/state.json %s", tc.fs, compact.Bytes())
}

// phases times the steps of one card's run, for the log.
type phases struct {
	last  time.Time
	names []string
	took  []time.Duration
	// failure, when set, gives the first line of what failed (vm.failure).
	failure func() string
}

func (p *phases) done(name string) {
	now := time.Now()
	p.names = append(p.names, name)
	p.took = append(p.took, now.Sub(p.last))
	p.last = now
}

func (p *phases) log(t *testing.T) {
	var b strings.Builder
	for i, n := range p.names {
		fmt.Fprintf(&b, "\n  %-46s %6.1f s", n, p.took[i].Seconds())
	}
	t.Logf("phases (host wall time):%s", b.String())
	if t.Failed() {
		after := "the start"
		if len(p.names) > 0 {
			after = fmt.Sprintf("%q", p.names[len(p.names)-1])
		}
		why := "see the first error above"
		if p.failure != nil && p.failure() != "" {
			why = p.failure()
		}
		t.Logf("FAILED in the step after %s: %s", after, why)
	}
}

// logBootTimes logs boot-to-first-frame: on the host clock from QEMU's start,
// and on the guest kernel's clock (uptime), mapping the agent's log timestamp
// to uptime with one reading of both guest clocks.
func logBootTimes(t *testing.T, v *vm, line string, sinceStart time.Duration) {
	t.Helper()
	msg := fmt.Sprintf("boot to first frame: %.2f s from QEMU start (host clock)", sinceStart.Seconds())
	text := v.con.text(0)
	if m := initRE.FindStringSubmatch(text); m != nil {
		msg += fmt.Sprintf("; kernel uptime at /init %s s", m[1])
	}
	if m := agentStartRE.FindStringSubmatch(text); m != nil {
		msg += fmt.Sprintf(", at camagent start %s s", m[1])
	}
	if ff, err := guestFirstFrame(t, v, line); err != nil {
		msg += fmt.Sprintf(", at first frame unknown (%v)", err)
	} else {
		msg += fmt.Sprintf(", at first frame %.2f s", ff)
	}
	t.Log(msg)
}

func guestFirstFrame(t *testing.T, v *vm, line string) (float64, error) {
	logged, err := logTime(line)
	if err != nil {
		return 0, err
	}
	now, uptime, err := v.guestClocks(t)
	if err != nil {
		return 0, err
	}
	return uptime - now.Sub(logged).Seconds(), nil
}

// logTime is the time= of one of the agent's log lines.
func logTime(line string) (time.Time, error) {
	m := slogTimeRE.FindStringSubmatch(line)
	if m == nil {
		return time.Time{}, errors.New("no time= in the agent's line")
	}
	logged, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("agent time: %w", err)
	}
	return logged, nil
}

// firstFrameTime is the guest's wall-clock time of the first frame (the
// agent's log line).
func firstFrameTime(t *testing.T, line string) time.Time {
	t.Helper()
	ts, err := logTime(line)
	if err != nil {
		t.Fatalf("first-frame line %q: %v", line, err)
	}
	return ts
}

// guestClocks reads the guest's wall clock (the agent's log clock) and its
// kernel uptime in seconds, in one console command.
func (v *vm) guestClocks(t *testing.T) (time.Time, float64, error) {
	t.Helper()
	out := v.run(t, "touch /tmp/.clk; stat -c %y /tmp/.clk; cat /proc/uptime", 0)
	wall, up := guestWallRE.FindString(out), guestUptimeRE.FindStringSubmatch(out)
	if wall == "" || up == nil {
		return time.Time{}, 0, fmt.Errorf("guest clocks: %q", out)
	}
	now, err := time.Parse("2006-01-02 15:04:05.999999999 -0700", wall)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("guest wall clock: %w", err)
	}
	uptime, err := strconv.ParseFloat(up[1], 64)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("guest uptime: %w", err)
	}
	return now, uptime, nil
}

// guestNow is the guest's wall clock, the clock of the agent's log lines
// and of the frames' capture times.
func (v *vm) guestNow(t *testing.T) time.Time {
	t.Helper()
	now, _, err := v.guestClocks(t)
	if err != nil {
		t.Fatalf("%v\n%s", err, v.tail())
	}
	return now
}

// status runs `camagent ctl status -json` on the console and decodes it.
func (v *vm) status(t *testing.T) status {
	t.Helper()
	out := v.run(t, "camagent ctl status -json", 0)
	var st status
	if err := decodeJSON(out, &st); err != nil {
		t.Fatalf("camagent ctl status -json: not one JSON object: %v\n%s", err, out)
	}
	return st
}

// decodeJSON decodes the first JSON object in out, a command's output on the
// console (where a log line of the agent may come before it).
func decodeJSON(out string, v any) error {
	i := strings.Index(out, "{")
	if i < 0 {
		return errors.New("no JSON object")
	}
	return json.NewDecoder(strings.NewReader(out[i:])).Decode(v)
}

// startPeer listens on the host's loopback and answers each connection's first
// line with "pong LINE": the guest's network check.
func startPeer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(commandWait))
			line, _ := bufio.NewReader(c).ReadString('\n')
			_, _ = fmt.Fprintf(c, "pong %s", line)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// startTimeServer runs an SNTP server (NTP over TCP) with the host's clock
// on the loopback and returns its port.
func startTimeServer(t *testing.T) int {
	t.Helper()
	s, err := timesync.Listen(timesync.ServerConfig{TCP: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("time server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	_, port, _ := net.SplitHostPort(s.TCPAddr())
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("time server port %q: %v", port, err)
	}
	return n
}

// vm is one QEMU camera, its serial console on QEMU's stdin and stdout.
type vm struct {
	cmd     *exec.Cmd
	started time.Time
	con     *console
	stdin   io.WriteCloser
	stderr  syncBuffer
	exited  chan struct{} // closed when QEMU has exited; waitErr and ran are set then
	waitErr error
	ran     time.Duration
	seq     int
	// failure is the first line of the first failure the helpers below
	// reported (the full message carries the console's tail, which buries
	// it): phases.log repeats it last, where a CI log's tail shows it.
	failure string
}

// fatalf fails the test like t.Fatalf and keeps the message's first line
// for the step summary.
func (v *vm) fatalf(t *testing.T, format string, args ...any) {
	t.Helper()
	if v.failure == "" {
		v.failure, _, _ = strings.Cut(fmt.Sprintf(format, args...), "\n")
	}
	t.Fatalf(format, args...)
}

// boot starts camera cam through scripts/qemu.sh boot with the SD image img and the
// guest's ports forwarded to the host's 127.0.0.1 as fwd says (CAMERA_FWD:
// GUESTPORT:HOSTPORT ...). QEMU and its forwarders are killed when the test
// ends, and the console is saved to logPath.
func boot(t *testing.T, root string, cam camera, img, fwd, logPath string) *vm {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("console pipe: %v", err)
	}
	v := &vm{con: newConsole(), exited: make(chan struct{})}
	v.cmd = exec.Command("bash", filepath.Join(root, "scripts", "qemu.sh"), "boot")
	v.cmd.Env = append(os.Environ(),
		"CAMERA_ARCH="+cam.arch, "CAMERA_INITRAMFS="+cam.initramfs, "CAMERA_SD="+img, "CAMERA_FLASH="+flashImage(img), "CAMERA_FWD="+fwd,
		"CAMERA_CONSOLE=stdio", "CAMERA_MONITOR=none",
		// Kernel errors stay off the console: under load vivid's capture thread
		// runs late and the kernel warns about it (schedule_timeout), which
		// would cut into command output. Emergencies (panic, power down) show.
		"CAMERA_APPEND=loglevel=3")
	v.cmd.Stdout = pw
	v.cmd.Stderr = &v.stderr
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // QEMU and its forwarders, killed together
	if v.stdin, err = v.cmd.StdinPipe(); err != nil {
		t.Fatalf("console stdin: %v", err)
	}
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("start scripts/qemu.sh boot: %v", err)
	}
	v.started = time.Now()
	_ = pw.Close()
	go v.con.read(pr)
	go func() {
		v.waitErr = v.cmd.Wait()
		v.ran = time.Since(v.started)
		close(v.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-v.exited:
		default:
			_ = syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
			<-v.exited
		}
		v.con.wait()
		_ = pr.Close()
		if err := os.WriteFile(logPath, []byte(v.con.text(0)), 0o644); err == nil {
			t.Logf("console saved in %s", logPath)
		}
	})
	return v
}

// waitFor waits up to limit for re to match the console after offset from and
// returns the submatches; it fails the test with the console's tail otherwise.
func (v *vm) waitFor(t *testing.T, re *regexp.Regexp, from int, limit time.Duration, what string) []string {
	t.Helper()
	var m []string
	v.until(t, limit, what, "", func() bool {
		m = re.FindStringSubmatch(v.con.text(from))
		return m != nil
	})
	return m
}

// until waits up to limit for found to report true, checking at every change
// of the console. It fails the test with hint (what to look at next) and the
// console's tail otherwise.
func (v *vm) until(t *testing.T, limit time.Duration, what, hint string, found func() bool) {
	t.Helper()
	if hint != "" {
		hint = "\n" + hint
	}
	began, cpu0 := time.Now(), v.cpu()
	switch v.await(limit, found) {
	case errConsoleClosed:
		v.fatalf(t, "waiting for %s: QEMU's console closed (exit: %v)%s\n%s", what, v.exitState(), hint, v.tail())
	case errNotSeen:
		v.fatalf(t, "waiting for %s: not seen within %v (QEMU started %v ago; %s)%s\n%s",
			what, limit, time.Since(v.started).Round(time.Second), v.silence(began, cpu0), hint, v.tail())
	}
}

var (
	errConsoleClosed = errors.New("QEMU's console closed")
	errNotSeen       = errors.New("not seen in time")
)

// await waits up to limit for found to report true, checking at every change
// of the console; it reports errNotSeen or errConsoleClosed otherwise.
func (v *vm) await(limit time.Duration, found func() bool) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		changed, eof := v.con.changed()
		if found() {
			return nil
		}
		if eof {
			return errConsoleClosed
		}
		select {
		case <-changed:
		case <-timer.C:
			return errNotSeen
		}
	}
}

// run types cmd on the console shell and returns what it printed (without
// kernel messages); it fails the test unless cmd exits with want within
// commandWait.
func (v *vm) run(t *testing.T, cmd string, want int) string {
	t.Helper()
	return v.runFor(t, cmd, want, commandWait)
}

// runFor is run with a limit for a command that takes long (a sleep).
func (v *vm) runFor(t *testing.T, cmd string, want int, limit time.Duration) string {
	t.Helper()
	from, re := v.enter(t, cmd)
	m := v.waitFor(t, re, from, limit, "the output of "+cmd)
	if m[2] != strconv.Itoa(want) {
		v.fatalf(t, "%s: exit status %s, want %d\n%s\n%s", cmd, m[2], want, m[1], v.tail())
	}
	return kernelLineRE.ReplaceAllString(m[1], "")
}

// enter types cmd on the console shell, framed by numbered markers, and
// returns the console offset it was typed at and the expression that finds
// its output and exit status after it.
func (v *vm) enter(t *testing.T, cmd string) (int, *regexp.Regexp) {
	t.Helper()
	v.seq++
	begin, end := fmt.Sprintf("@@BEGIN-%d@@", v.seq), fmt.Sprintf("@@END-%d@@", v.seq)
	// The quotes keep the console's echo of the typed line from matching.
	typed := fmt.Sprintf(`echo "%s""%s"; %s; echo "%s""%s" $?`, begin[:4], begin[4:], cmd, end[:4], end[4:])
	from := v.mark()
	v.send(t, typed)
	return from, regexp.MustCompile(`(?s)` + regexp.QuoteMeta(begin) + `\n(.*?)` + regexp.QuoteMeta(end) + ` (\d+)\n`)
}

func (v *vm) mark() int { return v.con.len() }

func (v *vm) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(v.stdin, line+"\n"); err != nil {
		v.fatalf(t, "console write %q: %v\n%s", line, err, v.tail())
	}
}

// powerOff types poweroff on the console, as someone at the camera would,
// waits for QEMU to exit and checks that the agent ran through and stopped
// cleanly on SIGTERM.
func (v *vm) powerOff(t *testing.T) {
	t.Helper()
	mark := v.mark()
	v.send(t, "poweroff")
	select {
	case <-v.exited:
	case <-time.After(powerOffWait):
		v.fatalf(t, "QEMU still running %v after poweroff: see camera-poweroff's lines (scripts/qemu/camera-poweroff)\n%s",
			powerOffWait, v.tail())
	}
	if v.waitErr != nil {
		t.Errorf("QEMU exit: %v\n%s", v.waitErr, v.tail())
	}
	v.con.wait() // the last console lines
	if m := restartRE.FindString(v.con.text(0)); m != "" {
		t.Errorf("the agent did not run through: %q (look for its last lines before that in the console)\n%s", m, v.tail())
	}
	if m := stoppedRE.FindStringSubmatch(v.con.text(mark)); m == nil || m[1] != "0" {
		t.Errorf("the agent's exit on SIGTERM: want \"camagent stopped (status 0)\"\n%s", v.tail())
	}
}

// kill cuts the camera's power: SIGKILL to QEMU (and its forwarders), so
// nothing in the guest gets to run again; what the guest had written to the
// virtual disk stays, what was still in its page cache is lost.
func (v *vm) kill(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL QEMU: %v", err)
	}
	<-v.exited
	v.con.wait()
}

func (v *vm) exitState() string {
	select {
	case <-v.exited:
		if v.waitErr != nil {
			return v.waitErr.Error()
		}
		return "status 0"
	default:
		return "still running"
	}
}

// silence says, for a failure, how long the console has been silent and
// how much CPU QEMU used since began (when its CPU time was cpu0, negative
// when unknown): a stalled guest is silent with QEMU idle, a busy one keeps
// QEMU busy, and a host that gives QEMU no time shows little CPU for it.
func (v *vm) silence(began time.Time, cpu0 time.Duration) string {
	s := fmt.Sprintf("console silent for %.1f s", v.con.silentFor().Seconds())
	if cpu := v.cpu(); cpu >= 0 && cpu0 >= 0 {
		s += fmt.Sprintf(", QEMU used %.1f s of CPU in the %.1f s since the wait began", (cpu - cpu0).Seconds(), time.Since(began).Seconds())
	}
	return s
}

// cpu is the CPU time QEMU has used (scripts/qemu.sh boot execs it, so it
// is the started process), or -1 when it cannot be read.
func (v *vm) cpu() time.Duration {
	d, err := processCPU(v.cmd.Process.Pid)
	if err != nil {
		return -1
	}
	return d
}

// processCPU reads the user and system time of process pid from
// /proc/PID/stat (USER_HZ 100, as on every Linux this runs on).
func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command's closing parenthesis: state (3), ...,
	// utime (14), stime (15).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the command", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(u+st) * (time.Second / 100), nil
}

// tail is the end of the console and QEMU's own error output, for failures.
func (v *vm) tail() string {
	lines := strings.Split(strings.TrimRight(v.con.text(0), "\n"), "\n")
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	s := "--- console (last lines) ---\n" + strings.Join(lines, "\n") + "\n---"
	if e := strings.TrimSpace(v.stderr.String()); e != "" {
		s += "\n--- QEMU stderr ---\n" + e + "\n---"
	}
	return s
}

// console collects what the guest writes on its serial console.
type console struct {
	mu     sync.Mutex
	raw    []byte
	last   time.Time     // when the guest last wrote
	notify chan struct{} // closed and replaced on every change
	eof    bool
	done   chan struct{} // closed when read returns
}

func newConsole() *console {
	return &console{notify: make(chan struct{}), done: make(chan struct{})}
}

// read copies r into the console until r ends (QEMU and its children exited).
func (c *console) read(r io.Reader) {
	defer close(c.done)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		c.mu.Lock()
		c.raw = append(c.raw, buf[:n]...)
		if n > 0 {
			c.last = time.Now()
		}
		if err != nil {
			c.eof = true
		}
		close(c.notify)
		c.notify = make(chan struct{})
		c.mu.Unlock()
		if err != nil {
			return
		}
	}
}

func (c *console) wait() { <-c.done }

// silentFor is how long the guest has written nothing on the console.
func (c *console) silentFor() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.IsZero() {
		return 0
	}
	return time.Since(c.last)
}

func (c *console) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.raw)
}

// changed returns a channel closed at the next change, and whether the
// console has ended.
func (c *console) changed() (<-chan struct{}, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notify, c.eof
}

// ansiRE matches the terminal control sequences the shell's line editor sends.
var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\r`)

// text is the console from offset from on, without carriage returns and
// terminal control sequences.
func (c *console) text(from int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ansiRE.ReplaceAllString(string(c.raw[from:]), "")
}

// syncBuffer is a bytes.Buffer safe for QEMU's stderr copier and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// checkKeyOffCard checks, after a run, that the device key is on the
// camera's flash partition and nowhere on its SD card (issue 15: whoever
// pulls the card must not walk away with the camera's identity). The raw
// images are searched for the PEM header of a private key, whatever the
// file system and wherever the bytes lie.
func checkKeyOffCard(t *testing.T, img string) {
	t.Helper()
	header := []byte("PRIVATE KEY-----")
	card, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(card, header) {
		t.Errorf("the SD card image %s holds a private key: the device key must live on the flash partition only", img)
	}
	flash, err := os.ReadFile(flashImage(img))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(flash, header) {
		t.Errorf("the flash image %s holds no private key: where is the device key?", flashImage(img))
	}
}
