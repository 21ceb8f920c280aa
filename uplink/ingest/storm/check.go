package storm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/verify"
)

// Check is what the cloud stored and served after the storm. A wrong
// attribution is an item stored under another device than the one that
// signed it, or with another device's bytes (StoredWrong), or an object a
// viewer was served and shown although it is not its own device's
// (ServedWrong), or a stranger's device's items served at all
// (StrangerServed). All three must be zero.
type Check struct {
	Stored        int // items stored, each with its signer's manifest and bytes
	StoredWrong   int
	StoredMissing int // items a camera got through but the store lacks (lost)
	Served        int // objects served, verified and shown by their viewer
	ServedWrong   int
	// ViewerRefused counts objects the ingest served that the viewer's own
	// check (package verify) refused: a mix-up caught at the last hop.
	ViewerRefused int
	ServeErrors   int // reads that did not succeed after retries
	// Strangers counts reads of another account's device; StrangerRefused
	// those refused (forbidden, or lookup-inconsistent).
	Strangers, StrangerRefused, StrangerServed int
	Errors                                     []string // the first few problems
}

// WrongStored and WrongServed are the wrong attributions (must be 0).
func (c *Check) WrongStored() int { return c.StoredWrong }
func (c *Check) WrongServed() int { return c.ServedWrong + c.StrangerServed }

func (c *Check) errorf(format string, args ...any) {
	if len(c.Errors) < 10 {
		c.Errors = append(c.Errors, fmt.Sprintf(format, args...))
	}
}

// store checks the ingest's store directory against what was sent.
func (c *Check) store(dir string, cfg Config, sent [][][]byte) error {
	byID := map[string]int{}
	for i, d := range cfg.Fleet.Devices {
		byID[d.ID] = i
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("storm: check the store: %w", err)
	}
	for _, e := range ents {
		i, ok := byID[e.Name()]
		if !ok {
			c.StoredWrong++
			c.errorf("store holds a folder for an unknown device %q", e.Name())
			continue
		}
		items, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("storm: check the store: %w", err)
		}
		for _, it := range items {
			if !it.IsDir() {
				continue
			}
			seq, err := strconv.ParseUint(it.Name(), 10, 64)
			if err != nil || seq == 0 || seq > uint64(len(sent[i])) {
				c.StoredWrong++
				c.errorf("device %d: item %q was never sent by it", i, it.Name())
			}
		}
	}
	for i, d := range cfg.Fleet.Devices {
		for k, want := range sent[i] {
			seq := uint64(k + 1)
			idir := filepath.Join(dir, d.ID, fmt.Sprintf("%020d", seq))
			cose, err := os.ReadFile(filepath.Join(idir, "manifest.cose"))
			if err != nil {
				c.StoredMissing++
				c.errorf("device %d seq %d: %v", i, seq, err)
				continue
			}
			m, _, err := manifest.VerifySelf(cose)
			if err != nil || m.DeviceID != d.ID || !bytes.Equal(cose, want) {
				c.StoredWrong++
				c.errorf("device %d seq %d: stored manifest is not the one it signed (%v)", i, seq, err)
				continue
			}
			wrong := false
			for role, name := range []string{manifest.RoleClip, manifest.RoleThumbnail} {
				got, err := os.ReadFile(filepath.Join(idir, "obj-"+name))
				if err != nil {
					c.StoredMissing++
					c.errorf("device %d seq %d %s: %v", i, seq, name, err)
					wrong = true
					continue
				}
				if !bytes.Equal(got, d.Blob(seq, role, int(m.Objects[role].Size))) {
					c.StoredWrong++
					c.errorf("device %d seq %d %s: stored bytes are not the device's", i, seq, name)
					wrong = true
				}
			}
			if !wrong {
				c.Stored++
			}
		}
	}
	return nil
}

