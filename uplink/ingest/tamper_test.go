package ingest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest/devca"
	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/protocol"
	"github.com/camagent/camagent/uplink/manifest"
)

// fixture is one camera with an item signed but not yet sent.
type fixture struct {
	env         *ingesttest.Env
	d           *ingesttest.Device
	hc          *http.Client
	cose        []byte
	m           manifest.Manifest
	clip, thumb []byte
}

func newFixture(t *testing.T, env *ingesttest.Env, owner string) *fixture {
	t.Helper()
	d := env.NewDevice(t, owner)
	f := &fixture{env: env, d: d, hc: deviceHTTP(t, env, d)}
	f.clip, f.thumb = blob(len(owner), 1, 0, 4000), blob(len(owner), 1, 1, 300)
	f.cose, f.m = d.Next(t, ingesttest.Clip(f.clip), ingesttest.Thumb(f.thumb))
	return f
}

func (f *fixture) post(t *testing.T) protocol.ManifestAnswer {
	t.Helper()
	a, m := postManifest(t, f.env, f.hc, f.cose)
	if a.status != http.StatusOK {
		t.Fatalf("post manifest: %d %s %s", a.status, a.code(), a.err.Error)
	}
	return m
}

// payload returns the signed payload of a manifest.
func payload(t *testing.T, cose []byte) []byte {
	t.Helper()
	msg, err := envelope.Parse(cose, manifest.ContentType)
	if err != nil {
		t.Fatal(err)
	}
	return msg.Payload
}

