//go:build linux

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the clip checks ask for. Times are the guest's stream time (the
// agent's log timestamps and the frames' capture times); the wall-clock
// bounds (...Wait) only keep a broken camera from hanging the test.
const (
	moveFor     = 6           // seconds of movement (a sleep in the guest)
	startWithin = time.Second // movement on to event start
	// The last motion is seen up to still_time after the movement stops (the
	// detector's background takes the stopped bars in then), and the event
	// ends event_gap after that.
	endWithin = cfgStillTime + cfgEventGap + time.Second
	// Movement off may land between a frame's capture and its analysis.
	endSlack  = 500 * time.Millisecond
	eventWait = 30 * time.Second

	moveOn  = `camagent ctl control "Horizontal Movement" 6` // vivid: Move Right Fast
	moveOff = `camagent ctl control "Horizontal Movement" 3` // vivid: No Movement
)

// Hints for failures: what to look at next.
const (
	hintMotion = "next: the motion part's lines above (\"motion detection started\", re-learned) and the " +
		"status's motion.score_percent against motion.min_area_percent; by hand: make run, make shell, then " +
		moveOn + " and camagent ctl status"
	hintClip = "next: the recorder's and storage's lines above (\"clip started\", \"clip sealed\", \"sd card\"), " +
		"and camagent ctl status's recorder and clips; a \"device key unavailable\" line means the " +
		"[identity] key path on the card could not be written"
)

// clipRun is what the vfat run learned about its clip, for the host checks.
type clipRun struct {
	name      string // 2026/11/25/032207-e1: <mount>/camagent/clips/<name>.<ext>
	event     uint64 // the event that opened it (unknown for a recovered clip)
	recovered bool   // sealed by recovery after a power cut
	deviceID  string
	seq       string // of its signed manifest
	agent     string // camagent built for the host
	caFile    string // the dev cloud's CA (PEM): the trust anchor of the thumbnail's content credentials
	sha       string // of the .mp4, once checked
	// cloudBytes is the clip's size as the dev cloud lists it (0: not
	// uploaded, or not checked).
	cloudBytes int64
}

// stillScene watches the camera with vivid's movement and clock off until
// stillFor (sdCase.still) of stream time has passed since the first frame (a sleep in the
// guest, so host load cannot shorten it), and asserts no motion event and no
// clip.
func stillScene(t *testing.T, v *vm, firstFrame time.Time, stillFor time.Duration) {
	t.Helper()
	now := v.guestNow(t)
	if rem := firstFrame.Add(stillFor).Sub(now); rem > 0 {
		v.runFor(t, fmt.Sprintf("sleep %.1f", rem.Seconds()+0.1), 0, rem+commandWait)
	}
	watched := v.guestNow(t).Sub(firstFrame)
	if watched < stillFor {
		t.Fatalf("the guest slept, but only %.1f s of stream time passed since the first frame (want %v)\n%s",
			watched.Seconds(), stillFor, v.tail())
	}
	if l, ok := findLog(agentLogs(v.con.text(0)), "motion event started", nil); ok {
		t.Fatalf("a motion event started with vivid's movement and clock off (a still scene): %q\n"+
			"next: the motion lines around it in the console; camagent ctl status shows motion.noise and "+
			"motion.score_percent; raise [motion] threshold or min_area_percent in scripts/qemu/camagent.toml only if the "+
			"picture really changed (OSD Text Mode must be 2)\n%s", l.text, v.tail())
	}
	st := v.status(t)
	if st.Motion == nil || st.Recorder == nil || st.Clips == nil {
		t.Fatalf("status has no motion, recorder or clips part after %v: see the parts' states and their "+
			"last errors in camagent ctl status\n%s", stillFor, v.tail())
	}
	if st.Motion.Frames == 0 || st.Motion.Events != 0 || len(st.Motion.Recent) != 0 {
		t.Errorf("motion status after %.0f s of a still scene: frames %d, events %d (%d recent), want frames > 0 "+
			"and no event\n%s", watched.Seconds(), st.Motion.Frames, st.Motion.Events, len(st.Motion.Recent), v.tail())
	}
	if st.Recorder.Clips != 0 || st.Clips.Clips != 0 || len(st.Clips.Recording) != 0 {
		t.Errorf("clips after a still scene: recorder %d, on the card %d, recording %v; want none",
			st.Recorder.Clips, st.Clips.Clips, st.Clips.Recording)
	}
	t.Logf("still scene: no motion event in %.1f s of stream time from the first frame; %d frames analysed "+
		"(%d captured), noise %.2f, last score %.1f%% (luma threshold %.0f); recorder %s, pre-roll JPEGs encoded %d, "+
		"dropped_behind %d", watched.Seconds(), st.Motion.Frames, st.Capture.Frames, st.Motion.Noise,
		st.Motion.ScorePercent, st.Motion.Threshold, st.Recorder.State, st.Recorder.Encoded, st.Recorder.DroppedBehind)
}

