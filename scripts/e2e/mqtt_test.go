//go:build linux

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// mqttWait bounds the wait for the camera's first verified event in the
// cloud ([mqtt] start_delay 1s, then a TLS handshake under TCG) and for a
// command's result. It only keeps a broken link from hanging the test.
const mqttWait = 90 * time.Second

// The patch the owner's command applies, and the one the forged commands
// try; the motion part restarts with the new threshold.
const (
	ownerThreshold  = 40
	forgedThreshold = 77
)

const hintMQTT = "next: the agent's lines with part=mqtt in the console (connect errors, \"command refused\"), " +
	"the cloud's log (out/e2e-camcloud.log: \"event verified\", refusals) and mosquitto's log in its data " +
	"folder (mqtt/mosquitto.log); by hand: make run, then out/camcloud events -data out/cloud -account dev"

// checkMQTT is the MQTT step of a camera with clips: the motion event the
// camera raised (c.event) reaches the dev cloud through its mosquitto,
// verified by its signature, and is shown for the owner's account and not
// for another one; commands signed by another key are refused and change
// nothing; the owner's signed config patch changes the motion threshold in
// the running agent, and its signed result comes back.
func checkMQTT(t *testing.T, v *vm, cloud *devCloud, device string, c *clipRun) {
	t.Helper()
	// The motion event, verified by the receiver and again by the viewer.
	want := regexp.MustCompile(`(?m)^SHOW +.* ` + regexp.QuoteMeta(device) + ` #\d+ motion-start .*\(event ` +
		fmt.Sprint(c.event) + `\)`)
	out := cloud.waitEvents(t, v, want)
	t.Logf("dev cloud: camcloud events -account %s shows the camera's motion event %d, verified: %s", devAccount,
		c.event, strings.TrimSpace(want.FindString(out)))
	if !strings.Contains(out, " 0 refused") {
		t.Errorf("camcloud events -account %s refused events of the camera:\n%s", devAccount, out)
	}

	// Another account: the read API answers as for a device that does not
	// exist.
	tok := cloud.otherToken(t)
	if code := cloud.getStatus(t, fmt.Sprintf("/v1/devices/%s/events", device), tok); code != http.StatusNotFound {
		t.Errorf("GET the camera's events as account %s: status %d, want %d", otherAccount, code, http.StatusNotFound)
	}
	if out, err := exec.Command(cloud.tools.cloud, "events", "-data", cloud.data, "-account", otherAccount,
		"-url", cloud.url).CombinedOutput(); err != nil || strings.Contains(string(out), device) {
		t.Errorf("camcloud events -account %s: %v, want no trace of %s:\n%s", otherAccount, err, device, out)
	}

	// Commands signed by a key the camera does not know: a new key (a
	// forger), and the other account's owner key. Each is refused (logged
	// as unsigned) and answers nothing.
	forgers := map[string]*ecdsa.PrivateKey{"a new key": newKey(t), "account " + otherAccount: cloud.accountKey(t, otherAccount)}
	for who, key := range forgers {
		from := v.mark()
		cloud.publishCommand(t, device, key, fmt.Sprintf("[motion]\nthreshold = %d", forgedThreshold))
		v.waitFor(t, regexp.MustCompile(`msg="mqtt: command refused".* reason=unsigned op=config-patch`), from, mqttWait,
			"the camera's refusal of a config patch signed by "+who)
	}

	// The owner's command, through camcloud cmd: it waits for the camera's
	// signed result and verifies it with the key pinned at pairing.
	from := v.mark()
	res, err := exec.Command(cloud.tools.cloud, "cmd", "-data", cloud.data, "-account", devAccount, "-device", device,
		"-op", "config-patch", "-patch", fmt.Sprintf(`[motion]\nthreshold = %d`, ownerThreshold),
		"-broker", fmt.Sprintf("tls://127.0.0.1:%d", cloud.mqttPort), "-wait", mqttWait.String()).CombinedOutput()
	if err != nil || !regexp.MustCompile(regexp.QuoteMeta(device)+` #\d+ cmd-result config-patch done`).Match(res) {
		t.Fatalf("camcloud cmd -op config-patch: %v, want the camera's signed result \"config-patch done\":\n%s\n%s\n%s",
			err, res, hintMQTT, v.tail())
	}
	t.Logf("camcloud cmd: %s", strings.TrimSpace(string(res)))
	v.waitFor(t, regexp.MustCompile(`msg="config reloaded".*changed=\S*motion`), from, commandWait,
		"the agent's reload of the patched config (section motion changed)")
	// (The agent's log shares the console: the file's line is marked.)
	cfg := v.run(t, "sed -n 's/^threshold *= */CFG threshold /p' /etc/camagent/camagent.toml", 0)
	if m := regexp.MustCompile(`CFG threshold (\d+)`).FindAllStringSubmatch(cfg, -1); len(m) != 1 || m[0][1] != fmt.Sprint(ownerThreshold) {
		t.Errorf("the guest's config says %q, want threshold = %d (the owner's patch, not a forged one)", cfg, ownerThreshold)
	}
	// The running detector uses it (its threshold is the larger of the
	// configured one and the noise-based one).
	var thr float64
	v.until(t, commandWait, "the motion threshold in camagent ctl status", "", func() bool {
		st := v.status(t)
		thr = 0
		if st.Motion != nil {
			thr = st.Motion.Threshold
		}
		return thr >= ownerThreshold && thr < forgedThreshold
	})
	t.Logf("the owner's signed config patch applied: motion threshold %.0f in the running agent", thr)
}

