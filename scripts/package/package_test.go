package packaging

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/board/keystore"
)

// The agent's default config path (agent.DefaultConfigPath; package main
// cannot be imported).
const configPath = "/etc/camagent/camagent.toml"

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// generatedConfig returns the camagent.toml that camagent.mk writes for
// board: the quoted lines of its printf.
func generatedConfig(t *testing.T, board string) string {
	mk := read(t, "buildroot/package/camagent/camagent.mk")
	i := strings.Index(mk, "printf '%s\\n' \\")
	j := strings.Index(mk, ">$(TARGET_DIR)/etc/camagent/camagent.toml")
	if i < 0 || j < i {
		t.Fatal("camagent.mk: the config printf is not where the test looks")
	}
	var lines []string
	for _, m := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(mk[i+len("printf '%s\\n'"):j], -1) {
		lines = append(lines, strings.ReplaceAll(m[1], "$(CAMAGENT_BOARD)", board))
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestGeneratedConfigParses(t *testing.T) {
	for _, b := range board.Names() {
		text := generatedConfig(t, b)
		c, err := config.Parse([]byte(text))
		if err != nil {
			t.Errorf("board %s: the generated config is refused: %v\n%s", b, err, text)
			continue
		}
		if c.Board != b {
			t.Errorf("board %s: parsed board %q", b, c.Board)
		}
	}
	// Kconfig's default boards exist.
	for _, m := range regexp.MustCompile(`default "([a-z0-9-]+)"`).FindAllStringSubmatch(read(t, "buildroot/package/camagent/Config.in"), -1) {
		if _, err := board.Lookup(m[1]); err != nil && !strings.Contains(m[1], "/") {
			t.Errorf("Config.in default board %q: %v", m[1], err)
		}
	}
}

// The scripts, the unit and the agent agree on the paths.
func TestPathsAgree(t *testing.T) {
	s90 := read(t, "S90camagent")
	unit := read(t, "camagent.service")
	readme := read(t, "README.md")
	dataDir := filepath.Dir(keystore.DefaultPath)
	sock := config.Default().Control.Socket
	checks := []struct {
		name, text, want string
	}{
		{"S90 config", s90, "CAMAGENT_CONFIG=" + configPath},
		{"S90 data dir", s90, "CAMAGENT_DATADIR=" + dataDir},
		{"S90 socket", s90, sock},
		{"unit ExecStart", unit, "ExecStart=/usr/bin/camagent run -config " + configPath},
		{"unit state dir", unit, "StateDirectory=" + filepath.Base(dataDir)},
		{"unit socket", unit, sock},
		{"README config", readme, configPath},
		{"README data dir", readme, dataDir},
		{"README socket", readme, sock},
	}
	for _, c := range checks {
		if !strings.Contains(c.text, c.want) {
			t.Errorf("%s: %q not found", c.name, c.want)
		}
	}
	for _, n := range board.Names() {
		p, _ := board.Lookup(n)
		if p.DataDir != dataDir || filepath.Dir(p.KeystorePath) != dataDir {
			t.Errorf("profile %s: data dir %s, keystore %s; the packaging makes %s", n, p.DataDir, p.KeystorePath, dataDir)
		}
	}
}

// Every BR2_PACKAGE_CAMAGENT_* symbol the .mk uses is defined in Config.in,
// and every file it installs exists.
func TestBuildrootPackage(t *testing.T) {
	mk := read(t, "buildroot/package/camagent/camagent.mk")
	cfg := read(t, "buildroot/package/camagent/Config.in")
	for _, sym := range regexp.MustCompile(`BR2_PACKAGE_CAMAGENT\w*`).FindAllString(mk, -1) {
		if !strings.Contains(cfg, "config "+sym+"\n") {
			t.Errorf("camagent.mk uses %s, which Config.in does not define", sym)
		}
	}
	if !strings.Contains(read(t, "buildroot/external.desc"), "name: CAMAGENT\n") {
		t.Error("external.desc does not name the external CAMAGENT")
	}
	if !strings.Contains(read(t, "buildroot/Config.in"), `source "$BR2_EXTERNAL_CAMAGENT_PATH/package/camagent/Config.in"`) {
		t.Error("the external's Config.in does not source the package")
	}
	for _, f := range []string{"S90camagent", "camagent.service", "../../agent/config/camagent.example.toml", "../../agent/main.go"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("camagent.mk installs or builds %s: %v", f, err)
		}
	}
	if st, _ := os.Stat("S90camagent"); st == nil || st.Mode()&0o111 == 0 {
		t.Error("S90camagent is not executable")
	}
}

func TestShellcheck(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Skip("shellcheck not installed")
	}
	for _, f := range []string{"S90camagent", "camagent-sd-check"} {
		if out, err := exec.Command(sc, "-s", "sh", f).CombinedOutput(); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", f, err, out)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "camagent")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	unit := strings.ReplaceAll(read(t, "camagent.service"), "/usr/bin/camagent", bin)
	check, _ := filepath.Abs("camagent-sd-check")
	unit = strings.ReplaceAll(unit, "/usr/sbin/camagent-sd-check", check)
	os.WriteFile(filepath.Join(dir, "camagent.service"), []byte(unit), 0o644)
	var stderr bytes.Buffer
	cmd := exec.Command(sa, "verify", "--man=no", filepath.Join(dir, "camagent.service"))
	cmd.Stderr = &stderr
	// systemd-analyze only warns (exit 0) about unknown keys: any output fails.
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, stderr.String())
	}
}

