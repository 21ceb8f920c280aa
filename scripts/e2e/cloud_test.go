//go:build linux

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest/protocol"
)

// uploadWait bounds the wait for a signed clip to show up in the cloud. With
// [upload] start_delay 1s it takes a few seconds; the bound only keeps a
// broken uplink from hanging the test.
const uploadWait = 90 * time.Second

// devAccount is the account scripts/cloud.sh pairs the camera to;
// otherAccount is a second one, which must see nothing of the camera.
const (
	devAccount   = "dev"
	otherAccount = "other"
)

const hintUpload = "next: the agent's lines with part=upload in the console (\"upload refused\", TLS errors), " +
	"camagent ctl uploads in the guest, the cloud's log (out/e2e-camcloud.log: refusals name a code) and " +
	"its quarantine folder; by hand: make run, then out/camcloud list -data out/cloud -account dev"

// hostTools are camagent (for provision and verify) and camcloud built for
// the host.
type hostTools struct {
	agent, cloud string
}

// buildHostTools builds camagent and camcloud for the host in one go build.
func buildHostTools(t *testing.T, root string) hostTools {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-o", dir+"/", "./agent", "./uplink/camcloud")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./agent ./uplink/camcloud for the host: %v\n%s", err, out)
	}
	return hostTools{agent: filepath.Join(dir, "agent"), cloud: filepath.Join(dir, "camcloud")}
}

// devCloud is `camcloud serve` on the host's loopback, at a free port: the
// guest's 10.0.2.100:8443 is forwarded to it (CAMERA_FWD 8443:port), so the
// test does not collide with a `make run` cloud on 127.0.0.1:8443. Its
// mosquitto (camcloud serve -mqtt) listens on another free loopback port,
// mqttPort, which the guest reaches as 10.0.2.100:8883.
type devCloud struct {
	tools    hostTools
	data     string
	port     int
	mqttPort int
	turnPort int // camcloud serve -turn: live view's TURN server, the guest's 10.0.2.100:3478
	url      string
	log      *console // the server's output
	// otherTok is a viewer token of otherAccount once pairOther made it.
	otherTok string
}

var listeningRE = regexp.MustCompile(`camcloud: listening on https://127\.0\.0\.1:(\d+)`)

// startCloud starts camcloud serve with a new data folder; it is stopped
// (SIGTERM) when the test ends and its log saved in logPath.
func startCloud(t *testing.T, tools hostTools, logPath string) *devCloud {
	t.Helper()
	c := &devCloud{tools: tools, data: filepath.Join(t.TempDir(), "cloud"), log: newConsole(), mqttPort: freePort(t),
		turnPort: freePort(t)}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("cloud log pipe: %v", err)
	}
	cmd := exec.Command(tools.cloud, "serve", "-data", c.data, "-listen", "127.0.0.1:0",
		"-mqtt", fmt.Sprintf("127.0.0.1:%d", c.mqttPort), "-turn", fmt.Sprintf("127.0.0.1:%d", c.turnPort))
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start camcloud serve: %v", err)
	}
	_ = pw.Close()
	go c.log.read(pr)
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		c.log.wait()
		_ = pr.Close()
		if err := os.WriteFile(logPath, []byte(c.log.text(0)), 0o644); err == nil {
			t.Logf("cloud log saved in %s", logPath)
		}
	})
	// The broker line comes last: mosquitto runs and the service identity
	// (the receiver that verifies every event) has subscribed.
	var m []string
	if err := waitConsole(c.log, 2*commandWait, func() bool {
		m = listeningRE.FindStringSubmatch(c.log.text(0))
		return m != nil && strings.Contains(c.log.text(0), "camcloud: mqtt broker on")
	}); err != nil {
		t.Fatalf("camcloud serve -listen 127.0.0.1:0 -mqtt 127.0.0.1:%d: %v (mosquitto missing? make deps)\n%s",
			c.mqttPort, err, c.log.text(0))
	}
	c.port, _ = strconv.Atoi(m[1])
	c.url = "https://127.0.0.1:" + m[1]
	return c
}

// freePort returns a loopback TCP port that was free a moment ago (for
// mosquitto, which cannot report a port it chose itself).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitConsole waits up to limit for found, checked at every change of c.
func waitConsole(c *console, limit time.Duration, found func() bool) error {
	timer := time.NewTimer(limit)
	defer timer.Stop()
	for {
		changed, eof := c.changed()
		if found() {
			return nil
		}
		if eof {
			return fmt.Errorf("the output ended")
		}
		select {
		case <-changed:
		case <-timer.C:
			return fmt.Errorf("not seen within %v", limit)
		}
	}
}

// provision makes the flash partition image of the camera whose SD card is
// img (flashImage(img), scripts/flash.sh, when absent) and puts the device
// identity on it with scripts/cloud.sh flash (key, certificate, owner
// binding for devAccount, CA
// and pairing key) and returns the device ID.
func (c *devCloud) provision(t *testing.T, root, img string) string {
	t.Helper()
	flash := flashImage(img)
	if _, err := os.Stat(flash); err != nil {
		if out, err := exec.Command("bash", filepath.Join(root, "scripts", "flash.sh"), flash).CombinedOutput(); err != nil {
			t.Fatalf("scripts/flash.sh %s: %v\n%s", flash, err, out)
		}
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "cloud.sh"), "flash", flash, c.data, devAccount)
	cmd.Env = append(os.Environ(), "CAMAGENT_HOST="+c.tools.agent, "CAMCLOUD="+c.tools.cloud)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	id := strings.TrimSpace(string(out))
	if err != nil || !strings.HasPrefix(id, "cam-") {
		t.Fatalf("scripts/cloud.sh flash %s: %v, printed %q, want the device ID\n%s", flash, err, out, stderr.Bytes())
	}
	return id
}