// TestTampering: each way of forging, mixing up or damaging an upload is
// refused with its own code, and the offending bytes are quarantined.
func TestTampering(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{MaxObjectSize: 1 << 20})
	other, err := devca.New("another CA", nil)
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	tests := []struct {
		name       string
		run        func(t *testing.T) answer
		status     int
		code       string
		quarantine bool
	}{
		{"flipped byte in the clip", func(t *testing.T) answer {
			f := newFixture(t, env, "flip")
			f.post(t)
			bad := bytes.Clone(f.clip)
			bad[1234] ^= 0x40
			return put(t, env, f.hc, f.m.Objects[0].SHA256, "0", bad, false)
		}, 422, protocol.CodeHashMismatch, true},
		{"manifest of device A with the body of device B", func(t *testing.T) answer {
			a, b := newFixture(t, env, "alice"), newFixture(t, env, "bob")
			a.post(t)
			body := bytes.Clone(b.clip) // same length as alice's clip
			return put(t, env, a.hc, a.m.Objects[0].SHA256, "0", body, false)
		}, 422, protocol.CodeHashMismatch, true},
		{"device B sends an object only device A declared", func(t *testing.T) answer {
			a, b := newFixture(t, env, "alice2"), newFixture(t, env, "bob2")
			a.post(t)
			return put(t, env, b.hc, a.m.Objects[0].SHA256, "0", a.clip, false)
		}, 404, protocol.CodeNotDeclared, true},
		{"sequence rolled back", func(t *testing.T) answer {
			f := newFixture(t, env, "roll")
			f.post(t)                                               // seq 1
			f.d.Next(t, ingesttest.Thumb([]byte("two")))            // seq 2, never sent
			c3, _ := f.d.Next(t, ingesttest.Thumb([]byte("three"))) // seq 3
			if a, _ := postManifest(t, env, f.hc, c3); a.status != 200 {
				t.Fatalf("seq 3: %d %s", a.status, a.code())
			}
			forged := f.d.Sign(t, f.d.Manifest(2, manifest.Hash(f.cose), ingesttest.Thumb([]byte("forged"))))
			return answerOf(postManifest(t, env, f.hc, forged))
		}, 409, protocol.CodeSeqRollback, true},
		{"another manifest with a stored sequence number", func(t *testing.T) answer {
			f := newFixture(t, env, "conflict")
			f.post(t)
			again := f.d.Sign(t, f.d.Manifest(1, [32]byte{}, ingesttest.Thumb([]byte("other"))))
			return answerOf(postManifest(t, env, f.hc, again))
		}, 409, protocol.CodeSeqConflict, true},
		{"manifest signed by an unknown key", func(t *testing.T) answer {
			f := newFixture(t, env, "unknown-key")
			forged, err := envelope.Seal(attacker, manifest.ContentType, []byte(f.d.ID), payload(t, f.cose))
			if err != nil {
				t.Fatal(err)
			}
			return answerOf(postManifest(t, env, f.hc, forged))
		}, 400, protocol.CodeBadSignature, true},
		{"kid names another device", func(t *testing.T) answer {
			a, b := newFixture(t, env, "kid-a"), newFixture(t, env, "kid-b")
			forged, err := envelope.Seal(a.d.Key, manifest.ContentType, []byte(b.d.ID), payload(t, a.cose))
			if err != nil {
				t.Fatal(err)
			}
			return answerOf(postManifest(t, env, a.hc, forged))
		}, 400, protocol.CodeKeyMismatch, true},
		{"valid manifest over another device's TLS identity", func(t *testing.T) answer {
			a, b := newFixture(t, env, "tls-a"), newFixture(t, env, "tls-b")
			return answerOf(postManifest(t, env, b.hc, a.cose))
		}, 403, protocol.CodeIdentityMismatch, true},
		{"self-consistent manifest of a key the CA never certified", func(t *testing.T) answer {
			f := newFixture(t, env, "victim")
			rogue := ingesttest.NewDevice(t, nil, "victim")
			cose, _ := rogue.Next(t, ingesttest.Thumb([]byte("rogue")))
			return answerOf(postManifest(t, env, f.hc, cose))
		}, 403, protocol.CodeIdentityMismatch, true},
		{"expired certificate", func(t *testing.T) answer {
			d := ingesttest.NewDevice(t, nil, "expired")
			now := time.Now()
			cert, err := env.CA.IssueDevice(d.Key.Public(), now.Add(-48*time.Hour), now.Add(-24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			d.Cert = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: d.Key, Leaf: cert}
			env.Registry.Pair(d.ID, "expired")
			cose, _ := d.Next(t, ingesttest.Thumb([]byte("x")))
			return answerOf(postManifest(t, env, deviceHTTP(t, env, d), cose))
		}, 401, protocol.CodeCertExpired, true},
		{"certificate of a foreign CA", func(t *testing.T) answer {
			d := ingesttest.NewDevice(t, other, "foreign")
			env.Registry.Pair(d.ID, "foreign")
			cose, _ := d.Next(t, ingesttest.Thumb([]byte("x")))
			return answerOf(postManifest(t, env, deviceHTTP(t, env, d), cose))
		}, 401, protocol.CodeCertUntrusted, true},
		{"certificate whose CN is not its key's device ID", func(t *testing.T) answer {
			a, b := newFixture(t, env, "cn-a"), newFixture(t, env, "cn-b")
			cert := issueWithCN(t, env.CA, a.d.Key, b.d.ID)
			a.d.Cert = tls.Certificate{Certificate: [][]byte{cert}, PrivateKey: a.d.Key}
			return answerOf(postManifest(t, env, deviceHTTP(t, env, a.d), a.cose))
		}, 401, protocol.CodeCertIdentity, true},
		{"no client certificate", func(t *testing.T) answer {
			f := newFixture(t, env, "nocert")
			return answerOf(postManifest(t, env, deviceHTTP(t, env, nil), f.cose))
		}, 401, protocol.CodeNoClientCert, false},
		{"oversized upload (chunked body past the declared size)", func(t *testing.T) answer {
			f := newFixture(t, env, "over")
			f.post(t)
			return put(t, env, f.hc, f.m.Objects[0].SHA256, "0", append(bytes.Clone(f.clip), "more"...), true)
		}, 413, protocol.CodeTooLarge, true},
		{"oversized upload (Content-Length past the declared size)", func(t *testing.T) answer {
			f := newFixture(t, env, "over-cl")
			f.post(t)
			return put(t, env, f.hc, f.m.Objects[0].SHA256, "0", append(bytes.Clone(f.clip), "more"...), false)
		}, 413, protocol.CodeTooLarge, true},
		{"object declared larger than the ingest takes", func(t *testing.T) answer {
			f := newFixture(t, env, "huge")
			m := f.d.Manifest(1, [32]byte{}, ingesttest.Thumb([]byte("x")))
			m.Objects[0].Size = 2 << 20
			return answerOf(postManifest(t, env, f.hc, f.d.Sign(t, m)))
		}, 413, protocol.CodeTooLarge, true},
		{"truncated upload", func(t *testing.T) answer {
			f := newFixture(t, env, "trunc")
			f.post(t)
			return put(t, env, f.hc, f.m.Objects[0].SHA256, "0", f.clip[:1000], false)
		}, 400, protocol.CodeTruncated, false},
		{"wrong offset", func(t *testing.T) answer {
			f := newFixture(t, env, "offset")
			f.post(t)
			return put(t, env, f.hc, f.m.Objects[0].SHA256, "10", f.clip[10:], false)
		}, 409, protocol.CodeOffsetMismatch, false},
		{"malformed COSE", func(t *testing.T) answer {
			f := newFixture(t, env, "garbage")
			return answerOf(postManifest(t, env, f.hc, []byte("\xd2\x84not cose at all")))
		}, 400, protocol.CodeMalformed, true},
		{"malformed CBOR payload, validly signed", func(t *testing.T) answer {
			f := newFixture(t, env, "badcbor")
			p := append(bytes.Clone(payload(t, f.cose)), 0x00) // trailing byte
			forged, err := envelope.Seal(f.d.Key, manifest.ContentType, []byte(f.d.ID), p)
			if err != nil {
				t.Fatal(err)
			}
			return answerOf(postManifest(t, env, f.hc, forged))
		}, 400, protocol.CodeMalformed, true},
		{"owner binding posted as a manifest", func(t *testing.T) answer {
			f := newFixture(t, env, "binding")
			der, _ := identity.PublicKeyDER(f.d.Key.Public())
			b, err := identity.SignOwnerBinding(identity.OwnerBinding{DeviceID: f.d.ID, OwnerAccount: "binding", OwnerKey: der}, f.d.Key)
			if err != nil {
				t.Fatal(err)
			}
			return answerOf(postManifest(t, env, f.hc, b))
		}, 400, protocol.CodeMalformed, true},
		{"manifest over the size limit", func(t *testing.T) answer {
			f := newFixture(t, env, "big")
			return answerOf(postManifest(t, env, f.hc, bytes.Repeat([]byte{0xa0}, manifest.MaxSize+10)))
		}, 413, protocol.CodeTooLarge, true},
		{"unpaired device", func(t *testing.T) answer {
			f := newFixture(t, env, "")
			return answerOf(postManifest(t, env, f.hc, f.cose))
		}, 403, protocol.CodeUnpaired, true},
		{"manifest names another owner than the pairing", func(t *testing.T) answer {
			f := newFixture(t, env, "carol")
			env.Registry.Pair(f.d.ID, "dave")
			return answerOf(postManifest(t, env, f.hc, f.cose))
		}, 403, protocol.CodeOwnerMismatch, true},
		{"object path is not a SHA-256", func(t *testing.T) answer {
			f := newFixture(t, env, "path")
			return do(t, f.hc, http.MethodPut, env.URL+"/v1/objects/ABC?offset=0", bytes.NewReader([]byte("x")), 1, nil)
		}, 400, protocol.CodeBadRequest, false},
		{"offset is not a number", func(t *testing.T) answer {
			f := newFixture(t, env, "offnum")
			f.post(t)
			return put(t, env, f.hc, f.m.Objects[0].SHA256, "-1", f.clip, false)
		}, 400, protocol.CodeBadRequest, false},
	}
	codes := map[string]string{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := env.Ingest.Stats().Quarantined
			a := tc.run(t)
			if a.status != tc.status || a.code() != tc.code {
				t.Fatalf("got %d %q (%s), want %d %q", a.status, a.code(), a.err.Error, tc.status, tc.code)
			}
			if got := env.Ingest.Stats().Quarantined > before; got != tc.quarantine {
				t.Errorf("quarantined: %v, want %v", got, tc.quarantine)
			}
		})
		if prev, ok := codes[tc.code]; ok && tc.code != protocol.CodeHashMismatch && tc.code != protocol.CodeIdentityMismatch &&
			tc.code != protocol.CodeTooLarge && tc.code != protocol.CodeMalformed && tc.code != protocol.CodeBadRequest {
			t.Errorf("%q and %q share the code %q", prev, tc.name, tc.code)
		}
		codes[tc.code] = tc.name
	}
	// Nothing refused made it into the store: every stored item verifies
	// and sits under its signer's folder.
	checkStore(t, env)
}