// serve reads every item back through the read API as each account's
// viewer and checks it with package verify, and asks for a stranger's
// device once per account.
func (c *Check) serve(ctx context.Context, cfg Config, url string, tokens map[string]string, sent [][][]byte) {
	byAccount := map[string][]*Device{}
	var accounts []string
	for _, d := range cfg.Fleet.Devices {
		if _, ok := byAccount[d.Account]; !ok {
			accounts = append(accounts, d.Account)
		}
		byAccount[d.Account] = append(byAccount[d.Account], d)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cfg.Fleet.CA.Pool(), MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: cfg.Viewers}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	var mu sync.Mutex
	_ = parallel(ctx, len(accounts), cfg.Viewers, func(a int) error {
		var local Check
		acct := accounts[a]
		v := verify.Viewer{Account: acct, Devices: map[string]crypto.PublicKey{}}
		for _, d := range byAccount[acct] {
			v.Devices[d.ID] = d.Key.Public()
		}
		get := func(path string) (int, http.Header, []byte, string) {
			var status int
			var hdr http.Header
			var body []byte
			var code string
			for range 20 {
				status, hdr, body, code = viewerGet(ctx, hc, url+path, tokens[acct])
				if code != protocol.CodeLookupFailed {
					break
				}
			}
			return status, hdr, body, code
		}
		for _, d := range byAccount[acct] {
			status, _, body, code := get(fmt.Sprintf(protocol.PathDevicesFmt, d.ID))
			l, err := protocol.DecodeItemList(bytes.NewReader(body))
			if status != http.StatusOK || err != nil || len(l.Items) != len(sent[d.Index]) {
				local.ServeErrors++
				local.errorf("%s: list %s: %d %s %v (%d items, want %d)", acct, d.ID, status, code, err, len(l.Items), len(sent[d.Index]))
			}
			for k := range sent[d.Index] {
				seq := uint64(k + 1)
				for role, name := range []string{manifest.RoleClip, manifest.RoleThumbnail} {
					status, hdr, body, code := get(fmt.Sprintf(protocol.PathItemFmt, d.ID, seq, name))
					if status != http.StatusOK {
						local.ServeErrors++
						local.errorf("%s: %s seq %d %s: %d %s", acct, d.ID, seq, name, status, code)
						continue
					}
					cose, _ := base64.StdEncoding.DecodeString(hdr.Get(protocol.HeaderManifest))
					dec := verify.CheckBytes(body, name, cose, v)
					switch {
					case !dec.Show:
						local.ViewerRefused++
						local.errorf("%s: %s seq %d %s: served, refused by the viewer: %s %s", acct, d.ID, seq, name, dec.Code, dec.Reason)
					case dec.Manifest.DeviceID != d.ID || dec.Manifest.Seq != seq ||
						!bytes.Equal(body, d.Blob(seq, role, len(body))):
						local.ServedWrong++
						local.errorf("%s: %s seq %d %s: shown, but it is not that item", acct, d.ID, seq, name)
					default:
						local.Served++
					}
				}
			}
		}
		// A stranger's device: never served, however the lookup errs.
		other := byAccount[accounts[(a+1)%len(accounts)]][0]
		if other.Account != acct {
			for _, path := range []string{fmt.Sprintf(protocol.PathDevicesFmt, other.ID),
				fmt.Sprintf(protocol.PathItemFmt, other.ID, 1, manifest.RoleThumbnail)} {
				local.Strangers++
				status, _, _, code := viewerGet(ctx, hc, url+path, tokens[acct])
				switch {
				case status == http.StatusOK:
					local.StrangerServed++
					local.errorf("%s: stranger's %s served", acct, path)
				case code == protocol.CodeForbidden || code == protocol.CodeLookupFailed:
					local.StrangerRefused++
				default:
					local.ServeErrors++
					local.errorf("%s: stranger's %s: %d %s, want forbidden", acct, path, status, code)
				}
			}
		}
		mu.Lock()
		c.add(&local)
		mu.Unlock()
		return nil
	})
}

func (c *Check) add(o *Check) {
	c.Served += o.Served
	c.ServedWrong += o.ServedWrong
	c.ViewerRefused += o.ViewerRefused
	c.ServeErrors += o.ServeErrors
	c.Strangers += o.Strangers
	c.StrangerRefused += o.StrangerRefused
	c.StrangerServed += o.StrangerServed
	for _, e := range o.Errors {
		c.errorf("%s", e)
	}
}

// viewerGet fetches url as the viewer with token; code is the error
// answer's code ("" on 200, "transport" when there was no answer).
func viewerGet(ctx context.Context, hc *http.Client, url, token string) (int, http.Header, []byte, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, "transport"
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, "transport"
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, nil, "transport"
	}
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, resp.Header, body, ""
	}
	var ea protocol.ErrorAnswer
	_ = json.Unmarshal(body, &ea)
	return resp.StatusCode, resp.Header, body, ea.Code
}