// fakeAgent is a camagent stand-in: it logs "start PID ARGS" and, per the
// mode file, runs until SIGTERM (then logs "term PID" and exits 0), exits
// with status 3 at once ("fail"), or exits 0 at once ("clean").
const fakeAgent = `#!/bin/sh
echo "start $$ $*" >>"$FAKE_DIR/log"
mode=$(cat "$FAKE_DIR/mode")
case $mode in
fail) exit 3 ;;
clean) exit 0 ;;
esac
trap 'echo "term $$" >>"$FAKE_DIR/log"; exit 0' TERM
while :; do sleep 0.05; done
`

type initRig struct {
	t     *testing.T
	sh    []string // the shell to run the script with
	dir   string
	env   []string
	fake  string
	rundr string
}

func newInitRig(t *testing.T, sh []string) *initRig {
	dir := t.TempDir()
	r := &initRig{t: t, sh: sh, dir: dir, fake: filepath.Join(dir, "camagent"), rundr: filepath.Join(dir, "run")}
	os.WriteFile(r.fake, []byte(fakeAgent), 0o755)
	os.WriteFile(filepath.Join(dir, "mode"), []byte("run"), 0o644)
	defaults := fmt.Sprintf("CAMAGENT_BIN=%s\nCAMAGENT_CONFIG=%s/camagent.toml\nCAMAGENT_RUNDIR=%s\n"+
		"CAMAGENT_DATADIR=%s/data\nCAMAGENT_OUTPUT=%s/output\nRESTART_DELAY=1\nSTOP_TIMEOUT=10\n",
		r.fake, dir, r.rundr, dir, dir)
	os.WriteFile(filepath.Join(dir, "defaults"), []byte(defaults), 0o644)
	r.env = append(os.Environ(), "CAMAGENT_DEFAULTS="+filepath.Join(dir, "defaults"), "FAKE_DIR="+dir)
	t.Cleanup(func() {
		// Never leave a supervisor behind, whatever failed.
		r.run("stop")
		if pid := r.pid("supervisor.pid"); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return r
}

// run runs the init script with arg and returns its output and exit status.
func (r *initRig) run(arg string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.sh[0], append(r.sh[1:], "S90camagent", arg)...)
	cmd.Env = r.env
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		r.t.Fatalf("S90camagent %s: %v", arg, err)
	}
	return string(out), 0
}

func (r *initRig) mode(m string) { os.WriteFile(filepath.Join(r.dir, "mode"), []byte(m), 0o644) }

func (r *initRig) log() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "log"))
	return string(b)
}

func (r *initRig) output() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, "output"))
	return string(b)
}

