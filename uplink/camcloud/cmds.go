package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/verify"
)

const (
	defaultListen = "127.0.0.1:8443"
	defaultURL    = "https://127.0.0.1:8443"
)

// flags is what every command shares.
type flags struct {
	fs    *flag.FlagSet
	data  *string
	level *string
}

func newFlags(name string, stderr io.Writer) flags {
	fs := flag.NewFlagSet("camcloud "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return flags{fs: fs, data: fs.String("data", "", "the cloud's data `dir` (default: out/cloud of the camagent clone the command runs in)"),
		level: fs.String("log-level", "info", "debug, info, warn or error")}
}

func (f flags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, f.fs.Arg(0))
	}
	if *f.data == "" {
		wd, err := os.Getwd()
		if err != nil {
			return fmt.Errorf("%w: no -data, and the current folder is unknown: %v", errUsage, err)
		}
		dir, err := defaultDataDir(wd)
		if err != nil {
			return err
		}
		*f.data = dir
	}
	return nil
}

// modulePath is the camagent module, by which defaultDataDir knows a clone.
const modulePath = "github.com/camagent/camagent"

// defaultDataDir is the data folder when -data is not given: out/cloud of
// the camagent clone that holds wd (where make run keeps the dev cloud; out/
// is ignored by git). Outside a clone there is no good default, and keys
// must not land where nobody asked for them: it refuses.
func defaultDataDir(wd string) (string, error) {
	for dir := wd; ; {
		if b, err := atomicfile.ReadFileMax(filepath.Join(dir, "go.mod"), 64<<10); err == nil && modfile(b) == modulePath {
			return filepath.Join(dir, "out", "cloud"), nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", fmt.Errorf("%w: no -data: pass -data DIR, the folder where the cloud keeps its CA key, pairing key and "+
				"registry (created if missing); without it camcloud uses out/cloud, but only inside a camagent clone", errUsage)
		}
		dir = up
	}
}

// modfile returns the module path a go.mod declares.
func modfile(b []byte) string {
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

func (f flags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*f.level)); err != nil {
		return nil, fmt.Errorf("%w: -log-level: %v", errUsage, err)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), nil
}

func (f flags) open(stderr io.Writer) (*cloud, []string, error) {
	log, err := f.logger(stderr)
	if err != nil {
		return nil, nil, err
	}
	return openCloud(*f.data, log, time.Now)
}