// motionClip turns vivid's movement on for moveFor seconds of guest time and
// off again, and checks the motion event's start and end against the
// agent's log of the control changes, then waits for the event's clip to be
// sealed and signed.
//
// late widens the bounds on the event's end for a slower camera: the MIPS
// guest under TCG analyses about two thirds of the frames (the motion queue
// drops the rest), so the detector's background takes the stopped bars in
// later in stream time.
func motionClip(t *testing.T, v *vm, late time.Duration) *clipRun {
	t.Helper()
	mark := v.mark()
	before := v.status(t)
	if before.Motion == nil {
		t.Fatalf("status has no motion part\n%s", v.tail())
	}
	// One command, so the movement lasts moveFor of guest time whatever the
	// console's latency on a loaded host.
	v.runFor(t, fmt.Sprintf("%s && sleep %d && %s", moveOn, moveFor, moveOff), 0, moveFor*time.Second+commandWait)
	logs := agentLogs(v.con.text(mark))
	onReq, on := controlSet(t, v, logs, "6")
	offReq, off := controlSet(t, v, logs, "3")

	started := v.waitLog(t, mark, eventWait, "a motion event after the movement was switched on", hintMotion,
		"motion event started", nil)
	at, err := time.Parse(time.RFC3339Nano, started.attrs["at"])
	if err != nil {
		t.Fatalf("motion event started: at=%q: %v", started.attrs["at"], err)
	}
	id := started.attrs["event"]
	if at.Before(onReq.time) || at.After(on.time.Add(startWithin)) {
		t.Errorf("event %s started at %s: want within %v of the movement (requested %s, set %s)\n%s",
			id, at.Format(time.RFC3339Nano), startWithin, onReq.time.Format(time.RFC3339Nano),
			on.time.Format(time.RFC3339Nano), hintMotion)
	}

	endWithin := endWithin + late
	ended := v.waitLog(t, mark, endWithin+eventWait, "the motion event's end after the movement was switched off",
		hintMotion, "motion event ended", func(l logLine) bool { return l.attrs["event"] == id })
	dur, err := time.ParseDuration(ended.attrs["duration"])
	if err != nil {
		t.Fatalf("motion event ended: duration=%q: %v", ended.attrs["duration"], err)
	}
	lastMotion := at.Add(dur) // the event's end: its last frame with motion
	endedAfter := ended.time.Sub(off.time)
	if endedAfter < cfgEventGap-endSlack || endedAfter > endWithin {
		t.Errorf("event %s ended %.2f s after the movement stopped: want after the event gap (%v) and within %v "+
			"(still_time + event_gap + 1 s + %v)\n%s", id, endedAfter.Seconds(), cfgEventGap, endWithin, late, hintMotion)
	}
	if lastMotion.Before(offReq.time.Add(-endSlack)) || lastMotion.After(off.time.Add(cfgStillTime+time.Second+late)) {
		t.Errorf("event %s: last motion %.2f s after the movement stopped, want motion until it stopped "+
			"(-%v) and none later than still_time + 1 s + %v (%v): the event does not span the movement\n%s",
			id, lastMotion.Sub(off.time).Seconds(), endSlack, late, cfgStillTime+time.Second+late, hintMotion)
	}
	t.Logf("motion: event %s started %.3f s after the movement was set (and %.3f s after it was asked for); "+
		"last motion %+.3f s and event end (log) %+.3f s from the movement's stop; duration %v, peak score %s",
		id, at.Sub(on.time).Seconds(), at.Sub(onReq.time).Seconds(), lastMotion.Sub(off.time).Seconds(),
		endedAfter.Seconds(), dur, ended.attrs["peak_score"])

	// The clip: opened by the event, closed after the post-roll, signed.
	clipStarted := v.waitLog(t, mark, eventWait, "the event's clip (clip started)", hintClip, "clip started",
		func(l logLine) bool {
			return slices.Contains(strings.Split(strings.Trim(l.attrs["events"], "[]"), " "), id)
		})
	name := clipStarted.attrs["clip"]
	clipDone := func(l logLine) bool { return l.attrs["clip"] == name }
	signed := v.waitLog(t, mark, cfgPostRoll+eventWait, "the clip's signed manifest (clip signed)", hintClip,
		"clip signed", clipDone)
	closed := v.waitLog(t, mark, eventWait, "the clip's close (clip closed)", hintClip, "clip closed", clipDone)
	st := v.status(t)
	if st.Motion == nil || st.Recorder == nil || st.Clips == nil {
		t.Fatalf("status lost its motion, recorder or clips part\n%s", v.tail())
	}
	if st.Motion.Events != before.Motion.Events+1 {
		t.Errorf("motion.events went from %d to %d over one movement, want one event (the status's "+
			"motion.recent_events says which)\n%s", before.Motion.Events, st.Motion.Events, v.tail())
	}
	if st.Clips.Sealed < 1 || st.Recorder.Clips < 1 {
		t.Errorf("after %s was sealed: clips.sealed %d, recorder.clips %d, want >= 1", name, st.Clips.Sealed, st.Recorder.Clips)
	}
	r := st.Recorder
	t.Logf("clip %s: %s frames, %s (%s bytes), closed (%s), signed seq %s; recorder since start: %d frames "+
		"taken, %d skipped for clip_fps %d, %d dropped because the JPEG encoder was behind, %d encoded, %d recorded; "+
		"frame queues: %s", name, closed.attrs["frames"], closed.attrs["duration"], closed.attrs["bytes"],
		closed.attrs["why"], signed.attrs["seq"], r.Frames, r.SkippedRate, cfgClipFPS, r.DroppedBehind, r.Encoded,
		r.Recorded, st.Capture.queues())
	n, _ := strconv.ParseUint(id, 10, 64)
	return &clipRun{name: name, event: n, deviceID: signed.attrs["device_id"], seq: signed.attrs["seq"]}
}

