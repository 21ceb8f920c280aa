package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/upload"
)

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("camcloud %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// provisioned is a camera provisioned against the dev cloud the way the
// make run script does it: key in the keystore, CSR, enroll, pair.
type provisioned struct {
	key     *identity.DeviceKey
	cert    string
	binding string
}

func provision(t *testing.T, data, account string) provisioned {
	t.Helper()
	dir := t.TempDir()
	key, _, err := identity.OpenDeviceKey(filepath.Join(dir, "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := identity.CSR(key, key.DeviceID())
	if err != nil {
		t.Fatal(err)
	}
	csrPath := filepath.Join(dir, identity.CSRFile)
	if err := os.WriteFile(csrPath, csr, 0o644); err != nil {
		t.Fatal(err)
	}
	p := provisioned{key: key, cert: filepath.Join(dir, identity.CertFile), binding: filepath.Join(dir, identity.BindingFile)}
	out := mustRun(t, "enroll", "-data", data, "-csr", csrPath, "-out", p.cert)
	if !strings.Contains(out, key.DeviceID()) {
		t.Errorf("enroll output does not name the device: %q", out)
	}
	mustRun(t, "pair", "-data", data, "-device", key.DeviceID(), "-account", account, "-out", p.binding)
	return p
}

// startCloud runs the cloud of data on a loopback TLS server.
func startCloud(t *testing.T, data string) (*cloud, *httptest.Server) {
	t.Helper()
	c, _, err := openCloud(data, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.serverCert(splitHosts(defaultHosts))
	if err != nil {
		t.Fatal(err)
	}
	ing, err := c.ingestServer(ingest.DefaultMaxObjectSize, ingest.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(c.handler(ing))
	hs.TLS = ingest.TLSConfig(cert)
	hs.StartTLS()
	t.Cleanup(hs.Close)
	return c, hs
}

// TestEndToEnd: a camera provisioned with the commands uploads a signed
// clip; the owner's viewer (camcloud list) shows it verified, another
// account's viewer is shown nothing of it.
func TestEndToEnd(t *testing.T) {
	data := t.TempDir()
	out := mustRun(t, "init", "-data", data, "-log-level", "error")
	if !strings.Contains(out, "ca.crt") {
		t.Errorf("init output: %q", out)
	}
	alice := provision(t, data, "alice")
	provision(t, data, "bob")
	pairingPub, err := identity.ParsePublicKeyPEM(must(os.ReadFile(filepath.Join(data, pairingPubFile))))
	if err != nil {
		t.Fatal(err)
	}
	b, err := identity.LoadOwnerBinding(alice.binding, pairingPub, alice.key.DeviceID())
	if err != nil || b.OwnerAccount != "alice" {
		t.Fatalf("owner binding: %+v %v", b, err)
	}
	_, hs := startCloud(t, data)

	clip, thumb := bytes.Repeat([]byte("clip bytes "), 5000), []byte("a thumbnail")
	m := manifest.Manifest{Owner: b.OwnerAccount, Seq: 1, BootID: "boot", StartMS: 1_750_000_000_000, EndMS: 1_750_000_010_000,
		ClockTrusted: true, Objects: []manifest.Object{
			{Role: manifest.RoleClip, MediaType: "video/mp4", Size: uint64(len(clip)), SHA256: sha256.Sum256(clip)},
			{Role: manifest.RoleThumbnail, MediaType: "image/jpeg", Size: uint64(len(thumb)), SHA256: sha256.Sum256(thumb)}}}
	cose, err := manifest.Sign(m, alice.key)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := upload.TLSConfig(alice.key, alice.cert, must(os.ReadFile(filepath.Join(data, "ca.crt"))), "")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := upload.NewClient(upload.ClientConfig{URL: hs.URL, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	it := upload.Item{Manifest: cose, Seq: 1, Objects: []upload.Object{{Object: m.Objects[0], Data: clip}, {Object: m.Objects[1], Data: thumb}}}
	if done, err := cl.Send(context.Background(), &it, nil, nil); err != nil || !done {
		t.Fatalf("upload: %v (done %v)", err, done)
	}

	out = mustRun(t, "list", "-data", data, "-account", "alice", "-url", hs.URL)
	if n := strings.Count(out, "SHOW    "+alice.key.DeviceID()); n != 2 || !strings.Contains(out, "0 refused") {
		t.Errorf("alice's list:\n%s", out)
	}
	out = mustRun(t, "list", "-data", data, "-account", "bob", "-url", hs.URL)
	if strings.Contains(out, alice.key.DeviceID()) || !strings.Contains(out, "0 shown") {
		t.Errorf("bob's list shows alice's device:\n%s", out)
	}

	// list without -token reuses the token it kept: no new token per run.
	tokens := func() int { d, _ := openRegistry(data).view(); return len(d.Accounts["alice"].Tokens) }
	before := tokens()
	mustRun(t, "list", "-data", data, "-account", "alice", "-url", hs.URL)
	if n := tokens(); n != before {
		t.Errorf("a second list added a viewer token: %d, then %d", before, n)
	}

	// get writes the clip and the thumbnail once verified...
	dir := t.TempDir()
	id := alice.key.DeviceID()
	clipOut := filepath.Join(dir, "clip.mp4")
	out = mustRun(t, "get", "-data", data, "-account", "alice", "-url", hs.URL, "-device", id, "-seq", "1", "-out", clipOut)
	if got, err := os.ReadFile(clipOut); err != nil || !bytes.Equal(got, clip) || !strings.Contains(out, "verified") {
		t.Errorf("get clip: %v, %d bytes, want %d; output %q", err, len(got), len(clip), out)
	}
	thumbOut := filepath.Join(dir, "thumb.jpg")
	mustRun(t, "get", "-data", data, "-account", "alice", "-url", hs.URL, "-device", id, "-seq", "1", "-role", "thumbnail", "-out", thumbOut)
	if got, _ := os.ReadFile(thumbOut); !bytes.Equal(got, thumb) {
		t.Errorf("get thumbnail: %q", got)
	}
	// A snapshot (the owner's snapshot command) is its own manifest, the
	// device's next, covering one object of role snapshot.
	snap := []byte("a snapshot")
	sm := manifest.Manifest{Owner: b.OwnerAccount, Seq: 2, BootID: "boot", StartMS: 1_750_000_020_000, EndMS: 1_750_000_020_000,
		ClockTrusted: true, Objects: []manifest.Object{
			{Role: manifest.RoleSnapshot, MediaType: "image/jpeg", Size: uint64(len(snap)), SHA256: sha256.Sum256(snap)}}}
	scose, err := manifest.Sign(sm, alice.key)
	if err != nil {
		t.Fatal(err)
	}
	sit := upload.Item{Manifest: scose, Seq: 2, Objects: []upload.Object{{Object: sm.Objects[0], Data: snap}}}
	if done, err := cl.Send(context.Background(), &sit, nil, nil); err != nil || !done {
		t.Fatalf("upload of the snapshot: %v (done %v)", err, done)
	}
	snapOut := filepath.Join(dir, "snap.jpg")
	mustRun(t, "get", "-data", data, "-account", "alice", "-url", hs.URL, "-device", id, "-seq", "2", "-role", "snapshot", "-out", snapOut)
	if got, _ := os.ReadFile(snapOut); !bytes.Equal(got, snap) {
		t.Errorf("get snapshot: %q", got)
	}
	// ...and refuses, writing nothing, what another account asks for or
	// what does not match its manifest.
	var errb bytes.Buffer
	bobOut := filepath.Join(dir, "bob.mp4")
	if err := run(t.Context(), []string{"get", "-data", data, "-account", "bob", "-url", hs.URL, "-device", id, "-seq", "1",
		"-out", bobOut}, io.Discard, &errb); err == nil {
		t.Error("bob got alice's clip")
	}
	var stored string
	filepath.WalkDir(filepath.Join(data, ingestDir), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, "thumbnail") {
			stored = p
		}
		return nil
	})
	if stored == "" {
		t.Fatal("no stored thumbnail under the ingest's folder")
	}
	if err := os.WriteFile(stored, []byte("a thumbnaiL"), 0o644); err != nil {
		t.Fatal(err)
	}
	badOut := filepath.Join(dir, "bad.jpg")
	err = run(t.Context(), []string{"get", "-data", data, "-account", "alice", "-url", hs.URL, "-device", id, "-seq", "1",
		"-role", "thumbnail", "-out", badOut}, io.Discard, &errb)
	if err == nil || !strings.Contains(err.Error(), "nothing written") {
		t.Errorf("get of a tampered thumbnail: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("files after the refusals: %v, want only clip.mp4, thumb.jpg and snap.jpg", ents)
	}
}

// TestHelpAndData: -h lists the commands; without -data a command uses
// out/cloud of the clone it runs in, and refuses outside one, writing
// nothing.
func TestHelpAndData(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"serve", "init", "enroll", "pair", "token", "list", "get", "events", "cmd"} {
		if !regexp.MustCompile(`(?m)^  ` + c + ` `).MatchString(out.String()) {
			t.Errorf("camcloud -h does not list %s:\n%s", c, out.String())
		}
	}
	clone := t.TempDir()
	os.WriteFile(filepath.Join(clone, "go.mod"), []byte("module "+modulePath+"\n\ngo 1.26\n"), 0o644)
	sub := filepath.Join(clone, "uplink", "camcloud")
	os.MkdirAll(sub, 0o755)
	if dir, err := defaultDataDir(sub); err != nil || dir != filepath.Join(clone, "out", "cloud") {
		t.Errorf("in a clone: %q, %v", dir, err)
	}
	elsewhere := t.TempDir()
	os.WriteFile(filepath.Join(elsewhere, "go.mod"), []byte("module example.com/other\n"), 0o644)
	t.Chdir(elsewhere)
	err := run(t.Context(), []string{"init"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pass -data DIR") {
		t.Errorf("init outside a clone without -data: %v", err)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 1 {
		t.Errorf("init without -data wrote into the current folder: %v", ents)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestEnrollEndpoint: the one-time token enrolls one device, once.
func TestEnrollEndpoint(t *testing.T) {
	data := t.TempDir()
	c, hs := startCloud(t, data)
	tok, err := c.newEnrollToken()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := identity.OpenDeviceKey(filepath.Join(t.TempDir(), "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := identity.CSR(key, key.DeviceID())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.ca.CertPEM())
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	post := func(token string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+protocol.PathEnroll, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if st, _ := post("wrong", csr); st != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", st)
	}
	if st, _ := post(tok, []byte("junk")); st != http.StatusBadRequest {
		t.Errorf("junk CSR: %d", st)
	}
	st, certPEM := post(tok, csr)
	if st != http.StatusOK {
		t.Fatalf("enroll: %d %s", st, certPEM)
	}
	certPath := filepath.Join(t.TempDir(), "device.crt")
	os.WriteFile(certPath, certPEM, 0o644)
	if _, err := upload.LoadCertificate(certPath, key); err != nil {
		t.Errorf("issued certificate: %v", err)
	}
	if st, _ := post(tok, csr); st != http.StatusUnauthorized {
		t.Errorf("token used twice: %d", st)
	}
	d, _ := c.reg.view()
	if rec := d.Devices[key.DeviceID()]; rec == nil || rec.PublicKey == "" {
		t.Errorf("enrolled device not pinned in the registry: %+v", rec)
	}
}

// TestServeStartsAndStops: serve listens, prints where, and returns nil
// when its context ends.
func TestServeStartsAndStops(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{first: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-data", data, "-listen", "127.0.0.1:0", "-log-level", "error"}, out, io.Discard)
	}()
	var addr string
	select {
	case line := <-out.first:
		addr = regexp.MustCompile(`https://(\S+)`).FindStringSubmatch(line)[1]
	case err := <-done:
		t.Fatalf("serve returned: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(must(os.ReadFile(filepath.Join(data, "ca.crt"))))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Post("https://"+addr+protocol.PathManifests, protocol.ContentManifest, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("manifest without a client certificate: %d, want 401", resp.StatusCode)
	}
	tok := strings.TrimSpace(string(must(os.ReadFile(filepath.Join(data, enrollFile)))))
	if !strings.Contains(out.String(), tok) {
		t.Errorf("the enrollment token in enroll.token is not the one printed")
	}
	hc.CloseIdleConnections()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// lineWriter collects output and sends the first write on first.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan string
	sent  bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		w.sent = true
		w.first <- string(p)
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestRegistry(t *testing.T) {
	data := t.TempDir()
	r := openRegistry(data)
	for _, bad := range []string{"", ".hidden", "a/b", "a b", strings.Repeat("x", 65)} {
		if _, _, err := r.ensureAccount(data, bad, time.Now()); err == nil {
			t.Errorf("account %q accepted", bad)
		}
	}
	_, tok, err := r.ensureAccount(data, "carol", time.Now())
	if err != nil || tok == "" {
		t.Fatalf("ensureAccount: %q %v", tok, err)
	}
	if _, again, _ := r.ensureAccount(data, "carol", time.Now()); again != "" {
		t.Error("an existing account got a new first token")
	}
	if a, ok := r.Account(tok); !ok || a != "carol" {
		t.Errorf("Account(token) = %q %v", a, ok)
	}
	if _, ok := r.Account("nope"); ok {
		t.Error("unknown token accepted")
	}
	raw := must(os.ReadFile(filepath.Join(data, registryFile)))
	if bytes.Contains(raw, []byte(tok)) {
		t.Error("registry.json stores a viewer token in clear")
	}
	// Concurrent writers (two camcloud commands) lose nothing.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := openRegistry(data).newViewerToken("carol"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	d, _ := r.view()
	if n := len(d.Accounts["carol"].Tokens); n != maxTokens {
		t.Errorf("carol has %d tokens, want %d (1 + 8, newest %d kept)", n, maxTokens, maxTokens)
	}
	if _, err := r.Owner(context.Background(), "cam-none"); err == nil {
		t.Error("Owner of an unknown device did not fail")
	}
}