func answerOf(a answer, _ protocol.ManifestAnswer) answer { return a }

// issueWithCN issues a client certificate for key with any CN.
func issueWithCN(t *testing.T, ca *devca.CA, key *ecdsa.PrivateKey, cn string) []byte {
	t.Helper()
	cert, err := ca.Issue(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, key.Public())
	if err != nil {
		t.Fatal(err)
	}
	return cert.Raw
}

// checkStore verifies every stored item.
func checkStore(t *testing.T, env *ingesttest.Env) {
	t.Helper()
	root := filepath.Join(env.Root, "store", "devices")
	devs, _ := os.ReadDir(root)
	for _, dd := range devs {
		items, _ := os.ReadDir(filepath.Join(root, dd.Name()))
		for _, it := range items {
			if !it.IsDir() {
				continue
			}
			dir := filepath.Join(root, dd.Name(), it.Name())
			cose, err := os.ReadFile(filepath.Join(dir, "manifest.cose"))
			if err != nil {
				t.Errorf("%s: %v", dir, err)
				continue
			}
			m, _, err := manifest.VerifySelf(cose)
			if err != nil || m.DeviceID != dd.Name() || it.Name() != fmt.Sprintf("%020d", m.Seq) {
				t.Errorf("%s: stored manifest does not belong here: %v", dir, err)
				continue
			}
			for _, o := range m.Objects {
				b, err := os.ReadFile(filepath.Join(dir, "obj-"+o.Role))
				if err != nil {
					continue // not uploaded yet
				}
				if sha256.Sum256(b) != o.SHA256 || uint64(len(b)) != o.Size {
					t.Errorf("%s %s: stored object does not match its manifest", dir, o.Role)
				}
			}
		}
	}
}