func (r *initRig) pid(name string) int {
	b, err := os.ReadFile(filepath.Join(r.rundr, name))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// waitFor polls cond; real processes and a real shell leave no other way.
// The limit is generous: it only bounds a failure.
func (r *initRig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	r.t.Fatalf("timed out waiting for %s; agent log:\n%s\noutput:\n%s", what, r.log(), r.output())
}

// alive: pid runs and is not a zombie (an orphaned supervisor is reparented
// to PID 1, which in a container may never reap it).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func shells(t *testing.T) map[string][]string {
	out := map[string][]string{"sh": {"/bin/sh"}}
	if bb, err := exec.LookPath("busybox"); err == nil {
		out["busybox"] = []string{bb, "sh"}
	}
	return out
}

func TestInitScript(t *testing.T) {
	t.Parallel()
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newInitRig(t, sh)
			if out, st := r.run("status"); st != 3 || !strings.Contains(out, "stopped") {
				t.Errorf("status before start: %d %q", st, out)
			}
			if out, st := r.run("start"); st != 0 || !strings.Contains(out, "OK") {
				t.Fatalf("start: %d %q", st, out)
			}
			r.waitFor("the agent", func() bool {
				p := r.pid("camagent.pid")
				return alive(p) && strings.Contains(r.log(), fmt.Sprintf("start %d ", p))
			})
			first := r.pid("camagent.pid")
			if !strings.Contains(r.log(), fmt.Sprintf("start %d run -config %s/camagent.toml", first, r.dir)) {
				t.Errorf("agent started as %q", r.log())
			}
			if st, err := os.Stat(filepath.Join(r.dir, "data")); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("data dir: %v %v", st, err)
			}
			if out, st := r.run("start"); st != 0 || !strings.Contains(out, "already running") {
				t.Errorf("second start: %d %q", st, out)
			}
			if out, st := r.run("status"); st != 0 || !strings.Contains(out, fmt.Sprintf("running (pid %d)", first)) {
				t.Errorf("status: %d %q", st, out)
			}

			// A crash: the supervisor restarts the agent.
			syscall.Kill(first, syscall.SIGKILL)
			r.waitFor("the restart", func() bool {
				p := r.pid("camagent.pid")
				return p != first && alive(p) && strings.Contains(r.log(), fmt.Sprintf("start %d ", p))
			})
			if !strings.Contains(r.output(), "exited with status 137; restarting in 1 s") {
				t.Errorf("supervisor output %q", r.output())
			}

			// stop: SIGTERM to the agent, the supervisor ends, pid files go.
			second := r.pid("camagent.pid")
			sup := r.pid("supervisor.pid")
			if out, st := r.run("stop"); st != 0 || !strings.Contains(out, "OK") {
				t.Errorf("stop: %d %q", st, out)
			}
			if !strings.Contains(r.log(), fmt.Sprintf("term %d", second)) || alive(second) || alive(sup) {
				t.Errorf("after stop: log %q, agent alive %v, supervisor alive %v", r.log(), alive(second), alive(sup))
			}
			if r.pid("supervisor.pid") != 0 || r.pid("camagent.pid") != 0 {
				t.Error("pid files left after stop")
			}
			if out, st := r.run("status"); st != 3 {
				t.Errorf("status after stop: %d %q", st, out)
			}
			if out, st := r.run("stop"); st != 0 || !strings.Contains(out, "not running") {
				t.Errorf("second stop: %d %q", st, out)
			}
		})
	}
}

func TestInitScriptCleanExitAndStopBetweenRestarts(t *testing.T) {
	t.Parallel()
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newInitRig(t, sh)
			// A clean exit is not restarted.
			r.mode("clean")
			r.run("start")
			r.waitFor("the supervisor to end", func() bool { return r.pid("supervisor.pid") == 0 })
			if n := strings.Count(r.log(), "start "); n != 1 || !strings.Contains(r.output(), "exited cleanly") {
				t.Errorf("clean exit: %d starts, output %q", n, r.output())
			}

			// A failing agent is retried; stop while the supervisor waits.
			r.mode("fail")
			r.run("start")
			r.waitFor("a failed start", func() bool { return strings.Contains(r.output(), "exited with status 3") })
			sup := r.pid("supervisor.pid")
			if out, st := r.run("stop"); st != 0 || !strings.Contains(out, "OK") {
				t.Errorf("stop between restarts: %d %q", st, out)
			}
			if alive(sup) {
				t.Error("supervisor alive after stop")
			}
		})
	}
}