// controlSet finds the agent's log of one capture control change to value
// (the write request, logged before the driver is asked, and "capture
// control set", logged after).
func controlSet(t *testing.T, v *vm, logs []logLine, value string) (req, set logLine) {
	t.Helper()
	set, ok := findLog(logs, "capture control set", func(l logLine) bool {
		return l.attrs["name"] == "Horizontal Movement" && l.attrs["value"] == value
	})
	if !ok {
		t.Fatalf("no \"capture control set\" of Horizontal Movement = %s in the agent's log: did "+
			"camagent ctl control fail? (its output is in the console)\n%s", value, v.tail())
	}
	for _, l := range logs {
		if l.msg == "control: write request" && l.attrs["path"] == "/v1/capture/control" && !l.time.After(set.time) {
			req = l
		}
	}
	if req.msg == "" {
		t.Fatalf("no control write request logged before %q\n%s", set.text, v.tail())
	}
	return req, set
}

// powerCut is the power-loss check on the same card. A second boot records
// a short clip and seals it, then starts another and is killed (QEMU
// SIGKILLed) a few seconds later, while the second clip is a .part with
// whole fragments. A third boot must recover (seal) the .part; from the host,
// the recovered clip must probe and verify, and the clips sealed before the
// cut, a few seconds before it and in the first boot, must be intact.
func powerCut(t *testing.T, root string, cam camera, img, fwd string, first *clipRun, ph *phases) {
	t.Helper()
	v := boot(t, root, cam, img, fwd, filepath.Join(root, "out", "e2e-console-vfat-cut.log"))
	ph.failure = func() string { return v.failure }
	v.waitFor(t, firstFrameRE, 0, firstFrameWait, "the agent's first frame (second boot, to be cut)")
	v.waitLog(t, 0, commandWait, "the run record of the clean power-off before", "", "previous run shut down cleanly", nil)

	// A clip sealed shortly before the cut.
	mark := v.mark()
	v.runFor(t, fmt.Sprintf("%s && sleep 2 && %s", moveOn, moveOff), 0, 2*time.Second+commandWait)
	startedA := v.waitLog(t, mark, eventWait, "a clip after the movement was switched on", hintMotion+"\n"+hintClip,
		"clip started", nil)
	nameA := startedA.attrs["clip"]
	isA := func(l logLine) bool { return l.attrs["clip"] == nameA }
	signedA := v.waitLog(t, mark, endWithin+cfgPostRoll+eventWait, "the clip's signed manifest", hintClip, "clip signed", isA)
	v.waitLog(t, mark, eventWait, "the clip's close (clip closed)", hintClip, "clip closed", isA)
	eventA := startedA.attrs["events"]

	// The clip to be cut.
	mark = v.mark()
	v.run(t, moveOn, 0)
	startedB := v.waitLog(t, mark, eventWait, "a second clip after the movement was switched on again",
		hintMotion+"\n"+hintClip, "clip started", nil)
	name := startedB.attrs["clip"]
	// Two fragment headers in the .part: the first fragment is whole and
	// synced (each is written in one write, then fdatasync'ed, before the next).
	part := cfgSDMount + "/camagent/clips/" + name + ".mp4.part"
	out := v.runFor(t, fmt.Sprintf(`p=%s; i=0; n=0; while [ $i -lt 150 ]; do n=$(grep -c moof $p 2>/dev/null); `+
		`[ "${n:-0}" -ge 2 ] && break; sleep 0.1; i=$((i+1)); done; echo "fragments=$n bytes=$(stat -c %%s $p)"`, part),
		0, 15*time.Second+commandWait)
	m := regexp.MustCompile(`fragments=(\d+) bytes=(\d+)`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" || m[1] == "1" {
		t.Fatalf("%s: want at least 2 fragments within 15 s of guest time, got %q\n%s\n%s", part, out, hintClip, v.tail())
	}
	st := v.status(t)
	if st.Clips == nil || !slices.Contains(st.Clips.Recording, name) || st.Recorder == nil || st.Recorder.State != "recording" {
		t.Fatalf("before the power cut: status clips.recording %v, recorder %+v; want %s being recorded\n%s",
			st.Clips, st.Recorder, name, v.tail())
	}
	now := v.guestNow(t)
	v.kill(t)
	t.Logf("power cut (SIGKILL to QEMU) while %s.mp4.part had %s+ fragment headers in %s bytes, %.1f s after %s "+
		"(event %s) was signed", name, m[1], m[2], now.Sub(signedA.time).Seconds(), nameA, eventA)
	ph.done("clip, then power cut while recording")

	// Power back on: the agent recovers the .part at start.
	v = boot(t, root, cam, img, fwd, filepath.Join(root, "out", "e2e-console-vfat-recover.log"))
	v.waitFor(t, firstFrameRE, 0, firstFrameWait, "the agent's first frame (after the power cut)")
	const hintRecover = "next: the storage part's lines at start (\"sealed a clip cut back\", \"removed a clip\", " +
		"\"recovered clips\") and clips.last_recovery in camagent ctl status; storage/recover.go does the work"
	const hintAtomic = "next: a file replaced or created by rename (atomicfile.WriteFile, ClipWriter.Seal) must " +
		"be fsync'ed again after the rename on vfat: until the renamed inode is written back, its directory entry " +
		"on the card keeps the old (or zero) size and first cluster"
	prev := v.waitLog(t, 0, commandWait, "the agent's note of the unclean stop", hintRecover, "",
		func(l logLine) bool { return strings.HasPrefix(l.msg, "previous run") })
	if prev.msg != "previous run did not shut down cleanly (power loss or crash)" {
		t.Errorf("after the power cut the agent logged %q, want \"previous run did not shut down cleanly\": "+
			"camagent/state.json did not survive the cut\n%s", prev.text, hintAtomic)
	}
	rep := v.waitLog(t, 0, eventWait, "the recovery report", hintRecover, "recovered clips after an unclean stop", nil)
	if rep.attrs["sealed"] == "0" || rep.attrs["failed"] != "0" {
		t.Errorf("recovery report %q: want sealed >= 1 and failed=0\n%s", rep.text, hintRecover)
	}
	cut := v.waitLog(t, 0, eventWait, "the recovery of "+name, hintRecover, "sealed a clip cut back to its last whole fragment",
		func(l logLine) bool { return l.attrs["clip"] == name })
	signed := v.waitLog(t, 0, eventWait, "the recovered clip's signed manifest", hintRecover+"\n"+hintClip, "",
		func(l logLine) bool {
			return l.attrs["clip"] == name && (l.msg == "clip signed" || l.msg == "clip sealed but its seal hook failed; recovery will retry")
		})
	if signed.msg != "clip signed" {
		t.Errorf("the recovered clip was not signed: %q\n%s", signed.text, hintAtomic)
	}
	st = v.status(t)
	if st.Clips == nil || st.Clips.LastRecovery.Sealed < 1 || st.Clips.LastRecovery.Failed != 0 || st.Clips.Clips < 3 {
		t.Errorf("status clips after recovery: %+v; want last_recovery.sealed >= 1, failed 0, clips >= 3 (one "+
			"of the first boot, two of the second)\n%s", st.Clips, hintRecover)
	}
	t.Logf("recovery: %s sealed with %s fragments (%s bytes cut off, why %s), signed seq %s; report: %s",
		name, cut.attrs["fragments"], cut.attrs["cut_bytes"], cut.attrs["why"], signed.attrs["seq"], rep.text)
	frames := v.status(t).Capture.Frames
	v.powerOff(t)
	ph.done("boot after the power cut, recovery, power-off")

	// From the host. Linux keeps the FAT dirty bit of a card mounted after a
	// power cut until fsck clears it, so fsck.vfat -n is only reported here.
	checkRunRecord(t, sdCase{fs: "vfat", read: func(img, path string) *exec.Cmd {
		return exec.Command("mtype", "-i", img, "::"+path)
	}}, img, frames)
	fsck, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput()
	t.Logf("fsck.vfat -n after the power cut and recovery (exit %v; a set dirty bit is expected):\n%s", err, fsck)
	checkClip(t, img, &clipRun{name: name, recovered: true, deviceID: first.deviceID, agent: first.agent, caFile: first.caFile},
		filepath.Join(t.TempDir(), "recovered"))
	// The clips sealed before the cut are there and whole.
	evA, _ := strconv.ParseUint(strings.Trim(eventA, "[]"), 10, 64)
	if checkClip(t, img, &clipRun{name: nameA, event: evA, deviceID: first.deviceID, agent: first.agent, caFile: first.caFile},
		filepath.Join(t.TempDir(), "sealed-before-cut")) == "" {
		t.Errorf("%s, sealed and signed before the power cut, did not survive it\n%s", nameA, hintAtomic)
	}
	if sha := checkClip(t, img, first, filepath.Join(t.TempDir(), "first-again")); sha != first.sha {
		t.Errorf("%s changed across the power cut: sha256 %q, was %s", first.name, sha, first.sha)
	}
	ph.done("recovered clip checks on the host")
}