// TestReplayIsIdempotent: a manifest sent again gets the same answer and
// changes nothing.
func TestReplayIsIdempotent(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	f := newFixture(t, env, "replay")
	first := f.post(t)
	if first.Replay || first.Complete || len(first.Missing) != 2 {
		t.Fatalf("first answer: %+v", first)
	}
	if a := put(t, env, f.hc, f.m.Objects[1].SHA256, "0", f.thumb, false); a.status != 200 {
		t.Fatalf("thumbnail: %d %s", a.status, a.code())
	}
	second := f.post(t)
	if !second.Replay || len(second.Missing) != 1 || second.Missing[0].Role != "clip" {
		t.Fatalf("replay answer: %+v", second)
	}
	third := f.post(t)
	if fmt.Sprint(second) != fmt.Sprint(third) {
		t.Errorf("replays answered differently: %+v then %+v", second, third)
	}
	st := env.Ingest.Stats()
	if st.ManifestsAccepted != 1 || st.Replays != 2 {
		t.Errorf("accepted %d, replays %d; want 1, 2", st.ManifestsAccepted, st.Replays)
	}
}

// TestTruncatedResumes: a body cut short keeps what arrived, and the upload
// resumes from there without the ingest receiving any byte twice.
func TestTruncatedResumes(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	f := newFixture(t, env, "resume")
	f.post(t)
	sum := f.m.Objects[0].SHA256
	a := put(t, env, f.hc, sum, "0", f.clip[:1500], false)
	if a.code() != protocol.CodeTruncated || a.err.Offset == nil || *a.err.Offset != 1500 {
		t.Fatalf("short body: %d %s %+v", a.status, a.code(), a.err)
	}
	st := do(t, f.hc, http.MethodHead, env.URL+protocol.StatusPath(sum), nil, 0, nil)
	if st.status != 200 || st.header.Get(protocol.HeaderOffset) != "1500" {
		t.Fatalf("HEAD status: %d offset %q", st.status, st.header.Get(protocol.HeaderOffset))
	}
	a = put(t, env, f.hc, sum, "1500", f.clip[1500:], false)
	if a.status != 200 {
		t.Fatalf("resume: %d %s", a.status, a.code())
	}
	if got := env.Ingest.Stats().BytesReceived; got != uint64(len(f.clip)) {
		t.Errorf("ingest received %d bytes, want exactly %d", got, len(f.clip))
	}
	// A repeated PUT after a lost answer is told it is complete.
	if a := put(t, env, f.hc, sum, strconv.Itoa(len(f.clip)), nil, false); a.status != 200 {
		t.Errorf("repeat PUT: %d %s", a.status, a.code())
	}
}

