//go:build linux

package e2e

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The serial debug shell's output the test waits for. The console echoes
// each typed line, so none of these match a typed line.
var (
	shellBannerRE = regexp.MustCompile(`agent camagent \S+, up \S+\ncamagent> `)
	shellStatusRE = regexp.MustCompile(`(?s)capture +/dev/video0 (\S+)\n +format +(\S+) (\d+)x(\d+) stride.*?\ncamagent> `)
	// motion 3: the header, then one line per analysed frame.
	shellMotionRE = regexp.MustCompile(`(?s)FRAME +TIME +SCORE +NOISE +THRESH +MOTION +BOXES\n(.*?)camagent> `)
	motionLineRE  = regexp.MustCompile(`(?m)^\d+ +\d\d:\d\d:\d\d\.\d{3} +([0-9.]+)% +[0-9.]+ +[0-9.]+ +(-|MOTION|light|relearn) `)
	shellLockedRE = regexp.MustCompile(`error: locked: config set needs an unlocked shell; run unlock[^\n]*\ncamagent> `)
	// unlock: the challenge on a line of its own, the keys that can answer
	// it, then the prompt for the response.
	shellChallengeRE = regexp.MustCompile(`(?s)challenge \(valid [^\n]*\):\n\n(camagent-unlock-v1\.\S+)\n\nkeys that unlock: ([^\n]*)\n.*?response \(Enter cancels\): `)
	shellCancelRE    = regexp.MustCompile(`unlock cancelled\ncamagent> `)
	shellUnlockedRE  = regexp.MustCompile(`unlocked for 15m0s by (vendor key sha256:[0-9a-f]+); lock ends it sooner\ncamagent# `)
	shellReplayRE    = regexp.MustCompile(`error: unlock refused: ([^\n]*)\ncamagent# `)
	shellSetRE       = regexp.MustCompile(`(?s)log\.level: "(\w+)" -> "(\w+)"\n.*?written to (\S+); the agent reloads it \(changed: log\)\n.*?camagent# `)
	shellGetRE       = regexp.MustCompile(`(?s)\[log\]\nlevel = "(\w+)".*?camagent# `)
	reloadedRE       = regexp.MustCompile(`msg="config reloaded"[^\n]*changed=\[log\]`)
	shellLockRE      = regexp.MustCompile(`\nlocked\n`)
	debugLineRE      = regexp.MustCompile(`(?m)^time=\S+ level=DEBUG `)
)