// TestBuildrootSim runs camagent.mk through testdata/buildroot-sim.mk: both
// the from-source build (vendoring offline from the module cache, then an
// arm64 build with -mod=vendor and GOPROXY=off) and the prebuilt install. It
// compiles the agent, so it runs only with CAMAGENT_PACKAGE_BUILD=1.
func TestBuildrootSim(t *testing.T) {
	if os.Getenv("CAMAGENT_PACKAGE_BUILD") == "" {
		t.Skip("set CAMAGENT_PACKAGE_BUILD=1 to build the agent through camagent.mk")
	}
	for _, tool := range []string{"make", "rsync", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	ext, _ := filepath.Abs("buildroot")
	dir := t.TempDir()
	prebuilt := filepath.Join(dir, "camagent-prebuilt")
	os.WriteFile(prebuilt, []byte("\x7fELF fake"), 0o755)
	tests := []struct {
		name, config string
		wantBoard    string
	}{
		{"source", "BR2_PACKAGE_CAMAGENT=y\nBR2_PACKAGE_CAMAGENT_FROM_SOURCE=y\nBR2_PACKAGE_CAMAGENT_GOPROXY=\"off\"\n" +
			"BR2_PACKAGE_CAMAGENT_BOARD=\"raspberry-pi\"\n", "raspberry-pi"},
		{"prebuilt", "BR2_PACKAGE_CAMAGENT=y\nBR2_PACKAGE_CAMAGENT_PREBUILT=y\nBR2_PACKAGE_CAMAGENT_PREBUILT_PATH=\"" +
			prebuilt + "\"\nBR2_PACKAGE_CAMAGENT_BOARD=\"generic-uvc\"\n", "generic-uvc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name)
			cfg := filepath.Join(dir, tc.name+".config")
			os.WriteFile(cfg, []byte(tc.config), 0o644)
			cmd := exec.Command("make", "-s", "-f", "testdata/buildroot-sim.mk", "EXT="+ext, "CONFIG="+cfg, "OUT="+out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make: %v\n%s", err, b)
			}
			target := filepath.Join(out, "target")
			for _, f := range []string{"usr/bin/camagent", "etc/init.d/S90camagent", "usr/lib/systemd/system/camagent.service",
				"etc/camagent/camagent.toml", "etc/camagent/camagent.example.toml", "var/lib/camagent", "mnt/sd"} {
				if _, err := os.Stat(filepath.Join(target, f)); err != nil {
					t.Errorf("target: %v", err)
				}
			}
			c, _, err := config.LoadWith(filepath.Join(target, "etc/camagent/camagent.toml"), nil)
			if err != nil || c.Board != tc.wantBoard {
				t.Errorf("installed config: board %q, %v", c.Board, err)
			}
			bin := read(t, filepath.Join(target, "usr/bin/camagent"))
			if tc.name == "source" && !strings.HasPrefix(bin, "\x7fELF\x02\x01\x01") {
				t.Error("the built camagent is not a 64-bit little-endian ELF")
			}
			if tc.name == "source" {
				if _, err := os.Stat(filepath.Join(out, "build/camagent-local/vendor/modules.txt")); err != nil {
					t.Errorf("not vendored: %v", err)
				}
				if _, err := os.Stat(filepath.Join(out, "build/camagent-local/.cache")); err == nil {
					t.Error("the rsync copied .cache")
				}
			}
		})
	}
}