// waitEvents runs camcloud events for devAccount whenever the cloud logs a
// verified event, until its output matches want; it returns the output.
func (c *devCloud) waitEvents(t *testing.T, v *vm, want *regexp.Regexp) string {
	t.Helper()
	timer := time.NewTimer(mqttWait)
	defer timer.Stop()
	seen := -1
	var out []byte
	var err error
	for {
		changed, eof := c.log.changed()
		if n := strings.Count(c.log.text(0), `msg="event verified"`); n > seen {
			seen = n
			out, err = exec.Command(c.tools.cloud, "events", "-data", c.data, "-account", devAccount, "-url", c.url).CombinedOutput()
			if want.Match(out) {
				return string(out)
			}
		}
		if eof {
			t.Fatalf("camcloud serve exited while waiting for the camera's events\n%s", c.log.text(0))
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("the camera's motion event not shown by camcloud events within %v: last output (%v):\n%s\n%s\n"+
				"--- cloud log (last lines) ---\n%s\n%s", mqttWait, err, out, hintMQTT, lastLines(c.log.text(0), 20), v.tail())
		}
	}
}

// otherToken returns a viewer token of otherAccount, pairing a device made
// on the host to it first when no such account exists yet.
func (c *devCloud) otherToken(t *testing.T) string {
	t.Helper()
	if c.otherTok == "" {
		c.pairOther(t)
	}
	return c.otherTok
}

// accountKey reads an account's owner key from the cloud's data folder.
func (c *devCloud) accountKey(t *testing.T, account string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.data, "accounts", account+".key"))
	if err != nil {
		t.Fatalf("the owner key of account %s: %v", account, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("the owner key of account %s: no PEM block", account)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	ek, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		t.Fatalf("the owner key of account %s: %v (%T)", account, err, k)
	}
	return ek
}

// getStatus GETs path of the cloud's API with a viewer token and returns
// the status code.
func (c *devCloud) getStatus(t *testing.T, path, token string) int {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.file(t, "ca.crt"))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, c.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: tr, Timeout: commandWait}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	var a json.RawMessage
	_ = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode
}

func (c *devCloud) file(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.data, name))
	if err != nil {
		t.Fatalf("the cloud's %s: %v", name, err)
	}
	return b
}

// publishCommand signs a config patch for device with key and publishes it
// on the device's command topic as the cloud's service identity (the only
// one the broker lets write there), as a forger who got hold of the
// cloud's broker access would.
func (c *devCloud) publishCommand(t *testing.T, device string, key *ecdsa.PrivateKey, patch string) {
	t.Helper()
	cmd := command.New(device, command.OpConfigPatch, time.Now(), 5*time.Minute)
	cmd.Patch = patch
	signed, err := command.Sign(cmd, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(c.file(t, "service.crt"), c.file(t, "service.key"))
	if err != nil {
		t.Fatalf("the cloud's service identity: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.file(t, "ca.crt"))
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tls://127.0.0.1:%d", c.mqttPort)).
		SetClientID(fmt.Sprintf("e2e-forger-%d", time.Now().UnixNano())).
		SetTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(commandWait)
	cl := paho.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), commandWait)
	defer cancel()
	if err := waitToken(ctx, cl.Connect()); err != nil {
		t.Fatalf("connect to the cloud's broker as its service identity: %v", err)
	}
	defer cl.Disconnect(250)
	if err := waitToken(ctx, cl.Publish(mqtt.TopicsFor(device).Command, 1, false, signed)); err != nil {
		t.Fatalf("publish the forged command: %v", err)
	}
}

func waitToken(ctx context.Context, tk paho.Token) error {
	select {
	case <-tk.Done():
		return tk.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
