package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/command"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// eventsCmd is `camcloud events`: a viewer of one account's event streams.
// It fetches each paired device's events through the read API and verifies
// every one again with the key pinned at pairing and the account, printing
// SHOW or REFUSE.
func eventsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("events", stderr)
	acct := f.fs.String("account", "", "the viewer's `account`")
	token := f.fs.String("token", os.Getenv("CAMCLOUD_TOKEN"), "viewer `token` (default $CAMCLOUD_TOKEN, else a new one)")
	base := f.fs.String("url", defaultURL, "the cloud's base `URL`")
	if err := f.parse(args); err != nil {
		return err
	}
	if *acct == "" {
		return fmt.Errorf("%w: events needs -account", errUsage)
	}
	reg := openRegistry(*f.data)
	d, err := reg.view()
	if err != nil {
		return err
	}
	ids, keys := d.devicesOf(*acct)
	if len(ids) == 0 {
		return fmt.Errorf("no device is paired to %q", *acct)
	}
	if *token == "" {
		if *token, err = reg.newViewerToken(*acct); err != nil {
			return err
		}
	}
	caPEM, err := atomicfile.ReadFileMax(filepath.Join(*f.data, devca.CertFile), 64<<10)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	v := viewerClient{hc: &http.Client{Transport: tr, Timeout: time.Minute}, base: *base, token: *token, out: stdout}
	var shown, refused int
	for _, id := range ids {
		resp, err := v.get(ctx, fmt.Sprintf(PathEventsFmt, id))
		if err != nil {
			return err
		}
		var list EventList
		err = json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&list)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("events of %s: %w", id, err)
		}
		for _, it := range list.Items {
			b, err := base64.StdEncoding.DecodeString(it.COSE)
			if err != nil {
				refused++
				fmt.Fprintf(stdout, "REFUSE  %s #%d: not base64\n", id, it.Seq)
				continue
			}
			m, err := event.Verify(b, keys[id])
			switch {
			case err != nil:
				refused++
				fmt.Fprintf(stdout, "REFUSE  %s #%d: %v\n", id, it.Seq, err)
			case m.DeviceID != id || m.Owner != *acct:
				refused++
				fmt.Fprintf(stdout, "REFUSE  %s #%d: signed for device %s, owner %q\n", id, it.Seq, m.DeviceID, m.Owner)
			default:
				shown++
				fmt.Fprintf(stdout, "SHOW    %s\n", event.Render(m))
			}
		}
	}
	fmt.Fprintf(stdout, "%d shown, %d refused\n", shown, refused)
	if refused > 0 {
		return fmt.Errorf("%d events refused", refused)
	}
	return nil
}

// cmdCmd is `camcloud cmd`: sign a command with the account's owner key,
// publish it to the device's command topic as the service identity, and
// wait for the device's signed result.
func cmdCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("cmd", stderr)
	acct := f.fs.String("account", "", "the owner `account` whose key signs")
	device := f.fs.String("device", "", "the device `ID`")
	op := f.fs.String("op", "", "config-patch, snapshot, upload-now, reboot, format-sd or format-sd-confirm")
	patch := f.fs.String("patch", "", "config-patch: the TOML to apply, e.g. '[motion]\\nthreshold = 20' (\\n for newlines)")
	confirm := f.fs.String("confirm", "", "format-sd-confirm: the challenge (hex) the device answered format-sd with")
	ttl := f.fs.Duration("ttl", 5*time.Minute, "how long the command stays valid")
	waitFor := f.fs.Duration("wait", 30*time.Second, "how long to wait for the device's result (0: do not wait)")
	broker := f.fs.String("broker", defaultBroker, "the MQTT broker's `URL`")
	keyFile := f.fs.String("key", "", "sign with this owner private `key` (PEM, PKCS#8) instead of the account's: another key the device's owner binding names")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := identity.ValidDeviceID(*device); err != nil || *acct == "" || *op == "" {
		return fmt.Errorf("%w: cmd needs -account, -device and -op", errUsage)
	}
	c, _, err := f.open(stderr)
	if err != nil {
		return err
	}
	key, err := accountKey(c.dir, *acct)
	if err != nil {
		return err
	}
	if *keyFile != "" {
		if _, err := os.Stat(*keyFile); err != nil {
			return fmt.Errorf("-key: %w", err)
		}
		if key, _, err = openKey(*keyFile); err != nil {
			return fmt.Errorf("-key: %w", err)
		}
	}
	dev, ok := c.reg.device(*device)
	if !ok || dev.Account != *acct {
		return fmt.Errorf("device %s is not paired to %s", *device, *acct)
	}
	cmd := command.New(*device, command.Op(*op), c.now(), *ttl)
	cmd.Patch = unescape(*patch)
	if *confirm != "" {
		if cmd.Confirm, err = hex.DecodeString(*confirm); err != nil {
			return fmt.Errorf("%w: -confirm: %v", errUsage, err)
		}
	}
	signed, err := command.Sign(cmd, key)
	if err != nil {
		return err
	}
	tc, err := c.serviceTLS()
	if err != nil {
		return err
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	results := make(chan []byte, 16)
	opts := paho.NewClientOptions().AddBroker(*broker).SetClientID(fmt.Sprintf("%s-cmd-%x", serviceName, rnd)).
		SetTLSConfig(tc).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second)
	cl := paho.NewClient(opts)
	if err := waitToken(ctx, cl.Connect()); err != nil {
		return fmt.Errorf("connect %s: %w", *broker, err)
	}
	defer cl.Disconnect(250)
	topics := mqtt.TopicsFor(*device)
	if *waitFor > 0 {
		h := func(_ paho.Client, m paho.Message) {
			select {
			case results <- bytes.Clone(m.Payload()):
			default:
			}
		}
		if err := waitToken(ctx, cl.Subscribe(topics.Result, 1, h)); err != nil {
			return fmt.Errorf("subscribe %s: %w", topics.Result, err)
		}
	}
	if err := waitToken(ctx, cl.Publish(topics.Command, 1, false, signed)); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(stdout, "sent %s to %s (nonce %x, valid until %s)\n", cmd.Op, *device, cmd.Nonce,
		cmd.Expires.Format(time.RFC3339))
	if *waitFor <= 0 {
		return nil
	}
	t := time.NewTimer(*waitFor)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return fmt.Errorf("no result from %s within %s (is it online?)", *device, *waitFor)
		case b := <-results:
			m, err := event.Verify(b, dev.Key)
			if err != nil {
				fmt.Fprintf(stderr, "camcloud: a result that does not verify was ignored: %v\n", err)
				continue
			}
			if m.Kind != event.KindCommandResult || !bytes.Equal(m.Nonce, cmd.Nonce) {
				continue
			}
			fmt.Fprintln(stdout, event.Render(m))
			if m.State == event.ResultRefused {
				return fmt.Errorf("refused: %s", m.Reason)
			}
			return nil
		}
	}
}

// unescape turns the two characters \n into a newline (a shell-friendly
// way to write a multi-line TOML patch).
func unescape(s string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(`\n`), []byte("\n")))
}

func waitToken(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