// flashImage is the flash partition image that goes with the SD card image
// img: the camera's second, non-removable disk, with its device identity.
func flashImage(img string) string {
	return strings.TrimSuffix(img, filepath.Ext(img)) + "-flash.img"
}

// list runs camcloud list for account: every object of the account's
// devices, fetched with its manifest and verified.
func (c *devCloud) list(account string) (string, error) {
	out, err := exec.Command(c.tools.cloud, "list", "-data", c.data, "-account", account, "-url", c.url).CombinedOutput()
	return string(out), err
}

// waitShown waits until camcloud list of devAccount shows (SHOW: fetched and
// verified again) the clip and the thumbnail of device's item seq, and
// returns the clip's size as listed. It lists again after every object the
// cloud stores.
func (c *devCloud) waitShown(t *testing.T, v *vm, device, seq string) int64 {
	t.Helper()
	clipRE := regexp.MustCompile(`(?m)^SHOW +` + regexp.QuoteMeta(device) + ` #` + seq + ` clip (\d+) bytes.*owner ` + devAccount + `$`)
	thumbRE := regexp.MustCompile(`(?m)^SHOW +` + regexp.QuoteMeta(device) + ` #` + seq + ` thumbnail `)
	timer := time.NewTimer(uploadWait)
	defer timer.Stop()
	stored := 0 // objects the cloud logged as stored, seen so far
	var out string
	var err error
	for {
		changed, eof := c.log.changed()
		n := strings.Count(c.log.text(0), `msg="object verified and stored"`)
		if n > stored || out == "" {
			stored = n
			out, err = c.list(devAccount)
			if m := clipRE.FindStringSubmatch(out); m != nil && thumbRE.MatchString(out) && err == nil {
				size, _ := strconv.ParseInt(m[1], 10, 64)
				return size
			}
			if strings.Contains(out, "REFUSE") {
				t.Fatalf("camcloud list -account %s refused an object: %v\n%s\n%s", devAccount, err, out, hintUpload)
			}
		}
		if eof {
			t.Fatalf("camcloud serve exited while waiting for the upload\n%s", c.log.text(0))
		}
		select {
		case <-changed:
		case <-timer.C:
			uploads := v.run(t, "camagent ctl uploads", 0)
			t.Fatalf("clip #%s of %s not shown by camcloud list within %v of its signature: last list (%v):\n%s\n"+
				"camagent ctl uploads:\n%s\n%s\n--- cloud log (last lines) ---\n%s\n%s", seq, device, uploadWait, err, out,
				uploads, hintUpload, lastLines(c.log.text(0), 20), v.tail())
		}
	}
}

// checkOtherAccount pairs a second device (a key made on the host) to
// otherAccount and checks that this account sees nothing of the camera:
// camcloud list shows nothing, and the read API refuses the camera's items
// with its viewer token (forbidden).
func (c *devCloud) checkOtherAccount(t *testing.T, camera string) {
	t.Helper()
	c.pairOther(t)

	list, err := c.list(otherAccount)
	if err != nil || strings.Contains(list, camera) || !strings.Contains(list, "0 shown, 0 refused, 0 not uploaded yet") {
		t.Errorf("camcloud list -account %s: %v, want nothing listed (0 shown) and no trace of %s:\n%s",
			otherAccount, err, camera, list)
	}

	caPEM, err := os.ReadFile(filepath.Join(c.data, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: commandWait}
	req, err := http.NewRequest(http.MethodGet, c.url+fmt.Sprintf(protocol.PathDevicesFmt, camera), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.otherTok)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET the camera's items as %s: %v", otherAccount, err)
	}
	defer resp.Body.Close()
	var a protocol.ErrorAnswer
	_ = json.NewDecoder(resp.Body).Decode(&a)
	if resp.StatusCode != http.StatusForbidden || a.Code != protocol.CodeForbidden {
		t.Errorf("GET %s as account %s: %s %+v, want 403 %s", fmt.Sprintf(protocol.PathDevicesFmt, camera),
			otherAccount, resp.Status, a, protocol.CodeForbidden)
	}
}

// pairOther pairs a second device (a key made on the host) to otherAccount,
// a new account, and keeps its first viewer token in c.otherTok.
func (c *devCloud) pairOther(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "device.key")
	out, err := exec.Command(c.tools.agent, "provision", "-key", key).CombinedOutput()
	if err != nil {
		t.Fatalf("camagent provision -key %s: %v\n%s", key, err, out)
	}
	other := regexp.MustCompile(`(?m)^device id: (\S+)$`).FindSubmatch(out)
	if other == nil {
		t.Fatalf("camagent provision printed no device id:\n%s", out)
	}
	if out, err := exec.Command(c.tools.cloud, "enroll", "-data", c.data, "-csr", filepath.Join(dir, "device.csr"),
		"-out", filepath.Join(dir, "device.crt")).CombinedOutput(); err != nil {
		t.Fatalf("camcloud enroll: %v\n%s", err, out)
	}
	out, err = exec.Command(c.tools.cloud, "pair", "-data", c.data, "-device", string(other[1]), "-account", otherAccount,
		"-out", filepath.Join(dir, "owner.binding")).CombinedOutput()
	tok := regexp.MustCompile(`viewer token \(shown once\): (\S+)`).FindSubmatch(out)
	if err != nil || tok == nil {
		t.Fatalf("camcloud pair -account %s: %v, want a new account with a viewer token\n%s", otherAccount, err, out)
	}
	c.otherTok = string(tok[1])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