// testShell drives `camagent shell` on the serial console as a technician
// would: status, motion, a privileged command refused while locked, an unlock
// with a challenge signed on the host by the development vendor key
// (scripts/image.sh made it and put its public half in the image), the same
// command permitted and hot-reloaded by the agent, and a replay of the
// response refused.
//
// The shell reads its lines from a loop of the console shell's read builtin:
// `while IFS= read -r l; do echo "$l"; done | camagent shell`. The loop reads
// the console's tty in cooked mode, one typed line at a time, and hands the
// lines on through a pipe, so the shell runs in its plain-line mode (its stdin
// is not a terminal) while its output goes straight to the console. Its
// raw-terminal mode would read the typed lines too, but redraws the line and
// prompt with escape sequences on every key, which is harder to match. (A
// plain `cat | camagent shell` did not work: busybox cat on the guest's serial
// tty never passed the typed lines on.) Ctrl-D ends the loop, the pipe closes
// and the shell leaves, locking its session.
func testShell(t *testing.T, v *vm, hostAgent, vendorKey string) {
	t.Helper()
	began := time.Now()
	v.seq++
	end := fmt.Sprintf("@@SHELL-END-%d@@", v.seq)
	endRE := regexp.MustCompile(regexp.QuoteMeta(end) + ` (\d+)\n`)
	from := v.mark()
	// The quotes keep the console's echo of the typed line from matching.
	v.send(t, fmt.Sprintf(`while IFS= read -r l; do echo "$l"; done | camagent shell; echo "%s""%s" $?`, end[:4], end[4:]))
	v.waitFor(t, shellBannerRE, from, commandWait, "the serial shell's banner and prompt")

	say := func(line string, re *regexp.Regexp, what string) []string {
		t.Helper()
		from := v.mark()
		v.send(t, line)
		return v.waitFor(t, re, from, commandWait, what+" (shell: "+line+")")
	}

	m := say("status", shellStatusRE, "the capture device and format in the shell's status")
	if m[1] != "streaming" && m[1] != "running" || m[2] != "YUYV" || m[3] != "640" || m[4] != "480" {
		t.Errorf("shell status: capture %s, format %s %sx%s; want streaming (or running) YUYV 640x480", m[1], m[2], m[3], m[4])
	}

	m = say("motion 3", shellMotionRE, "three frames' motion scores")
	samples := motionLineRE.FindAllStringSubmatch(m[1], -1)
	if len(samples) != 3 {
		t.Errorf("shell motion 3: %d score lines, want 3:\n%s", len(samples), m[1])
	}
	for _, s := range samples {
		if s[2] == "MOTION" {
			t.Errorf("shell motion 3: motion in vivid's still scene: %q", s[0])
		}
	}

	say("config set log.level debug", shellLockedRE, "the refusal of config set while locked")

	m = say("unlock", shellChallengeRE, "the unlock challenge")
	challenge, keys := m[1], m[2]
	if !strings.Contains(keys, "vendor key sha256:") {
		t.Errorf("keys that unlock: %q, want the development vendor key (scripts/image.sh installs /etc/camagent/vendor.pub)", keys)
	}
	// On the technician's machine: sign it with the vendor key.
	var stderr strings.Builder
	sign := exec.Command(hostAgent, "sign-challenge", "-key", vendorKey, challenge)
	sign.Stderr = &stderr
	out, err := sign.Output()
	if err != nil {
		t.Fatalf("camagent sign-challenge -key %s %s: %v\n%s", vendorKey, challenge, err, stderr.String())
	}
	response := strings.TrimSpace(string(out))
	// Enter at the response prompt cancels; the challenge stays open, to be
	// answered later with unlock RESPONSE.
	say("", shellCancelRE, "the cancelled response prompt")
	m = say("unlock "+response, shellUnlockedRE, "the unlock")
	t.Logf("serial shell: unlocked by %s (challenge %s)", m[1], challenge)

	from = v.mark()
	m = say("config set log.level debug", shellSetRE, "config set, permitted")
	if m[1] != "info" || m[2] != "debug" || m[3] != "/etc/camagent/camagent.toml" {
		t.Errorf("shell config set: %s -> %s in %s, want info -> debug in /etc/camagent/camagent.toml", m[1], m[2], m[3])
	}
	v.waitFor(t, reloadedRE, from, commandWait, "the agent's hot reload of the config (log section)")
	if m = say("config get log.level", shellGetRE, "the running log config"); m[1] != "debug" {
		t.Errorf("running log.level after config set: %q, want debug", m[1])
	}
	// The agent applied it: it logs at debug level now (its control server
	// logs each read request at debug, config get's among them; the reload
	// line above is logged only once the new config is applied).
	v.waitFor(t, debugLineRE, from, commandWait, "a debug line of the agent after the reload")

	m = say("unlock "+response, shellReplayRE, "the refusal of a replayed response")
	if !strings.Contains(m[1], "unknown or already used challenge") {
		t.Errorf("replayed unlock response: %q, want unknown or already used challenge", m[1])
	}

	// Back to info, so that the rest of the run's console stays quiet; then
	// Ctrl-D on the console ends cat, and the shell locks as it leaves.
	from = v.mark()
	if m = say("config set log.level info", shellSetRE, "config set back to info"); m[2] != "info" {
		t.Errorf("shell config set back: %s -> %s, want info", m[1], m[2])
	}
	v.waitFor(t, reloadedRE, from, commandWait, "the agent's hot reload back to info")
	from = v.mark()
	if _, err := v.stdin.Write([]byte{4}); err != nil {
		t.Fatalf("console write Ctrl-D: %v", err)
	}
	m = v.waitFor(t, endRE, from, commandWait, "the serial shell's exit after Ctrl-D")
	if m[1] != "0" {
		t.Errorf("camagent shell exit status %s, want 0\n%s", m[1], v.tail())
	}
	if !shellLockRE.MatchString(v.con.text(from)) {
		t.Errorf("the shell did not lock its session as it left\n%s", v.tail())
	}
	t.Logf("serial shell: status, motion, refused, unlock, config set with hot reload, replay refused, in %.1f s",
		time.Since(began).Seconds())
}
