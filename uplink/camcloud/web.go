package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/live"
)

// The owner's web page: plain HTML and JavaScript embedded in the binary (no
// build step). The page checks every signature itself (WebCrypto) against
// the device keys it pins; what the server says is only a hint.

//go:embed web
var webFiles embed.FS

// PathApp is where the page is served.
const PathApp = "/app/"

// relayWait bounds how long a relayed offer waits for the device's answer.
const relayWait = 20 * time.Second

// bindingSender delivers a signed owner binding to a device (the cloud's
// MQTT link: the device's binding topic, retained).
type bindingSender interface {
	Deliver(ctx context.Context, deviceID string, signed []byte) error
}

// liveRelay reaches a device's live-view signaling topics (the MQTT client
// in the cloud; an in-process bus in tests).
type liveRelay interface {
	For(deviceID string) live.Transport
}

func (c *cloud) addWeb(mux *http.ServeMux) {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.Handle("GET "+PathApp, http.StripPrefix(PathApp, http.FileServerFS(sub)))
	mux.HandleFunc("GET /app/api/devices", c.apiDevices)
	mux.HandleFunc("POST /app/api/owner-key", c.apiOwnerKey)
	mux.HandleFunc("GET /app/api/ice", c.apiICE)
	mux.HandleFunc("POST /app/api/live/{device}/offer", c.apiLiveOffer)
}

// viewerAccount returns the account of the request's bearer token.
func (c *cloud) viewerAccount(w http.ResponseWriter, r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "sign in first (no bearer token)", http.StatusUnauthorized)
		return "", false
	}
	acct, ok := c.reg.Account(tok)
	if !ok {
		http.Error(w, "unknown token", http.StatusUnauthorized)
		return "", false
	}
	return acct, true
}

type webDevice struct {
	ID string `json:"id"`
	// PublicKey is the key pinned at enrollment (SPKI DER, base64). The page
	// recomputes the device ID from it, so the server cannot swap it.
	PublicKey string    `json:"public_key"`
	Paired    time.Time `json:"paired"`
}