// TestChainGapAndLateLink: a manifest that skips one is stored and the gap
// recorded; the missing one, arriving late, is accepted because the chain
// vouches for it.
func TestChainGapAndLateLink(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	f := newFixture(t, env, "gap")
	f.post(t)
	c2, _ := f.d.Next(t, ingesttest.Thumb([]byte("two")))
	c3, _ := f.d.Next(t, ingesttest.Thumb([]byte("three")))
	_, a3 := postManifest(t, env, f.hc, c3)
	if !a3.Gap {
		t.Errorf("seq 3 after seq 1: gap not reported")
	}
	a, a2 := postManifest(t, env, f.hc, c2)
	if a.status != 200 || a2.Gap {
		t.Errorf("late seq 2: %d %s gap=%v; want accepted", a.status, a.code(), a2.Gap)
	}
	st := env.Ingest.Stats()
	if st.Gaps != 1 || st.GapsFilled != 1 {
		t.Errorf("gaps %d filled %d; want 1, 1", st.Gaps, st.GapsFilled)
	}
	// Skipped numbers that still link (a crash between reservations) are
	// not a gap.
	m := f.d.Manifest(70, manifest.Hash(c3), ingesttest.Thumb([]byte("seventy")))
	if _, a70 := postManifest(t, env, f.hc, f.d.Sign(t, m)); a70.Gap {
		t.Errorf("seq 70 linking to seq 3 reported as a gap")
	}
}

// TestReadAPI: viewers get only their own devices' items, and a stored
// manifest damaged on disk is never served.
func TestReadAPI(t *testing.T) {
	env := ingesttest.Start(t, ingesttest.Options{})
	f := newFixture(t, env, "erin")
	f.post(t)
	for i, o := range f.m.Objects {
		body := [][]byte{f.clip, f.thumb}[i]
		if a := put(t, env, f.hc, o.SHA256, "0", body, false); a.status != 200 {
			t.Fatalf("%s: %d %s", o.Role, a.status, a.code())
		}
	}
	hc := deviceHTTP(t, env, nil)
	erin, frank := env.Registry.Viewer("erin"), env.Registry.Viewer("frank")
	clipPath := fmt.Sprintf(protocol.PathItemFmt, f.d.ID, 1, "clip")
	tests := []struct {
		name, path, token string
		status            int
		code              string
	}{
		{"owner gets the clip", clipPath, erin, 200, ""},
		{"owner gets the manifest", fmt.Sprintf(protocol.PathItemFmt, f.d.ID, 1, protocol.ManifestRole), erin, 200, ""},
		{"owner lists", fmt.Sprintf(protocol.PathDevicesFmt, f.d.ID), erin, 200, ""},
		{"stranger", clipPath, frank, 403, protocol.CodeForbidden},
		{"stranger lists", fmt.Sprintf(protocol.PathDevicesFmt, f.d.ID), frank, 403, protocol.CodeForbidden},
		{"no token", clipPath, "", 401, protocol.CodeUnauthorized},
		{"bad token", clipPath, "nope", 401, protocol.CodeUnauthorized},
		{"no such item", fmt.Sprintf(protocol.PathItemFmt, f.d.ID, 9, "clip"), erin, 404, protocol.CodeNotFound},
		{"no such role", fmt.Sprintf(protocol.PathItemFmt, f.d.ID, 1, "audio"), erin, 404, protocol.CodeNotFound},
		{"bad device ID", fmt.Sprintf(protocol.PathItemFmt, "cam-x", 1, "clip"), erin, 400, protocol.CodeBadRequest},
		{"bad list parameter", fmt.Sprintf(protocol.PathDevicesFmt, f.d.ID) + "?limit=0", erin, 400, protocol.CodeBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := viewerGet(t, env, hc, tc.path, tc.token)
			if a.status != tc.status || a.code() != tc.code {
				t.Fatalf("got %d %q, want %d %q", a.status, a.code(), tc.status, tc.code)
			}
		})
	}

	// Damage the stored manifest: it is no longer listed or served.
	path := filepath.Join(env.Root, "store", "devices", f.d.ID, fmt.Sprintf("%020d", 1), "manifest.cose")
	b, _ := os.ReadFile(path)
	b[len(b)-5] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if a := viewerGet(t, env, hc, clipPath, erin); a.code() != protocol.CodeStoreCorrupt {
		t.Errorf("damaged item: %d %s, want store-corrupt", a.status, a.code())
	}
	a := viewerGet(t, env, hc, fmt.Sprintf(protocol.PathDevicesFmt, f.d.ID), erin)
	if l, _ := protocol.DecodeItemList(bytes.NewReader(a.body)); a.status != 200 || len(l.Items) != 0 {
		t.Errorf("damaged item listed: %d, %d items", a.status, len(l.Items))
	}
}