// serveCmd is `camcloud serve`.
func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("serve", stderr)
	listen := f.fs.String("listen", defaultListen, "`address` to listen on (loopback by default)")
	hosts := f.fs.String("hosts", defaultHosts, "comma-separated `names` and addresses for the TLS certificate")
	maxObject := f.fs.Uint64("max-object", ingest.DefaultMaxObjectSize, "largest object a manifest may declare, in `bytes`")
	var lim ingest.Limits
	f.fs.IntVar(&lim.MaxConns, "max-conns", 0, "admission control: open `connections` at most (0: 1024 per core); more are closed before the TLS handshake")
	f.fs.IntVar(&lim.MaxHandshakes, "max-handshakes", 0, "admission control: TLS `handshakes` at once (0: 2 per core)")
	f.fs.IntVar(&lim.MaxRequests, "max-requests", 0, "admission control: manifest, status and read `requests` in flight (0: 4 per core); more wait briefly, then get 503 with Retry-After")
	f.fs.IntVar(&lim.MaxUploads, "max-uploads", 0, "admission control: object `uploads` in flight (0: 32 per core)")
	mqttListen := f.fs.String("mqtt", "", "also start the MQTT broker (mosquitto) on this `address`, e.g. "+defaultMQTTListen+" (make run does)")
	turnListen := f.fs.String("turn", "", "also run a TURN server (TCP) on this `address` for live view, e.g. "+defaultTURNListen+
		" (make run does); its credential is "+TURNCredFile+" in the data folder")
	if err := f.parse(args); err != nil {
		return err
	}
	c, created, err := f.open(stderr)
	if err != nil {
		return err
	}
	for _, p := range created {
		c.log.Info("created", "file", p)
	}
	if *turnListen != "" {
		ts, addr, err := c.startTURN(*turnListen)
		if err != nil {
			return err
		}
		defer func() { _ = ts.Close() }()
		fmt.Fprintf(stdout, "camcloud: turn server on %s (tcp, user %s, credential in %s, relaying from %s)\n",
			addr, TURNUser, filepath.Join(c.dir, TURNCredFile), relayIP())
	}
	cert, err := c.serverCert(splitHosts(*hosts))
	if err != nil {
		return err
	}
	ing, err := c.ingestServer(*maxObject, lim)
	if err != nil {
		return err
	}
	// The ingest's staging sweep (abandoned partial uploads), stopped and
	// waited for when serve returns.
	sweepCtx, stopSweep := context.WithCancel(ctx)
	sweepDone := make(chan struct{})
	go func() { defer close(sweepDone); _ = ing.Run(sweepCtx) }()
	defer func() { stopSweep(); <-sweepDone }()
	tok, err := c.newEnrollToken()
	if err != nil {
		return err
	}
	if *mqttListen != "" {
		// The page's live view reaches devices through the broker started below.
		tc, err := c.serviceTLS()
		if err != nil {
			return err
		}
		relay := &mqttRelay{broker: "tls://" + *mqttListen, tls: tc}
		c.live, c.bindings = relay, relay
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: c.handler(ing), TLSConfig: ingest.TLSConfig(cert), ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelDebug)}
	fmt.Fprintf(stdout, "camcloud: listening on https://%s\n  data: %s\n  CA certificate (devices trust it): %s\n"+
		"  pairing public key (devices verify their owner binding with it): %s\n  one-time enrollment token: %s\n",
		ln.Addr(), c.dir, filepath.Join(c.dir, devca.CertFile), filepath.Join(c.dir, pairingPubFile), tok)
	fmt.Fprintf(stdout, "  owner's page: https://%s%s\n", ln.Addr(), PathApp)
	errc := make(chan error, 1)
	go func() { errc <- ing.Serve(srv, ln) }() // TLS handshakes under the ingest's admission control
	brokerErr := make(chan error, 1)
	if *mqttListen != "" {
		stopMQTT, err := c.serveMQTT(ctx, *mqttListen, stdout, brokerErr)
		if err != nil {
			_ = srv.Close()
			<-errc
			return err
		}
		defer stopMQTT()
	}
	select {
	case err := <-errc:
		return err
	case err := <-brokerErr:
		_ = srv.Close()
		<-errc
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-errc
	return err
}

// serveMQTT starts mosquitto and the service identity's receiver; stop
// stops both. A broker that exits sends an error to errc.
func (c *cloud) serveMQTT(ctx context.Context, listen string, stdout io.Writer, errc chan<- error) (stop func(), err error) {
	b, err := c.startBroker(ctx, listen)
	if err != nil {
		return nil, err
	}
	subscribed := make(chan struct{}, 1)
	rcv, err := c.receiver("tls://"+listen, serviceName, func() {
		select {
		case subscribed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		_ = b.Stop()
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = rcv.Run(rctx) }()
	go func() {
		defer wg.Done()
		select {
		case <-b.Done():
			errc <- fmt.Errorf("mosquitto exited; its log: %s", filepath.Join(c.dir, mqttDir, "mosquitto.log"))
		case <-rctx.Done():
		}
	}()
	stop = func() {
		cancel()
		wg.Wait()
		_ = b.Stop()
	}
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select { // so that nothing a device publishes from now on is missed
	case <-subscribed:
	case <-t.C:
		stop()
		return nil, errors.New("the service identity could not subscribe to the broker")
	}
	fmt.Fprintf(stdout, "camcloud: mqtt broker on tls://%s (mosquitto pid %d, log %s)\n", listen, b.PID(),
		filepath.Join(c.dir, mqttDir, "mosquitto.log"))
	return stop, nil
}

// initCmd is `camcloud init`: create what serve would, and print the paths.
func initCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("init", stderr)
	hosts := f.fs.String("hosts", defaultHosts, "comma-separated `names` and addresses for the TLS certificate")
	if err := f.parse(args); err != nil {
		return err
	}
	c, _, err := f.open(stderr)
	if err != nil {
		return err
	}
	if _, err := c.serverCert(splitHosts(*hosts)); err != nil {
		return err
	}
	if _, err := c.turnCred(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ca: %s\npairing: %s\nturn credential: %s\n", filepath.Join(c.dir, devca.CertFile),
		filepath.Join(c.dir, pairingPubFile), filepath.Join(c.dir, TURNCredFile))
	return nil
}

// enrollCmd is `camcloud enroll`: sign a device CSR offline.
func enrollCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("enroll", stderr)
	csrPath := f.fs.String("csr", "", "the device's certificate signing request (PEM `file`, from camagent provision)")
	out := f.fs.String("out", "", "where to write the device certificate (PEM `file`)")
	c2paOut := f.fs.String("c2pa-out", "", "also issue the device's C2PA claim-signing certificate and write it, with the CA's, to this PEM `file`")
	if err := f.parse(args); err != nil {
		return err
	}
	if *csrPath == "" || *out == "" {
		return fmt.Errorf("%w: enroll needs -csr and -out", errUsage)
	}
	c, _, err := f.open(stderr)
	if err != nil {
		return err
	}
	csr, err := atomicfile.ReadFileMax(*csrPath, devca.MaxCSR)
	if err != nil {
		return err
	}
	certPEM, id, err := c.signCSR(csr)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(*out, certPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "device id: %s\ncertificate: %s\n", id, *out)
	if *c2paOut != "" {
		chain, err := c.c2paCert(certPEM)
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(*c2paOut, chain, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "c2pa certificate: %s\n", *c2paOut)
	}
	return nil
}