// clipMetadata is the part of a clip's .json sidecar the host checks.
type clipMetadata struct {
	Name            string   `json:"name"`
	Events          []uint64 `json:"events"`
	DurationMS      int64    `json:"duration_ms"`
	Frames          int      `json:"frames"`
	Codec           string   `json:"codec"`
	Width           int      `json:"width"`
	Height          int      `json:"height"`
	Size            int64    `json:"size"`
	SHA256          string   `json:"sha256"`
	Thumbnail       string   `json:"thumbnail"`
	ThumbnailSHA256 string   `json:"thumbnail_sha256"`
	Recovered       bool     `json:"recovered"`
}

// checkClip copies a clip and its sidecars out of the vfat image with mtools
// into dir, probes the video and the thumbnail with ffprobe, decodes the
// video with ffmpeg, checks the metadata against them, and verifies the
// signed manifest with the host's camagent. It returns the video's SHA-256.
func checkClip(t *testing.T, img string, c *clipRun, dir string) (sha string) {
	t.Helper()
	bad := false
	errorf := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		bad = true
	}
	defer func() {
		if bad {
			sha = ""
		}
	}()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Base(c.name)
	for _, ext := range []string{".mp4", ".jpg", ".json", ".manifest"} {
		src := "::camagent/clips/" + c.name + ext
		if out, err := exec.Command("mcopy", "-n", "-i", img, src, filepath.Join(dir, base+ext)).CombinedOutput(); err != nil {
			list, _ := exec.Command("mdir", "-i", img, "::camagent/clips/"+filepath.Dir(c.name)).CombinedOutput()
			errorf("mcopy %s out of the SD image: %v\n%s\nthe clip's folder holds:\n%s", src, err, out, list)
			return ""
		}
	}
	clip, thumb := filepath.Join(dir, base+".mp4"), filepath.Join(dir, base+".jpg")
	video, err := os.ReadFile(clip)
	if err != nil {
		errorf("%v", err)
		return ""
	}
	sum := sha256.Sum256(video)
	sha = hex.EncodeToString(sum[:])

	// A sealed clip holds the pre-roll, the event and the post-roll; a
	// recovered one what was whole when the power went.
	minDuration := cfgPostRoll.Seconds()
	if c.recovered {
		minDuration = 0
	}
	p, err := ffprobe(clip, true)
	if err != nil {
		errorf("%v", err)
	}
	if p.Codec != "mjpeg" || p.Width != 640 || p.Height != 480 || p.Frames <= 0 || p.Duration <= minDuration {
		errorf("%s: ffprobe says %+v, want mjpeg 640x480, frames > 0, duration > %.0f s", c.name, p, minDuration)
	}
	// Every frame decoded, with its own time stamp: by default ffmpeg would
	// convert to a constant frame rate and complain of the capture times'
	// jitter (two frames in one tick of 1/fps); a clip with two frames at the
	// same time stamp still fails.
	dec := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", clip, "-map", "0:v:0",
		"-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "null", "-")
	if out, err := dec.CombinedOutput(); err != nil || len(out) > 0 {
		errorf("%s: ffmpeg decoding every frame: %v\n%s", c.name, err, out)
	}
	th, err := ffprobe(thumb, false)
	if err != nil {
		errorf("%v", err)
	}
	if th.Codec != "mjpeg" || th.Width < 300 || th.Width > 340 || th.Height <= 0 {
		errorf("%s.jpg: ffprobe says %+v, want a JPEG about 320 pixels wide", c.name, th)
	}

	raw, err := os.ReadFile(filepath.Join(dir, base+".json"))
	if err != nil {
		errorf("%v", err)
	}
	var md clipMetadata
	if err := json.Unmarshal(raw, &md); err != nil {
		errorf("%s.json: %v\n%q", c.name, err, raw)
	}
	thumbBytes, _ := os.ReadFile(thumb)
	tsum := sha256.Sum256(thumbBytes)
	switch {
	case md.Name != c.name || md.Codec != "mjpeg" || md.Width != 640 || md.Height != 480:
		errorf("%s.json: name %q codec %q %dx%d, want %q mjpeg 640x480", c.name, md.Name, md.Codec, md.Width, md.Height, c.name)
	case md.Size != int64(len(video)) || md.SHA256 != sha:
		errorf("%s.json: size %d sha256 %s, the video copied out has %d bytes, sha256 %s", c.name, md.Size, md.SHA256, len(video), sha)
	case md.Frames != p.Frames:
		errorf("%s.json: %d frames, ffprobe counted %d", c.name, md.Frames, p.Frames)
	case md.Thumbnail != base+".jpg" || md.ThumbnailSHA256 != hex.EncodeToString(tsum[:]):
		errorf("%s.json: thumbnail %q sha256 %s, want %s.jpg with the sha256 of the copy", c.name, md.Thumbnail, md.ThumbnailSHA256, base)
	case md.Recovered != c.recovered:
		errorf("%s.json: recovered %v, want %v", c.name, md.Recovered, c.recovered)
	case !c.recovered && !slices.Contains(md.Events, c.event):
		errorf("%s.json: events %v, want event %d", c.name, md.Events, c.event)
	}

	// The signature, offline, as a viewer would check it: pinned to the
	// device ID the agent logged when it signed.
	bin := c.agent
	out, err := exec.Command(bin, "verify", "-pin", c.deviceID, clip).CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^OK +`+regexp.QuoteMeta(clip)+`: clip`).Match(out) ||
		!regexp.MustCompile(`(?m)^OK +`+regexp.QuoteMeta(thumb)+`: thumbnail`).Match(out) ||
		regexp.MustCompile(`(?m)^FAIL`).Match(out) {
		errorf("camagent verify -pin %s %s: %v, want OK for the signature, the clip and the thumbnail\n%s\n"+
			"next: camagent verify (agent/verify.go) says which check failed; compare the manifest's sha256 "+
			"with the .json's", c.deviceID, clip, err, out)
	}
	// Content Credentials (C2PA) on the clip and its thumbnail: signed at
	// the seal, or by the recovery after a power cut (the clip cut back to
	// its last whole fragment, the thumbnail rebuilt).
	for _, f := range []string{clip, thumb} {
		if err := checkCredentials(t, f, c.caFile, c.deviceID); err != nil {
			errorf("%v", err)
		}
	}
	if c.cloudBytes != 0 && c.cloudBytes != int64(len(video)) {
		errorf("%s: the dev cloud lists %d bytes, the card holds %d", c.name, c.cloudBytes, len(video))
	}
	if !bad {
		t.Logf("host checks of %s: %d frames, %.2f s (%.1f fps), %d bytes; thumbnail %dx%d; metadata agrees; "+
			"camagent verify OK (device %s)", c.name, p.Frames, p.Duration, float64(p.Frames)/p.Duration, len(video),
			th.Width, th.Height, c.deviceID)
	}
	return sha
}

// probe is what ffprobe says of a file's first video stream.
type probe struct {
	Codec         string
	Width, Height int
	Frames        int
	Duration      float64
}

// ffprobe probes path; with count it decodes every frame to count them. Any
// complaint of ffprobe's is an error.
func ffprobe(path string, count bool) (probe, error) {
	args := []string{"-v", "error", "-select_streams", "v:0", "-show_entries",
		"stream=codec_name,width,height,nb_read_frames:format=duration", "-of", "json"}
	if count {
		args = append(args, "-count_frames")
	}
	cmd := exec.Command("ffprobe", append(args, path)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		return probe{}, fmt.Errorf("ffprobe %s: %v\n%s", path, err, stderr.Bytes())
	}
	var r struct {
		Streams []struct {
			Codec  string `json:"codec_name"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
			Frames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		return probe{}, fmt.Errorf("ffprobe %s: want one video stream in JSON, got %v\n%s", path, err, out)
	}
	s := r.Streams[0]
	p := probe{Codec: s.Codec, Width: s.Width, Height: s.Height}
	p.Frames, _ = strconv.Atoi(s.Frames)
	p.Duration, _ = strconv.ParseFloat(r.Format.Duration, 64)
	return p, nil
}