// apiDevices lists the account's paired devices with their pinned keys.
func (c *cloud) apiDevices(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.viewerAccount(w, r)
	if !ok {
		return
	}
	d, err := c.reg.view()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ids, keys := d.devicesOf(acct)
	out := struct {
		Account    string      `json:"account"`
		BrowserKey bool        `json:"browser_key_registered"`
		Devices    []webDevice `json:"devices"`
	}{Account: acct, Devices: []webDevice{}}
	if a := d.Accounts[acct]; a != nil {
		out.BrowserKey = a.BrowserKey != ""
	}
	for _, id := range ids {
		der, err := identity.PublicKeyDER(keys[id])
		if err != nil {
			continue
		}
		out.Devices = append(out.Devices, webDevice{ID: id, PublicKey: base64.StdEncoding.EncodeToString(der),
			Paired: d.Devices[id].Paired})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// apiOwnerKey registers the browser's owner key (SPKI DER, the body) for the
// account and issues every device of the account a new owner binding that
// names it beside the account's own key (the CLI's file key), in
// bindings/<device>.binding, for the device to install.
func (c *cloud) apiOwnerKey(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.viewerAccount(w, r)
	if !ok {
		return
	}
	der, err := io.ReadAll(io.LimitReader(r.Body, 1024))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pub, err := identity.ParsePublicKey(der)
	if err != nil {
		http.Error(w, "owner key: "+err.Error(), http.StatusBadRequest)
		return
	}
	pemKey, err := identity.PublicKeyPEM(pub)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := c.reg.update(func(d *regData) error {
		a := d.Accounts[acct]
		if a == nil {
			return fmt.Errorf("no account %q", acct)
		}
		a.BrowserKey = string(pemKey)
		return nil
	}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	d, err := c.reg.view()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	keys, err := d.ownerKeysOf(acct)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ids, _ := d.devicesOf(acct)
	written, delivered := []string{}, []string{}
	for _, id := range ids {
		p, signed, err := c.writeBinding(id, acct, keys)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		written = append(written, p)
		if c.bindings == nil {
			continue
		}
		// The device installs it when it verifies (pairing key, device,
		// newer than its own); retained, so an offline device gets it at
		// its next connect.
		if err := c.bindings.Deliver(r.Context(), id, signed); err != nil {
			c.log.Warn("owner binding not delivered", "device", id, "err", err)
			continue
		}
		delivered = append(delivered, id)
	}
	c.log.Info("browser owner key registered", "account", acct, "bindings", len(written), "delivered", len(delivered))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"bindings": written, "delivered": delivered})
}

// writeBinding signs and stores the owner binding of device naming the
// owner keys (SPKI DER, the account's key first). Its issue time is now,
// or 1 ms after the last binding issued here for the device if the clock
// is not past it: devices install only a binding issued strictly later
// than the one they hold.
func (c *cloud) writeBinding(device, acct string, keys [][]byte) (string, []byte, error) {
	dir := filepath.Join(c.dir, "bindings")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	p := filepath.Join(dir, device+".binding")
	issued := c.now().Truncate(time.Millisecond)
	if prev, err := atomicfile.ReadFileMax(p, 64<<10); err == nil {
		if pb, err := identity.VerifyOwnerBinding(prev, c.pairing.Public(), device); err == nil && !issued.After(pb.Issued) {
			issued = pb.Issued.Add(time.Millisecond)
		}
	}
	b, err := identity.SignOwnerBinding(identity.OwnerBinding{DeviceID: device, OwnerAccount: acct,
		OwnerKey: keys[0], MoreOwnerKeys: keys[1:], Issued: issued}, c.pairing)
	if err != nil {
		return "", nil, err
	}
	return p, b, storage.WriteFileAtomic(p, b, 0o644)
}

// apiLiveOffer relays a signed offer to the device and returns the first
// answer that claims the offer's nonce. It verifies nothing and could forge
// nothing: the device checks the owner's signature, the page checks the
// device's.
func (c *cloud) apiLiveOffer(w http.ResponseWriter, r *http.Request) {
	acct, ok := c.viewerAccount(w, r)
	if !ok {
		return
	}
	device := r.PathValue("device")
	d, err := c.reg.view()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if rec := d.Devices[device]; rec == nil || rec.Account != acct {
		http.Error(w, "no such device in this account", http.StatusNotFound)
		return
	}
	if c.live == nil {
		http.Error(w, "live view is not connected (the cloud has no MQTT link to devices)", http.StatusServiceUnavailable)
		return
	}
	offer, err := io.ReadAll(io.LimitReader(r.Body, live.MaxSDP*2))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o, _, err := live.ParseOffer(offer)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := relayOffer(r.Context(), c.live.For(device), offer, o.Nonce)
	if err != nil {
		http.Error(w, err.Error(), http.StatusGatewayTimeout)
		return
	}
	w.Header().Set("Content-Type", "application/cose")
	_, _ = w.Write(answer)
}

func relayOffer(ctx context.Context, t live.Transport, offer, nonce []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, relayWait)
	defer cancel()
	answers := make(chan []byte, 1)
	stop, err := t.Subscribe(ctx, live.TopicAnswer, func(b []byte) {
		a, _, err := live.ParseAnswer(b)
		if err != nil || !bytes.Equal(a.Nonce, nonce) {
			return
		}
		select {
		case answers <- bytes.Clone(b):
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := t.Publish(ctx, live.TopicOffer, offer); err != nil {
		return nil, err
	}
	select {
	case a := <-answers:
		return a, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer from the device within %s (offline, or it refused the offer without answering: forged, misaddressed or replayed)", relayWait)
		}
		return nil, ctx.Err()
	}
}

// ownerKeysOf returns the keys that speak for the account, SPKI DER: its own
// key (the CLI's file key) and, when one is registered, the browser's.
func (d *regData) ownerKeysOf(acct string) ([][]byte, error) {
	a := d.Accounts[acct]
	if a == nil {
		return nil, fmt.Errorf("no account %q", acct)
	}
	var keys [][]byte
	for _, p := range []string{a.OwnerKey, a.BrowserKey} {
		if p == "" {
			continue
		}
		pub, err := identity.ParsePublicKeyPEM([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("account %q: owner key: %w", acct, err)
		}
		der, err := identity.PublicKeyDER(pub)
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 || !bytes.Equal(keys[0], der) {
			keys = append(keys, der)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("account %q has no owner key", acct)
	}
	return keys, nil
}