// pairCmd is `camcloud pair`: pair a device to an account and write the
// signed owner binding.
func pairCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("pair", stderr)
	device := f.fs.String("device", "", "the device `ID`")
	acct := f.fs.String("account", "", "the owner `account`")
	out := f.fs.String("out", "", "where to write the owner binding (default DATA/bindings/<device>.binding)")
	pubPath := f.fs.String("pubkey", "", "the device's public key (PEM `file`), if it was not enrolled here")
	if err := f.parse(args); err != nil {
		return err
	}
	if err := identity.ValidDeviceID(*device); err != nil || *acct == "" {
		return fmt.Errorf("%w: pair needs -device ID and -account NAME (%v)", errUsage, err)
	}
	c, _, err := f.open(stderr)
	if err != nil {
		return err
	}
	var pub crypto.PublicKey
	if *pubPath != "" {
		b, err := atomicfile.ReadFileMax(*pubPath, 16<<10)
		if err != nil {
			return err
		}
		k, err := identity.ParsePublicKeyPEM(b)
		if err != nil {
			return err
		}
		if id, _ := identity.DeviceID(k); id != *device {
			return fmt.Errorf("the key in %s is device %s, not %s", *pubPath, id, *device)
		}
		pub = k
	}
	now := c.now()
	ownerPub, token, err := c.reg.ensureAccount(c.dir, *acct, now)
	if err != nil {
		return err
	}
	if err := c.reg.pair(*device, *acct, pub, now); err != nil {
		return err
	}
	d, err := c.reg.view()
	if err != nil {
		return err
	}
	keys, err := d.ownerKeysOf(*acct) // the account's key, and a browser's once registered
	if err != nil {
		return err
	}
	if der, err := identity.PublicKeyDER(ownerPub); err != nil || !bytes.Equal(der, keys[0]) {
		return fmt.Errorf("account %s: the registry's owner key changed while pairing", *acct)
	}
	binding, err := identity.SignOwnerBinding(identity.OwnerBinding{DeviceID: *device, OwnerAccount: *acct, OwnerKey: keys[0],
		MoreOwnerKeys: keys[1:], Issued: now}, c.pairing)
	if err != nil {
		return err
	}
	if *out == "" {
		if err := os.MkdirAll(filepath.Join(c.dir, "bindings"), 0o700); err != nil {
			return err
		}
		*out = filepath.Join(c.dir, "bindings", *device+".binding")
	}
	if err := atomicfile.WriteFile(*out, binding, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "paired: %s -> %s\nowner binding: %s\n", *device, *acct, *out)
	if token != "" {
		fmt.Fprintf(stdout, "new account %s; viewer token (shown once): %s\n", *acct, token)
	}
	return nil
}

// tokenCmd is `camcloud token`: a new viewer token for an account.
func tokenCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("token", stderr)
	acct := f.fs.String("account", "", "the `account`")
	if err := f.parse(args); err != nil {
		return err
	}
	tok, err := openRegistry(*f.data).newViewerToken(*acct)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// listCmd is `camcloud list`: a viewer of one account. It fetches every