// dirtyVFAT makes a FAT16 image as a power cut leaves it: the dirty bit set
// and one lost cluster (allocated in both FATs, in no file).
func dirtyVFAT(t *testing.T, img string) {
	t.Helper()
	if out, err := exec.Command("mkfs.vfat", "-C", img, "65536").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat (run make deps: dosfstools): %v\n%s", err, out)
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boot := make([]byte, 512)
	if _, err := f.ReadAt(boot, 0); err != nil {
		t.Fatal(err)
	}
	reserved := int64(boot[14]) | int64(boot[15])<<8
	perFAT := int64(boot[22]) | int64(boot[23])<<8
	boot[37] |= 1 // FAT16 "volume dirty": set by the kernel at mount, cleared at unmount
	if _, err := f.WriteAt(boot, 0); err != nil {
		t.Fatal(err)
	}
	for i := range int64(boot[16]) {
		if _, err := f.WriteAt([]byte{0xff, 0xff}, (reserved+i*perFAT)*512+2*100); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSDCheck runs camagent-sd-check (the card check of the QEMU init, the
// init script and the systemd unit) with the host's dosfstools and e2fsprogs:
// a vfat image left dirty and leaking by a power cut is repaired, and checks
// clean afterwards; clean vfat and ext4 images are left alone; the salvaged
// chain files are removed after mounting.
func TestSDCheck(t *testing.T) {
	path := "/usr/sbin:/sbin:" + os.Getenv("PATH")
	for _, tool := range []string{"mkfs.vfat", "fsck.vfat", "mkfs.ext4", "e2fsck", "hexdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := exec.LookPath("/usr/sbin/" + tool); err != nil {
				t.Fatalf("%s missing: run make deps", tool)
			}
		}
	}
	t.Setenv("PATH", path)
	for name, sh := range shells(t) {
		t.Run(name, func(t *testing.T) {
			check := func(args ...string) (string, int) {
				t.Helper()
				cmd := exec.Command(sh[0], append(append(sh[1:], "camagent-sd-check"), args...)...)
				out, err := cmd.CombinedOutput()
				st := 0
				if ee, ok := err.(*exec.ExitError); ok {
					st = ee.ExitCode()
				} else if err != nil {
					t.Fatal(err)
				}
				return string(out), st
			}
			dir := t.TempDir()
			img := filepath.Join(dir, "vfat.img")
			dirtyVFAT(t, img)
			if out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput(); err == nil {
				t.Fatalf("the dirty image checks clean before the repair:\n%s", out)
			}
			out, st := check(img)
			if st != 0 || !strings.Contains(out, img+" (vfat): repaired") || !strings.Contains(out, "Dirty bit") {
				t.Errorf("dirty vfat: status %d, output:\n%s", st, out)
			}
			if out, err := exec.Command("fsck.vfat", "-n", img).CombinedOutput(); err != nil {
				t.Errorf("after the repair, fsck.vfat -n: %v\n%s", err, out)
			}
			if out, st := check(img); st != 0 || !strings.Contains(out, "(vfat): clean") {
				t.Errorf("second check: status %d, output:\n%s", st, out)
			}

			ext := filepath.Join(dir, "ext4.img")
			if out, err := exec.Command("truncate", "-s", "16M", ext).CombinedOutput(); err != nil {
				t.Fatalf("%v %s", err, out)
			}
			if out, err := exec.Command("mkfs.ext4", "-q", "-F", ext).CombinedOutput(); err != nil {
				t.Fatalf("mkfs.ext4: %v %s", err, out)
			}
			if out, st := check(ext); st != 0 || !strings.Contains(out, "(ext4): clean") {
				t.Errorf("clean ext4: status %d, output:\n%s", st, out)
			}

			mnt := filepath.Join(dir, "mnt")
			os.MkdirAll(filepath.Join(mnt, "camagent"), 0o755)
			os.WriteFile(filepath.Join(mnt, "FSCK0000.REC"), []byte("x"), 0o644)
			os.WriteFile(filepath.Join(mnt, "FSCK0001.REC"), []byte("x"), 0o644)
			if out, st := check("-r", mnt); st != 0 || !strings.Contains(out, "removed 2 salvaged") {
				t.Errorf("-r: status %d, output:\n%s", st, out)
			}
			if ents, _ := os.ReadDir(mnt); len(ents) != 1 {
				t.Errorf("after -r: %v", ents)
			}
			if _, st := check(filepath.Join(dir, "nope")); st != 2 {
				t.Errorf("a missing device: status %d, want 2", st)
			}
		})
	}
}
