//go:build linux

package e2e

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/manifest"
)

// The power-cut test: CAMAGENT_POWERCUTS cuts per file system (default 3, the
// short version `make test` runs; `make powercut` asks for 20), at moments
// drawn from CAMAGENT_POWERCUT_SEED (default: the time; the seed is logged so
// a run can be replayed).
const (
	defaultCuts = 3
	// One cut in bootCutEvery comes during the boot (bootCutLatest at most
	// after QEMU started: the card check, the mount, the agent's start); the
	// others come up to recordCutLatest after the agent's first frame, while
	// it records motion, seals, signs and uploads. Times are the host's: a
	// loaded host slows the guest, not the draw.
	bootCutEvery    = 5
	bootCutLatest   = 15 * time.Second
	recordCutLatest = 30 * time.Second
	bootWait        = 3 * firstFrameWait // the agent's first frame, on a loaded host
	drainWait       = 300 * time.Second  // the final boot's upload of the backlog
)

// motionLoop runs in the guest's background: movement on for 3 s and off for
// 6 s, again and again, so that clips open, seal, sign and upload all the
// time and a cut can land in any of those steps.
const motionLoop = `(while :; do camagent ctl control "Horizontal Movement" 6 >/dev/null 2>&1; sleep 3; ` +
	`camagent ctl control "Horizontal Movement" 3 >/dev/null 2>&1; sleep 6; done) &`

var sdCheckRE = regexp.MustCompile(`camagent-sd-check: /dev/vda \((vfat|ext4)\): ([^\n]*)`)

// cutStats is what one file system's run counted.
type cutStats struct {
	fs          string
	cuts        int
	beforeAgent int            // cuts that came before the agent's first frame
	checks      map[string]int // boot-time card check results
	clips       int            // sealed clips on the card at the end
	recovered   int            // of them, sealed by recovery after a cut
	manifests   int
	inCloud     int
	took        time.Duration
}

func TestPowerCut(t *testing.T) {
	if os.Getenv("CAMAGENT_E2E") != "1" {
		t.Skip("boots the QEMU camera, so it runs only with CAMAGENT_E2E=1 (make e2e and make powercut set it)")
	}
	cuts := defaultCuts
	if s := os.Getenv("CAMAGENT_POWERCUTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CAMAGENT_POWERCUTS=%q: want a number of cuts >= 1", s)
		}
		cuts = n
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CAMAGENT_POWERCUT_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CAMAGENT_POWERCUT_SEED=%q: %v", s, err)
		}
		seed = n
	}
	t.Logf("power cuts: %d per file system, seed %d (CAMAGENT_POWERCUT_SEED replays the same moments)", cuts, seed)
	root := repoRoot(t)
	initramfs := filepath.Join(root, "out", "initramfs.cpio.gz")
	if _, err := os.Stat(initramfs); err != nil {
		t.Fatalf("the camera image is missing (make image builds it): %v", err)
	}
	for _, tool := range []string{"bash", "busybox", "qemu-system-aarch64", "mcopy", "fsck.vfat", "debugfs",
		"e2fsck", "ffprobe", "ffmpeg", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (make deps installs it): %v", tool, err)
		}
	}
	tools := buildHostTools(t, root)
	rnd := rand.New(rand.NewPCG(seed, 0x70c7))
	var all []cutStats
	for _, fsName := range []string{"vfat", "ext4"} {
		t.Run(fsName, func(t *testing.T) {
			st := powerCuts(t, root, initramfs, tools, fsName, cuts, rnd)
			all = append(all, st)
		})
	}
	for _, s := range all {
		t.Logf("SUMMARY %s: %d cuts (%d before the agent's first frame) in %.0f s; boot checks %v; "+
			"%d sealed clips on the card, %d of them recovered after a cut; %d signed manifests, %d in the cloud",
			s.fs, s.cuts, s.beforeAgent, s.took.Seconds(), s.checks, s.clips, s.recovered, s.manifests, s.inCloud)
	}
}