// stored object of the account's devices with its manifest through the read
// API and checks it with package verify against the keys pinned at pairing.
func listCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("list", stderr)
	acct := f.fs.String("account", "", "the viewer's `account`")
	token := f.fs.String("token", os.Getenv("CAMCLOUD_TOKEN"), "viewer `token` (default $CAMCLOUD_TOKEN, else the one kept in DATA/viewers/)")
	base := f.fs.String("url", defaultURL, "the cloud's base `URL`")
	if err := f.parse(args); err != nil {
		return err
	}
	if *acct == "" {
		return fmt.Errorf("%w: list needs -account", errUsage)
	}
	v, ids, err := newViewer(*f.data, *acct, *token, *base, stdout)
	if err != nil {
		return err
	}
	defer v.hc.CloseIdleConnections()
	var shown, refused, pending int
	for _, id := range ids {
		s, r, p, err := v.device(ctx, id)
		shown, refused, pending = shown+s, refused+r, pending+p
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "%d shown, %d refused, %d not uploaded yet\n", shown, refused, pending)
	if refused > 0 {
		return fmt.Errorf("%d objects refused", refused)
	}
	return nil
}

// newViewer sets up the viewer of account: its paired devices with their
// pinned keys, the cloud's CA, and a viewer token (token, else the one kept
// for the command line in data).
func newViewer(data, acct, token, base string, out io.Writer) (viewerClient, []string, error) {
	if _, err := url.Parse(base); err != nil {
		return viewerClient{}, nil, fmt.Errorf("%w: -url: %v", errUsage, err)
	}
	reg := openRegistry(data)
	d, err := reg.view()
	if err != nil {
		return viewerClient{}, nil, err
	}
	ids, keys := d.devicesOf(acct)
	if len(ids) == 0 {
		return viewerClient{}, nil, fmt.Errorf("no device is paired to %q", acct)
	}
	if token == "" {
		if token, err = reg.cliViewerToken(data, acct); err != nil {
			return viewerClient{}, nil, err
		}
	}
	caPEM, err := atomicfile.ReadFileMax(filepath.Join(data, devca.CertFile), 64<<10)
	if err != nil {
		return viewerClient{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return viewerClient{hc: &http.Client{Transport: tr, Timeout: 5 * time.Minute}, base: base, token: token,
		viewer: verify.Viewer{Account: acct, Devices: keys}, out: out}, ids, nil
}

// getCmd is `camcloud get`: one stored object through the read API, written
// to a file only once package verify showed it (the owner's paired device
// signed it, for this account, and the bytes are the ones signed).
func getCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("get", stderr)
	acct := f.fs.String("account", "", "the viewer's `account`")
	device := f.fs.String("device", "", "the device `ID` (camcloud list names it)")
	seq := f.fs.Uint64("seq", 0, "the manifest's sequence `number` (the #N camcloud list shows)")
	role := f.fs.String("role", manifest.RoleClip, "the object: "+manifest.RoleClip+", "+manifest.RoleThumbnail+" or "+manifest.RoleSnapshot)
	out := f.fs.String("out", "", "the `file` to write (default DEVICE-SEQ.mp4, or DEVICE-SEQ-ROLE.jpg for a picture, in the current folder)")
	token := f.fs.String("token", os.Getenv("CAMCLOUD_TOKEN"), "viewer `token` (default $CAMCLOUD_TOKEN, else the one kept in DATA/viewers/)")
	base := f.fs.String("url", defaultURL, "the cloud's base `URL`")
	if err := f.parse(args); err != nil {
		return err
	}
	if *acct == "" || *seq == 0 || identity.ValidDeviceID(*device) != nil {
		return fmt.Errorf("%w: get needs -account NAME, -device ID and -seq N (camcloud list shows them)", errUsage)
	}
	suffix := map[string]string{manifest.RoleClip: ".mp4", manifest.RoleThumbnail: "-thumbnail.jpg", manifest.RoleSnapshot: "-snapshot.jpg"}[*role]
	if suffix == "" {
		return fmt.Errorf("%w: -role %q: want %s, %s or %s", errUsage, *role, manifest.RoleClip, manifest.RoleThumbnail, manifest.RoleSnapshot)
	}
	if *out == "" {
		*out = *device + "-" + strconv.FormatUint(*seq, 10) + suffix
	}
	v, _, err := newViewer(*f.data, *acct, *token, *base, stdout)
	if err != nil {
		return err
	}
	defer v.hc.CloseIdleConnections()
	resp, err := v.get(ctx, fmt.Sprintf(protocol.PathItemFmt, *device, *seq, *role))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(*out), "."+filepath.Base(*out)+".*")
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	written := false
	defer func() {
		if !written {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	cose, err := base64.StdEncoding.DecodeString(resp.Header.Get(protocol.HeaderManifest))
	d := verify.Decision{Code: verify.CodeMalformed, Reason: fmt.Sprintf("manifest header: %v", err)}
	if err == nil {
		d = verify.Check(io.TeeReader(resp.Body, tmp), *role, cose, v.viewer)
	}
	if !d.Show {
		return fmt.Errorf("get: %s #%d %s refused, nothing written: %s: %s", *device, *seq, *role, d.Code, d.Reason)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if err := os.Rename(tmp.Name(), *out); err != nil {
		return fmt.Errorf("get: %w", err)
	}
	written = true
	m := d.Manifest
	fmt.Fprintf(stdout, "verified %s #%d %s: signed by the device, owner %s, captured %s\nwritten: %s\n",
		*device, *seq, *role, m.Owner, m.Start().Format(time.RFC3339), *out)
	return nil
}

type viewerClient struct {
	hc     *http.Client
	base   string
	token  string
	viewer verify.Viewer
	out    io.Writer
}

func (v viewerClient) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+v.token)
	resp, err := v.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		a, err := protocol.DecodeErrorAnswer(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return nil, fmt.Errorf("GET %s: %s: %s", path, a.Code, a.Error)
	}
	return resp, nil
}

// device lists and checks one device's items.
func (v viewerClient) device(ctx context.Context, id string) (shown, refused, pending int, err error) {
	var after uint64
	for {
		path := fmt.Sprintf(protocol.PathDevicesFmt, id)
		if after > 0 {
			path += fmt.Sprintf("?after=%d", after)
		}
		resp, err := v.get(ctx, path)
		if err != nil {
			return shown, refused, pending, err
		}
		list, err := protocol.DecodeItemList(resp.Body)
		resp.Body.Close()
		if err != nil {
			return shown, refused, pending, err
		}
		for _, it := range list.Items {
			for _, o := range it.Objects {
				if !o.Stored {
					pending++
					fmt.Fprintf(v.out, "PENDING %s #%d %s (%d bytes not uploaded yet)\n", id, it.Seq, o.Role, o.Size)
					continue
				}
				d, err := v.object(ctx, id, it.Seq, o.Role)
				if err != nil {
					return shown, refused, pending, err
				}
				if d.Show {
					shown++
					m := d.Manifest
					clock := "clock trusted"
					if !m.ClockTrusted {
						clock = "clock NOT trusted"
					}
					fmt.Fprintf(v.out, "SHOW    %s #%d %s %d bytes, captured %s (%s), owner %s\n", id, it.Seq, o.Role, o.Size,
						m.Start().Format(time.RFC3339), clock, m.Owner)
				} else {
					refused++
					fmt.Fprintf(v.out, "REFUSE  %s #%d %s: %s: %s\n", id, it.Seq, o.Role, d.Code, d.Reason)
				}
			}
		}
		if list.Next == 0 {
			return shown, refused, pending, nil
		}
		after = list.Next
	}
}

// object fetches one object with its manifest and decides.
func (v viewerClient) object(ctx context.Context, id string, seq uint64, role string) (verify.Decision, error) {
	resp, err := v.get(ctx, fmt.Sprintf(protocol.PathItemFmt, id, seq, role))
	if err != nil {
		return verify.Decision{}, err
	}
	defer resp.Body.Close()
	cose, err := base64.StdEncoding.DecodeString(resp.Header.Get(protocol.HeaderManifest))
	if err != nil {
		return verify.Decision{Code: verify.CodeMalformed, Reason: "manifest header: " + err.Error()}, nil
	}
	return verify.Check(resp.Body, role, cose, v.viewer), nil
}
