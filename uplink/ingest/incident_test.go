package ingest_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
	"github.com/camagent/camagent/uplink/upload"
	"github.com/camagent/camagent/uplink/verify"
)

// sentItem is what a simulated camera uploaded.
type sentItem struct {
	cose  []byte
	m     manifest.Manifest
	clip  []byte
	thumb []byte
}

func blob(dev, seq, role, n int) []byte {
	b := make([]byte, n)
	copy(b, fmt.Sprintf("device %d item %d %d|", dev, seq, role))
	for i := 32; i < n; i++ {
		b[i] = byte(dev*31 + seq*7 + role + i)
	}
	return b
}

// TestIncident reproduces the incident ARCHITECTURE.md describes: the ingest's
// device-to-owner lookup goes through an overloaded cache that hands out
// answers about other devices, while hundreds of cameras upload at once over
// mutual TLS. Not one object may be stored or served under the wrong device
// or account, and every mixed-up answer must be detected and counted.
func TestIncident(t *testing.T) {
	devices, items, accounts := 200, 2, 50
	if testing.Short() {
		devices, accounts = 40, 10
	}
	var faulty *ingesttest.FaultyOwners
	env := ingesttest.Start(t, ingesttest.Options{
		WrapOwners: func(o ingest.Owners) ingest.Owners {
			faulty = &ingesttest.FaultyOwners{Inner: o, Shared: 2, Every: 7}
			return faulty
		},
	})
	devs := make([]*ingesttest.Device, devices)
	sent := make([][]sentItem, devices)
	byID := map[string]int{}
	for i := range devs {
		devs[i] = env.NewDevice(t, fmt.Sprintf("acct-%02d", i%accounts))
		byID[devs[i].ID] = i
		for k := range items {
			clip, thumb := blob(i, k, 0, 2048+i), blob(i, k, 1, 256+k)
			cose, m := devs[i].Next(t, ingesttest.Clip(clip), ingesttest.Thumb(thumb))
			sent[i] = append(sent[i], sentItem{cose: cose, m: m, clip: clip, thumb: thumb})
		}
	}

	// Every camera uploads at once, retrying what the ingest asks to retry
	// (a lookup that keeps answering for other devices is refused 503).
	start := make(chan struct{})
	errs := make(chan error, devices)
	var wg sync.WaitGroup
	for i, d := range devs {
		cl := uploadClient(t, env, d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for _, s := range sent[i] {
				it := upload.Item{Name: fmt.Sprint(s.m.Seq), Manifest: s.cose, Seq: s.m.Seq, Objects: []upload.Object{
					{Object: s.m.Objects[0], Data: s.clip}, {Object: s.m.Objects[1], Data: s.thumb}}}
				var err error
				for range 50 {
					var done bool
					done, err = cl.Send(context.Background(), &it, nil, nil)
					if err == nil && done {
						break
					}
					if err != nil && upload.Classify(err) != upload.Transient {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("device %d seq %d: %w", i, s.m.Seq, err)
					return
				}
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	t.Logf("upload phase %v", time.Since(t0))
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// What is on disk: every item under the device that signed it, with
	// exactly the bytes that device sent.
	storeDir := filepath.Join(env.Root, "store", "devices")
	dirs, err := os.ReadDir(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, dd := range dirs {
		i, ok := byID[dd.Name()]
		if !ok {
			t.Errorf("store holds a folder for an unknown device %q", dd.Name())
			continue
		}
		for _, s := range sent[i] {
			dir := filepath.Join(storeDir, dd.Name(), fmt.Sprintf("%020d", s.m.Seq))
			cose, err := os.ReadFile(filepath.Join(dir, "manifest.cose"))
			if err != nil {
				t.Errorf("device %d seq %d: %v", i, s.m.Seq, err)
				continue
			}
			m, _, err := manifest.VerifySelf(cose)
			if err != nil || m.DeviceID != dd.Name() || !bytes.Equal(cose, s.cose) {
				t.Errorf("device %d seq %d: stored manifest is not the one it signed (%v)", i, s.m.Seq, err)
			}
			for role, want := range map[string][]byte{"clip": s.clip, "thumbnail": s.thumb} {
				got, err := os.ReadFile(filepath.Join(dir, "obj-"+role))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("device %d seq %d %s: stored bytes are not the device's (%v)", i, s.m.Seq, role, err)
				}
			}
			stored++
		}
	}
	if stored != devices*items {
		t.Errorf("stored %d items, want %d", stored, devices*items)
	}

	// What is served: each account's viewer gets its own devices' items,
	// each verified by package verify against the keys it pinned, and is
	// refused every other device, while the lookup keeps mixing up.
	hc := deviceHTTP(t, env, nil)
	var rwg sync.WaitGroup
	rerrs := make(chan error, accounts*4)
	for a := range accounts {
		account := fmt.Sprintf("acct-%02d", a)
		token := env.Registry.Viewer(account)
		viewer := verify.Viewer{Account: account, Devices: map[string]crypto.PublicKey{}}
		var own []int
		for i := a; i < devices; i += accounts {
			own = append(own, i)
			viewer.Devices[devs[i].ID] = devs[i].Key.Public()
		}
		stranger := devs[(a+1)%accounts]
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			for _, i := range own {
				for _, s := range sent[i] {
					for role, want := range map[string][]byte{"clip": s.clip, "thumbnail": s.thumb} {
						path := fmt.Sprintf(protocol.PathItemFmt, devs[i].ID, s.m.Seq, role)
						r := getRetrying(t, env, hc, path, token)
						if r.status != http.StatusOK {
							rerrs <- fmt.Errorf("%s: %s: %d %s", account, path, r.status, r.code())
							continue
						}
						d := verify.CheckBytes(r.body, role, servedManifest(t, r), viewer)
						if !d.Show || !bytes.Equal(r.body, want) || d.Manifest.DeviceID != devs[i].ID {
							rerrs <- fmt.Errorf("%s: %s: served item refused by the viewer: %s %s", account, path, d.Code, d.Reason)
						}
					}
				}
				list := getRetrying(t, env, hc, fmt.Sprintf(protocol.PathDevicesFmt, devs[i].ID), token)
				l, err := protocol.DecodeItemList(bytes.NewReader(list.body))
				if list.status != http.StatusOK || err != nil || len(l.Items) != items {
					rerrs <- fmt.Errorf("%s: list %s: %d %s %v (%d items)", account, devs[i].ID, list.status, list.code(), err, len(l.Items))
				}
			}
			// A stranger's device: never served, however the lookup errs.
			for _, path := range []string{
				fmt.Sprintf(protocol.PathDevicesFmt, stranger.ID),
				fmt.Sprintf(protocol.PathItemFmt, stranger.ID, 1, "thumbnail"),
			} {
				r := viewerGet(t, env, hc, path, token)
				if r.status == http.StatusOK || (r.code() != protocol.CodeForbidden && r.code() != protocol.CodeLookupFailed) {
					rerrs <- fmt.Errorf("%s: stranger's %s: %d %s, want forbidden", account, path, r.status, r.code())
				}
			}
		}()
	}
	rwg.Wait()
	t.Logf("read phase %v", time.Since(t0))
	close(rerrs)
	for err := range rerrs {
		t.Error(err)
	}

	st := env.Ingest.Stats()
	t.Logf("lookups %d, mixed up %d, detected %d, refused %v", faulty.Calls(), faulty.Faults(), st.LookupMixups, st.Refused)
	if faulty.Faults() == 0 {
		t.Fatal("the faulty cache never mixed up an answer: the test proves nothing")
	}
	if st.LookupMixups != faulty.Faults() {
		t.Errorf("ingest detected %d mixed-up lookups, the cache handed out %d", st.LookupMixups, faulty.Faults())
	}
	if st.ObjectsStored != uint64(devices*items*2) || st.ManifestsAccepted != uint64(devices*items) {
		t.Errorf("stats: %d objects, %d manifests; want %d, %d", st.ObjectsStored, st.ManifestsAccepted, devices*items*2, devices*items)
	}
}

// getRetrying fetches path, retrying while the lookup is inconsistent.
func getRetrying(t testing.TB, env *ingesttest.Env, hc *http.Client, path, token string) answer {
	var r answer
	for range 20 {
		r = viewerGet(t, env, hc, path, token)
		if r.code() != protocol.CodeLookupFailed && r.code() != protocol.CodeOverloaded {
			break
		}
	}
	return r
}

// TestLookupLiesAboutAccount: a lookup that answers for the right device
// but with another account (a corrupted cache value) cannot attribute
// anything to that account: the upload is refused because the device signed
// another owner, and the wrong account is never served the device's items.
func TestLookupLiesAboutAccount(t *testing.T) {
	var lying *lyingOwners
	env := ingesttest.Start(t, ingesttest.Options{WrapOwners: func(o ingest.Owners) ingest.Owners {
		lying = &lyingOwners{inner: o}
		return lying
	}})
	alice := env.NewDevice(t, "alice")
	clip, thumb := blob(1, 1, 0, 500), blob(1, 1, 1, 50)
	cose, m := alice.Next(t, ingesttest.Clip(clip), ingesttest.Thumb(thumb))
	cl := uploadClient(t, env, alice)
	it := upload.Item{Manifest: cose, Seq: m.Seq, Objects: []upload.Object{{Object: m.Objects[0], Data: clip}, {Object: m.Objects[1], Data: thumb}}}
	if done, err := cl.Send(context.Background(), &it, nil, nil); err != nil || !done {
		t.Fatalf("upload with an honest lookup: %v", err)
	}

	lying.account("mallory")
	cose2, m2 := alice.Next(t, ingesttest.Clip(clip[:100]))
	it2 := upload.Item{Manifest: cose2, Seq: m2.Seq, Objects: []upload.Object{{Object: m2.Objects[0], Data: clip[:100]}}}
	_, err := cl.Send(context.Background(), &it2, nil, nil)
	var re *upload.RefusedError
	if !errors.As(err, &re) || re.Code != protocol.CodeOwnerMismatch {
		t.Fatalf("upload while the lookup says mallory: %v, want owner-mismatch", err)
	}

	// Mallory asks for alice's items while the lookup says they are hers:
	// the listing leaves them out and each item is refused, because the
	// manifests name alice.
	hc := deviceHTTP(t, env, nil)
	tok := env.Registry.Viewer("mallory")
	r := viewerGet(t, env, hc, fmt.Sprintf(protocol.PathDevicesFmt, alice.ID), tok)
	l, _ := protocol.DecodeItemList(bytes.NewReader(r.body))
	if r.status != http.StatusOK || len(l.Items) != 0 {
		t.Errorf("mallory's listing: %d %s, %d items; want 200 with none", r.status, r.code(), len(l.Items))
	}
	for _, role := range []string{"clip", "thumbnail", protocol.ManifestRole} {
		r := viewerGet(t, env, hc, fmt.Sprintf(protocol.PathItemFmt, alice.ID, 1, role), tok)
		if r.code() != protocol.CodeForbidden {
			t.Errorf("mallory gets alice's %s: %d %s, want forbidden", role, r.status, r.code())
		}
	}
}

// lyingOwners answers for the right device with an account it was told.
type lyingOwners struct {
	inner ingest.Owners
	mu    sync.Mutex
	lie   string
}

func (l *lyingOwners) account(a string) {
	l.mu.Lock()
	l.lie = a
	l.mu.Unlock()
}

func (l *lyingOwners) Owner(ctx context.Context, device string) (ingest.Pairing, error) {
	p, err := l.inner.Owner(ctx, device)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && l.lie != "" {
		p.Account = l.lie
	}
	return p, err
}
