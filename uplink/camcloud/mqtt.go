package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/mqtt/mosquitto"
	"github.com/camagent/camagent/uplink/mqtt/receiver"
)

// The MQTT side of the dev cloud.
const (
	defaultMQTTListen = "127.0.0.1:8883"
	defaultBroker     = "tls://127.0.0.1:8883"
	defaultTURNListen = "127.0.0.1:3478"
	serviceName       = "camcloud-service" // the service identity's certificate CN
	serviceKeyFile    = "service.key"
	serviceCertFile   = "service.crt"
	mqttDir           = "mqtt"   // mosquitto's configuration, persistence and log
	eventsDir         = "events" // verified events, one file per device
	// PathEventsFmt is the read API of a device's verified events:
	// GET /v1/devices/{id}/events?after=SEQ[&limit=N] with a viewer token
	// (limit: only the newest N).
	PathEventsFmt = "/v1/devices/%s/events"
)

// EventItem is one message in the events read API's answer. The COSE bytes
// are included so that the viewer verifies them itself.
type EventItem struct {
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"`
	Time string `json:"time"`
	Text string `json:"text"`
	COSE string `json:"cose"` // base64
}

// EventList answers GET PathEventsFmt.
type EventList struct {
	Device string      `json:"device"`
	Items  []EventItem `json:"items"`
}

// serviceTLS returns the service identity's client TLS configuration,
// issuing its certificate on first use.
func (c *cloud) serviceTLS() (*tls.Config, error) {
	key, _, err := openKey(filepath.Join(c.dir, serviceKeyFile))
	if err != nil {
		return nil, fmt.Errorf("service key: %w", err)
	}
	cp := filepath.Join(c.dir, serviceCertFile)
	var leaf *x509.Certificate
	if b, err := atomicfile.ReadFileMax(cp, 64<<10); err == nil {
		if blk, _ := pem.Decode(b); blk != nil {
			if cert, err := x509.ParseCertificate(blk.Bytes); err == nil && c.now().Add(renewBefore).Before(cert.NotAfter) &&
				cert.Subject.CommonName == serviceName && publicKeyEqual(cert.PublicKey, &key.PublicKey) {
				leaf = cert
			}
		}
	}
	if leaf == nil {
		if leaf, err = c.ca.IssueService(key.Public(), serviceName); err != nil {
			return nil, err
		}
		if err := storage.WriteFileAtomic(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}), 0o644); err != nil {
			return nil, err
		}
	}
	return &tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}}, nil
}

func publicKeyEqual(a any, b *ecdsa.PublicKey) bool {
	k, ok := a.(*ecdsa.PublicKey)
	return ok && k.Equal(b)
}

// startBroker starts mosquitto on listen with the server certificate the
// ingest uses (it names the same hosts).
func (c *cloud) startBroker(ctx context.Context, listen string) (*mosquitto.Broker, error) {
	return mosquitto.Start(ctx, mosquitto.Config{
		Dir: filepath.Join(c.dir, mqttDir), Listen: listen,
		CAFile: filepath.Join(c.dir, devca.CertFile), CertFile: filepath.Join(c.dir, serverCertFile),
		KeyFile: filepath.Join(c.dir, serverKeyFile), Services: []string{serviceName},
	})
}

// receiver makes the service identity's subscriber: it verifies every
// message against the key pinned at enrollment or pairing.
func (c *cloud) receiver(broker string, clientID string, subscribed func()) (*receiver.Receiver, error) {
	tc, err := c.serviceTLS()
	if err != nil {
		return nil, err
	}
	return receiver.New(receiver.Config{
		Broker: broker, TLS: tc, ClientID: clientID, Devices: c.reg.device,
		Dir: filepath.Join(c.dir, eventsDir), Logger: c.log.With("part", "mqtt"),
		OnSubscribed: subscribed,
		Observe: func(m event.Message, part string) {
			c.log.Info("event verified", "device", m.DeviceID, "seq", m.Seq, "topic", part, "text", event.Describe(m.Event))
		},
	})
}

// device returns what is pinned about a device (receiver.Config.Devices).
func (r *registry) device(id string) (receiver.Device, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refresh() != nil {
		return receiver.Device{}, false
	}
	d := r.data.Devices[id]
	if d == nil {
		return receiver.Device{}, false
	}
	pub, err := identity.ParsePublicKeyPEM([]byte(d.PublicKey))
	if err != nil {
		return receiver.Device{}, false
	}
	return receiver.Device{Key: pub, Account: d.Account}, true
}

// events serves GET PathEventsFmt: the device's stored events, each
// verified again with the pinned key and owned by the viewer's account.
// Items that do not verify are left out (and counted in the log).
func (c *cloud) events(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", protocol.ContentJSON)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(protocol.ErrorAnswer{Error: msg, Code: code})
	}
	id := r.PathValue("device")
	tok, ok := cutBearer(r.Header.Get("Authorization"))
	account, known := c.reg.Account(tok)
	if !ok || !known {
		fail(http.StatusUnauthorized, protocol.CodeUnauthorized, "a viewer bearer token is required")
		return
	}
	dev, paired := c.reg.device(id)
	if !paired || subtle.ConstantTimeCompare([]byte(dev.Account), []byte(account)) != 1 {
		// The same answer for "no such device" and "not yours".
		fail(http.StatusNotFound, protocol.CodeNotFound, "no such device for this account")
		return
	}
	var after uint64
	if s := r.URL.Query().Get("after"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			fail(http.StatusBadRequest, protocol.CodeMalformed, "after: not a sequence number")
			return
		}
		after = v
	}
	limit := 0
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			fail(http.StatusBadRequest, protocol.CodeMalformed, "limit: not a positive number")
			return
		}
		limit = v
	}
	items, err := receiver.ReadVerified(filepath.Join(c.dir, eventsDir), id, dev.Key, account, after)
	if err != nil {
		fail(http.StatusInternalServerError, protocol.CodeInternal, err.Error())
		return
	}
	out := EventList{Device: id, Items: []EventItem{}}
	for _, it := range items {
		if !it.Show {
			c.log.Warn("stored event not shown", "device", id, "reason", it.Reason)
			continue
		}
		m := it.Message
		out.Items = append(out.Items, EventItem{Seq: m.Seq, Kind: string(m.Kind), Time: m.Time.Format(time.RFC3339Nano),
			Text: event.Render(m), COSE: base64.StdEncoding.EncodeToString(it.COSE)})
	}
	if limit > 0 && len(out.Items) > limit {
		out.Items = out.Items[len(out.Items)-limit:]
	}
	w.Header().Set("Content-Type", protocol.ContentJSON)
	_ = json.NewEncoder(w).Encode(out)
}

func cutBearer(h string) (string, bool) {
	const p = "Bearer "
	if len(h) <= len(p) || h[:len(p)] != p {
		return "", false
	}
	return h[len(p):], true
}

// accountKey loads an account's owner private key (accounts/NAME.key).
func accountKey(dir, name string) (*ecdsa.PrivateKey, error) {
	if err := validAccount(name); err != nil {
		return nil, err
	}
	p := filepath.Join(dir, accountsDir, name+".key")
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no account %q here (pair a device to it first)", name)
	}
	k, _, err := openKey(p)
	return k, err
}