// powerCuts cuts the power of a camera recording motion cuts times on a new
// card of file system fsName, boots it once more to let it recover and upload,
// powers it off cleanly and checks the card and the cloud from the host.
func powerCuts(t *testing.T, root, initramfs string, tools hostTools, fsName string, cuts int, rnd *rand.Rand) cutStats {
	began := time.Now()
	st := cutStats{fs: fsName, checks: map[string]int{}}
	cloud := startCloud(t, tools, filepath.Join(root, "out", "powercut-camcloud-"+fsName+".log"))
	img := filepath.Join(t.TempDir(), "sd.img")
	if out, err := exec.Command("bash", filepath.Join(root, "scripts", "sd.sh"), img, fsName).CombinedOutput(); err != nil {
		t.Fatalf("scripts/sd.sh %s %s: %v\n%s", img, fsName, err, out)
	}
	deviceID := cloud.provision(t, root, img)
	peer := startPeer(t)
	fwd := fmt.Sprintf("8443:%d 8883:%d 1883:%d", cloud.port, cloud.mqttPort, peer)
	logDir := filepath.Join(root, "out", "powercut-"+fsName)
	_ = os.MkdirAll(logDir, 0o755)

	noteCheck := func(v *vm, boot int) {
		m := sdCheckRE.FindStringSubmatch(v.con.text(0))
		switch {
		case m != nil:
			res := m[2]
			if strings.HasPrefix(res, "not checked") {
				res = "not checked (no checker in the guest)"
			}
			st.checks[res]++
			if strings.HasPrefix(res, "errors left") || strings.HasPrefix(res, "check failed") {
				t.Errorf("boot %d: the card check left errors: %q\n%s", boot, m[0], v.tail())
			}
		case strings.Contains(v.con.text(0), "SD card /dev/vda"):
			t.Errorf("boot %d: the card was mounted without the check line (camagent-sd-check)\n%s", boot, v.tail())
		default:
			st.checks["cut before the check"]++
		}
	}

	for i := 1; i <= cuts; i++ {
		v := boot(t, root, camera{arch: "arm64", initramfs: initramfs}, img, fwd, filepath.Join(logDir, fmt.Sprintf("boot-%02d.log", i)))
		duringBoot := rnd.IntN(bootCutEvery) == 0
		var at time.Duration
		var deadline *time.Timer
		if duringBoot {
			at = time.Second + time.Duration(rnd.Int64N(int64(bootCutLatest-time.Second)))
			deadline = time.NewTimer(time.Until(v.started.Add(at)))
		} else {
			at = time.Second + time.Duration(rnd.Int64N(int64(recordCutLatest-time.Second)))
			v.waitFor(t, firstFrameRE, 0, bootWait, fmt.Sprintf("the agent's first frame (boot %d)", i))
			v.send(t, motionLoop)
			deadline = time.NewTimer(at)
		}
		agentUp := false
	wait:
		for {
			changed, eof := v.con.changed()
			agentUp = firstFrameRE.MatchString(v.con.text(0))
			if eof {
				t.Fatalf("cut %d: QEMU's console closed before the cut (exit: %v)\n%s", i, v.exitState(), v.tail())
			}
			select {
			case <-changed:
			case <-deadline.C:
				break wait
			}
		}
		if !agentUp {
			st.beforeAgent++
		}
		deadline.Stop()
		v.kill(t)
		st.cuts++
		noteCheck(v, i)
		if m := restartRE.FindString(v.con.text(0)); m != "" {
			t.Errorf("cut %d: the agent exited by itself before the cut: %q\n%s", i, m, v.tail())
		}
		if duringBoot {
			t.Logf("cut %d/%d: during the boot, %.1f s after QEMU started (agent up: %v)", i, cuts, at.Seconds(), agentUp)
		} else {
			t.Logf("cut %d/%d: %.1f s after the agent's first frame, motion on", i, cuts, at.Seconds())
		}
	}

	// Power on once more: recovery, then the backlog goes up; then a clean
	// power-off.
	v := boot(t, root, camera{arch: "arm64", initramfs: initramfs}, img, fwd, filepath.Join(logDir, "final.log"))
	v.waitFor(t, firstFrameRE, 0, bootWait, "the agent's first frame (after the last cut)")
	noteCheck(v, cuts+1)
	// The uploader learns of the clips the store's recovery seals only when
	// the recovery has run: until then its queue is empty and it says the
	// card is unchecked (a run at 09:00 UTC on 2026-12-05, before the
	// status said so, took the empty queue for a drained backlog and
	// powered off during the recovered clip's upload). So: a checked card
	// and an empty idle queue, on two polls in a row (the uploader rescans
	// just after the check).
	end := time.Now().Add(drainWait)
	for drained := 0; drained < 2; {
		out := v.runFor(t, "sleep 2; camagent ctl -json uploads", 0, 2*commandWait)
		var us struct {
			State     string `json:"state"`
			Queued    int    `json:"queued"`
			Unchecked bool   `json:"unchecked"`
		}
		if err := decodeJSON(out, &us); err == nil && us.Queued == 0 && us.State == "idle" && !us.Unchecked {
			drained++
			continue
		}
		drained = 0
		if time.Now().After(end) {
			t.Fatalf("the upload backlog did not drain within %v after the last cut:\n%s\n%s", drainWait, out, hintUpload)
		}
	}
	v.powerOff(t)

	// From the host: the card checks clean after the clean power-off.
	var check *exec.Cmd
	if fsName == "vfat" {
		check = exec.Command("fsck.vfat", "-n", img)
	} else {
		check = exec.Command("e2fsck", "-fn", img)
	}
	if out, err := check.CombinedOutput(); err != nil || bytes.Contains(out, []byte("Dirty bit")) {
		t.Errorf("%s: the card does not check clean after the last, clean power-off: %v\n%s", fsName, err, out)
	}

	// Every clip on the card.
	dir := filepath.Join(t.TempDir(), "clips")
	copyClips(t, fsName, img, dir)
	byCard := map[uint64][]byte{}
	var hashes = map[[32]byte]uint64{}
	prevs := map[[32]byte][]uint64{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch {
		case strings.HasSuffix(p, ".part"):
			t.Errorf("%s: a .part is left on the card after recovery and a clean power-off", rel(dir, p))
		case strings.HasSuffix(p, ".mp4"):
			st.clips++
			checkSealedClip(t, dir, p, &st)
		case strings.HasSuffix(p, ".manifest"):
			cose, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m, _, err := manifest.VerifySelf(cose)
			if err != nil || m.DeviceID != deviceID {
				t.Errorf("%s: %v (device %s, want %s)", rel(dir, p), err, m.DeviceID, deviceID)
				return nil
			}
			st.manifests++
			if other, ok := byCard[m.Seq]; ok && !bytes.Equal(other, cose) {
				t.Errorf("sequence number %d repeats: two different manifests carry it (%s)", m.Seq, rel(dir, p))
			}
			byCard[m.Seq] = cose
			hashes[manifest.Hash(cose)] = m.Seq
			prevs[m.Prev] = append(prevs[m.Prev], m.Seq)
			if !strings.HasSuffix(p, ".manifest") || !fileExists(strings.TrimSuffix(p, ".manifest")+".mp4") {
				t.Errorf("%s: a manifest without its clip", rel(dir, p))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the clips copied out: %v", err)
	}
	// The chain: every manifest names the one before it, and no two name the
	// same one (a fork).
	for prev, seqs := range prevs {
		slices.Sort(seqs)
		if len(seqs) > 1 {
			t.Errorf("the manifest chain forks: manifests %v all name %s as their predecessor "+
				"(issue 9 defect 1; fixed on the house-daemon branch)", seqs, short(prev))
		}
		if _, ok := hashes[prev]; !ok && prev != [32]byte{} {
			t.Errorf("manifest %v names a predecessor %s that is on neither the card nor in the chain", seqs, short(prev))
		}
	}
	for _, m := range clipsWithoutManifest(dir) {
		t.Errorf("%s: sealed clip without a signed manifest after the final run", m)
	}

	// The cloud holds every manifest of the card exactly once, byte for byte,
	// and nothing else.
	devDir := filepath.Join(cloud.data, "ingest", "store", "devices", deviceID)
	ents, _ := os.ReadDir(devDir)
	inCloud := map[uint64]bool{}
	for _, e := range ents {
		seq, err := strconv.ParseUint(e.Name(), 10, 64)
		if err != nil || !e.IsDir() {
			continue
		}
		cose, err := os.ReadFile(filepath.Join(devDir, e.Name(), "manifest.cose"))
		if err != nil {
			t.Errorf("cloud item %d: %v", seq, err)
			continue
		}
		inCloud[seq] = true
		if card, ok := byCard[seq]; !ok {
			t.Errorf("the cloud holds manifest %d, which is not on the card", seq)
		} else if !bytes.Equal(card, cose) {
			t.Errorf("the cloud holds another manifest %d than the card's: a repeated sequence number", seq)
		}
		if !fileExists(filepath.Join(devDir, e.Name(), "complete")) {
			t.Errorf("cloud item %d is incomplete after the backlog drained", seq)
		}
	}
	st.inCloud = len(inCloud)
	for seq := range byCard {
		if !inCloud[seq] {
			t.Errorf("manifest %d on the card never reached the cloud", seq)
		}
	}
	if b, err := os.ReadFile(filepath.Join(devDir, "gaps.log")); err == nil {
		t.Errorf("the cloud recorded chain gaps:\n%s", b)
	}
	if c := strings.Count(cloud.log.text(0), "seq-conflict"); c > 0 {
		t.Errorf("the cloud refused %d manifests with seq-conflict (a sequence number used twice)", c)
	}
	if st.manifests == 0 || st.clips == 0 {
		t.Errorf("no clip on the card after %d cuts with motion on", cuts)
	}
	st.took = time.Since(began)
	return st
}

// copyClips copies the card's camagent/clips folder into dir.
func copyClips(t *testing.T, fsName, img, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var cmd *exec.Cmd
	if fsName == "vfat" {
		cmd = exec.Command("mcopy", "-s", "-n", "-i", img, "::camagent/clips", dir+"/")
	} else {
		cmd = exec.Command("debugfs", "-R", "rdump /camagent/clips "+dir, img)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copying the clips out of the %s card: %v\n%s", fsName, err, out)
	}
}

// checkSealedClip probes and decodes one sealed clip and reads its metadata.
func checkSealedClip(t *testing.T, dir, clip string, st *cutStats) {
	t.Helper()
	p, err := ffprobe(clip, true)
	if err != nil || p.Frames <= 0 {
		t.Errorf("%s: %v (%+v)", rel(dir, clip), err, p)
		return
	}
	dec := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-map", "0:v:0",
		"-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "null", "-")
	if out, err := dec.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("%s: ffmpeg decoding every frame: %v\n%s", rel(dir, clip), err, out)
	}
	raw, err := os.ReadFile(strings.TrimSuffix(clip, ".mp4") + ".json")
	if err != nil {
		t.Errorf("%s: no metadata: %v", rel(dir, clip), err)
		return
	}
	var md clipMetadata
	if err := json.Unmarshal(raw, &md); err != nil || md.Frames != p.Frames {
		t.Errorf("%s: metadata %v, %d frames; ffprobe counted %d", rel(dir, clip), err, md.Frames, p.Frames)
	}
	if md.Recovered {
		st.recovered++
	}
}

func clipsWithoutManifest(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".mp4") && !fileExists(strings.TrimSuffix(p, ".mp4")+".manifest") {
			out = append(out, rel(dir, p))
		}
		return nil
	})
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func rel(dir, p string) string {
	r, err := filepath.Rel(dir, p)
	if err != nil {
		return p
	}
	return r
}

func short(h [32]byte) string { return hex.EncodeToString(h[:6]) }