// logLine is one of the agent's log lines (slog's text format) on the console.
type logLine struct {
	time  time.Time
	msg   string
	attrs map[string]string
	text  string
}

var (
	logLineRE = regexp.MustCompile(`time=(\S+) level=[A-Z]+ msg=("(?:[^"\\]|\\.)*"|\S+)([^\n]*)\n`)
	attrRE    = regexp.MustCompile(`([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S*)`)
)

// agentLogs parses the agent's log lines in console text (other lines are
// skipped; a line the shell's prompt precedes is still found).
func agentLogs(text string) []logLine {
	var lines []logLine
	for _, m := range logLineRE.FindAllStringSubmatch(text, -1) {
		ts, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil {
			continue
		}
		l := logLine{time: ts, msg: unquote(m[2]), attrs: map[string]string{}, text: strings.TrimSpace(m[0])}
		for _, a := range attrRE.FindAllStringSubmatch(m[3], -1) {
			l.attrs[a[1]] = unquote(a[2])
		}
		lines = append(lines, l)
	}
	return lines
}

func unquote(s string) string {
	if u, err := strconv.Unquote(s); err == nil {
		return u
	}
	return s
}

// findLog returns the first line with message msg (any, when "") that match
// accepts (any, when nil).
func findLog(lines []logLine, msg string, match func(logLine) bool) (logLine, bool) {
	for _, l := range lines {
		if (msg == "" || l.msg == msg) && (match == nil || match(l)) {
			return l, true
		}
	}
	return logLine{}, false
}

// waitLog waits up to limit for an agent log line with message msg that
// match accepts, on the console after offset from.
func (v *vm) waitLog(t *testing.T, from int, limit time.Duration, what, hint, msg string, match func(logLine) bool) logLine {
	t.Helper()
	var l logLine
	v.until(t, limit, what, hint, func() bool {
		var ok bool
		l, ok = findLog(agentLogs(v.con.text(from)), msg, match)
		return ok
	})
	return l
}
