package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mosquitto"
	"github.com/camagent/camagent/uplink/upload"
)

// refusals is a log handler that hands each "command refused" record's
// reason to a channel (the device's own log line is what the test waits
// for; a refused unsigned command gets no result).
type refusals struct{ ch chan string }

func (r refusals) Enabled(context.Context, slog.Level) bool { return true }
func (r refusals) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "mqtt: command refused" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			select {
			case r.ch <- a.Value.String():
			default:
			}
		}
		return true
	})
	return nil
}
func (r refusals) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r refusals) WithGroup(string) slog.Handler      { return r }

// TestBindingOverMQTT is pairing a browser end to end with real mosquitto:
// the page registers its key, camcloud signs a v2 binding (the CLI key and
// the browser key) and delivers it on the device's binding topic; the
// device installs it (pairing key, this device, newer) and obeys a command
// signed by the browser key at once. Bindings signed by another key, for
// another device or older than the held one are refused and change
// nothing; a newer binding that drops the browser key makes its commands
// refused. serve's TURN server is what the page is told to use.
func TestBindingOverMQTT(t *testing.T) {
	if _, err := mosquitto.Find(); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	mustRun(t, "init", "-data", data, "-log-level", "error")
	alice := provision(t, data, "alice")
	bob := provision(t, data, "bob")
	httpAddr, mqttAddr, turnAddr := "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t), "127.0.0.1:"+freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	served := make(chan error, 1)
	go func() {
		served <- run(ctx, []string{"serve", "-data", data, "-listen", httpAddr, "-mqtt", mqttAddr, "-turn", turnAddr,
			"-log-level", "error"}, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() { cancel(); <-served })
	sc := bufio.NewScanner(pr)
	var banner []string
	for sc.Scan() {
		banner = append(banner, sc.Text())
		if strings.HasPrefix(sc.Text(), "camcloud: mqtt broker on") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if !strings.Contains(strings.Join(banner, "\n"), "camcloud: turn server on "+turnAddr) {
		t.Fatalf("serve -turn did not say so:\n%s", strings.Join(banner, "\n"))
	}

	// The device: its binding file from provisioning, installed over and
	// read at every command as the daemon does.
	pairingPub, _ := identity.ParsePublicKeyPEM(must(os.ReadFile(filepath.Join(data, pairingPubFile))))
	dev := alice.key.DeviceID()
	type outcome struct {
		b   identity.OwnerBinding
		err error
	}
	installs := make(chan outcome, 1)
	keys := func() (command.Keys, error) {
		b, err := identity.LoadOwnerBinding(alice.binding, pairingPub, dev)
		if err != nil {
			return command.Keys{}, err
		}
		var k command.Keys
		for _, der := range b.OwnerKeys() {
			pub, _ := identity.ParsePublicKey(der)
			k.Owners = append(k.Owners, pub)
		}
		k.OwnerAccount = b.OwnerAccount
		return k, nil
	}
	tc, err := upload.TLSConfig(alice.key, alice.cert, must(os.ReadFile(filepath.Join(data, "ca.crt"))), "")
	if err != nil {
		t.Fatal(err)
	}
	refused := refusals{ch: make(chan string, 4)}
	cl, err := mqtt.New(mqtt.Config{Broker: "tls://" + mqttAddr, TLS: tc, Signer: alice.key, BootID: "boot",
		StoreDir: t.TempDir(), Handler: &patchHandler{cfg: config.Default()}, Keys: keys,
		InstallBinding: func(signed []byte) (string, error) {
			b, _, _, err := identity.InstallOwnerBinding(alice.binding, signed, pairingPub, dev)
			installs <- outcome{b, err}
			return "", err
		},
		Logger: slog.New(refused)})
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithCancel(context.Background())
	ddone := make(chan struct{})
	go func() { defer close(ddone); _ = cl.Run(dctx) }()
	t.Cleanup(func() { dcancel(); <-ddone })
	original := must(os.ReadFile(alice.binding))

	// The page registers its (here: Go) key; the cloud signs and delivers.
	browser, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	browserDER, _ := x509.MarshalPKIXPublicKey(&browser.PublicKey)
	token := strings.TrimSpace(mustRun(t, "token", "-data", data, "-account", "alice"))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc.Clone()}}
	post := func(path string, body []byte) []byte {
		t.Helper()
		method := http.MethodGet
		if body != nil {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, "https://"+httpAddr+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", path, res.Status, out)
		}
		return out
	}
	var reg struct{ Delivered []string }
	if err := json.Unmarshal(post("/app/api/owner-key", browserDER), &reg); err != nil || len(reg.Delivered) != 1 || reg.Delivered[0] != dev {
		t.Fatalf("owner-key: delivered %v (%v), want [%s]", reg.Delivered, err, dev)
	}
	o := <-installs
	if o.err != nil || len(o.b.OwnerKeys()) != 2 || !bytes.Equal(o.b.MoreOwnerKeys[0], browserDER) {
		t.Fatalf("the delivered binding: %+v %v", o.b, o.err)
	}
	withBrowser := must(os.ReadFile(alice.binding))

	// The page's ICE servers: serve's TURN server with its credential.
	var ice struct {
		ICEServers []iceServer `json:"ice_servers"`
	}
	if err := json.Unmarshal(post("/app/api/ice", nil), &ice); err != nil || len(ice.ICEServers) != 1 ||
		ice.ICEServers[0].URLs[0] != "turn:"+turnAddr+"?transport=tcp" || ice.ICEServers[0].Username != TURNUser ||
		ice.ICEServers[0].Credential+"\n" != string(must(os.ReadFile(filepath.Join(data, TURNCredFile)))) {
		t.Fatalf("ICE servers for the page: %+v (%v)", ice, err)
	}
	if c, err := net.Dial("tcp", turnAddr); err != nil {
		t.Fatalf("TURN port: %v", err)
	} else {
		c.Close()
	}

	// A command signed by the browser key (the binding's second key).
	browserPEM := filepath.Join(t.TempDir(), "browser.key")
	der, _ := x509.MarshalPKCS8PrivateKey(browser)
	if err := os.WriteFile(browserPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := func(key string, wait time.Duration) (string, error) {
		args := []string{"cmd", "-data", data, "-account", "alice", "-device", dev, "-op", "config-patch",
			"-patch", `[motion]\nthreshold = 22`, "-broker", "tls://" + mqttAddr, "-wait", wait.String()}
		if key != "" {
			args = append(args, "-key", key)
		}
		var out bytes.Buffer
		err := run(context.Background(), args, &out, io.Discard)
		return out.String(), err
	}
	if out, err := cmd(browserPEM, time.Minute); err != nil || !strings.Contains(out, "config-patch done") {
		t.Fatalf("command signed by the browser key: %v\n%s", err, out)
	}

	// Forged, misaddressed and stale bindings over MQTT: refused, nothing lost.
	c, _, err := openCloud(data, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	stc, err := c.serviceTLS()
	if err != nil {
		t.Fatal(err)
	}
	relay := &mqttRelay{broker: "tls://" + mqttAddr, tls: stc}
	evil, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cliDER := o.b.OwnerKey
	signed := func(k crypto.Signer, device string, issued time.Time, more ...[]byte) []byte {
		b, err := identity.SignOwnerBinding(identity.OwnerBinding{DeviceID: device, OwnerAccount: "alice",
			OwnerKey: cliDER, MoreOwnerKeys: more, Issued: issued}, k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	later := o.b.Issued.Add(time.Hour)
	for _, bc := range []struct {
		name   string
		signed []byte
		want   error
	}{
		{"signed by another key", signed(evil, dev, later), identity.ErrBindingSignature},
		{"for another device", signed(c.pairing, bob.key.DeviceID(), later), identity.ErrWrongDevice},
		{"older than the held one (the provisioning binding, replayed)", original, identity.ErrStaleBinding},
	} {
		if err := relay.Deliver(context.Background(), dev, bc.signed); err != nil {
			t.Fatal(err)
		}
		if o := <-installs; !errors.Is(o.err, bc.want) {
			t.Errorf("%s: %v, want %v", bc.name, o.err, bc.want)
		}
		if !bytes.Equal(must(os.ReadFile(alice.binding)), withBrowser) {
			t.Fatalf("%s: the held binding changed", bc.name)
		}
	}

	// A newer binding without the browser key: its commands are refused.
	if err := relay.Deliver(context.Background(), dev, signed(c.pairing, dev, later)); err != nil {
		t.Fatal(err)
	}
	if o := <-installs; o.err != nil || len(o.b.OwnerKeys()) != 1 {
		t.Fatalf("binding dropping the browser key: %+v %v", o.b, o.err)
	}
	if _, err := cmd(browserPEM, 0); err != nil {
		t.Fatal(err)
	}
	if reason := <-refused.ch; reason != "unsigned" {
		t.Fatalf("the dropped key's command: refused as %q, want unsigned", reason)
	}
	if out, err := cmd("", time.Minute); err != nil || !strings.Contains(out, "config-patch done") {
		t.Fatalf("the CLI key still commands: %v\n%s", err, out)
	}
}
