package verify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/manifest"
)

type device struct {
	key   *ecdsa.PrivateKey
	id    string
	clip  []byte
	thumb []byte
	cose  []byte
}

func newDevice(t testing.TB, owner string, clip, thumb []byte) device {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := identity.DeviceID(&k.PublicKey)
	co, _ := manifest.HashObject(manifest.RoleClip, "video/mp4", bytes.NewReader(clip))
	to, _ := manifest.HashObject(manifest.RoleThumbnail, "image/jpeg", bytes.NewReader(thumb))
	cose, err := manifest.Sign(manifest.Manifest{
		Owner: owner, Seq: 1, BootID: "boot", StartMS: 1, EndMS: 2,
		Objects: []manifest.Object{co, to},
	}, k)
	if err != nil {
		t.Fatal(err)
	}
	return device{k, id, clip, thumb, cose}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

type checkCase struct {
	name   string
	object io.Reader
	role   string
	cose   []byte
	viewer Viewer
	code   string
}

// checkCases is the table of TestCheck, also the seed of FuzzCheck.
func checkCases(t testing.TB) (alice Viewer, cases []checkCase) {
	a := newDevice(t, "alice", []byte("clip of camera A"), []byte("thumb of A"))
	b := newDevice(t, "bob", []byte("clip of camera B"), []byte("thumb of B"))
	a2 := newDevice(t, "alice", []byte("clip of alice's second camera"), []byte("thumb"))
	unpaired := newDevice(t, "", []byte("clip"), []byte("thumb"))
	alice = Viewer{Account: "alice", Devices: map[string]crypto.PublicKey{a.id: &a.key.PublicKey, a2.id: &a2.key.PublicKey, unpaired.id: &unpaired.key.PublicKey}}
	bob := Viewer{Account: "bob", Devices: map[string]crypto.PublicKey{b.id: &b.key.PublicKey}}
	// A viewer whose pairing pinned B's key under A's ID (a corrupted store).
	confused := Viewer{Account: "alice", Devices: map[string]crypto.PublicKey{a.id: &b.key.PublicKey}}
	// Bob's camera, but the ingest's cache said it is Alice's: Alice even has
	// its key (say, shared once), yet the owner field is Bob.
	aliceWithB := Viewer{Account: "alice", Devices: map[string]crypto.PublicKey{b.id: &b.key.PublicKey}}

	flipped := bytes.Clone(a.clip)
	flipped[3] ^= 1
	// A's manifest payload, signed by B's key but claiming A (kid, device, key).
	forged := func() []byte {
		msg, err := envelope.Parse(a.cose, manifest.ContentType)
		if err != nil {
			t.Fatal(err)
		}
		c, err := envelope.Seal(b.key, manifest.ContentType, []byte(a.id), msg.Payload)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}()
	r := func(b []byte) io.Reader { return bytes.NewReader(b) }

	cases = []checkCase{
		{"clip shown", r(a.clip), manifest.RoleClip, a.cose, alice, CodeOK},
		{"thumbnail shown", r(a.thumb), manifest.RoleThumbnail, a.cose, alice, CodeOK},
		{"second camera shown", r(a2.clip), manifest.RoleClip, a2.cose, alice, CodeOK},
		{"bob sees his own", r(b.clip), manifest.RoleClip, b.cose, bob, CodeOK},
		{"stranger's clip with its manifest", r(b.clip), manifest.RoleClip, b.cose, alice, CodeUnknownDevice},
		{"A's clip to bob", r(a.clip), manifest.RoleClip, a.cose, bob, CodeUnknownDevice},
		{"manifest of A, body of B (same size)", r(b.clip), manifest.RoleClip, a.cose, alice, CodeHashMismatch},
		{"manifest of A, body of A2", r(a2.clip), manifest.RoleClip, a.cose, alice, CodeSizeMismatch},
		{"thumbnail served as clip", r(a.thumb), manifest.RoleClip, a.cose, alice, CodeSizeMismatch},
		{"flipped byte", r(flipped), manifest.RoleClip, a.cose, alice, CodeHashMismatch},
		{"truncated", r(a.clip[:len(a.clip)-1]), manifest.RoleClip, a.cose, alice, CodeSizeMismatch},
		{"longer", r(append(bytes.Clone(a.clip), 0)), manifest.RoleClip, a.cose, alice, CodeSizeMismatch},
		{"empty body", r(nil), manifest.RoleClip, a.cose, alice, CodeSizeMismatch},
		{"owner is bob", r(b.clip), manifest.RoleClip, b.cose, aliceWithB, CodeWrongOwner},
		{"unpaired camera", r(unpaired.clip), manifest.RoleClip, unpaired.cose, alice, CodeWrongOwner},
		{"viewer without account", r(a.clip), manifest.RoleClip, a.cose, Viewer{Devices: alice.Devices}, CodeWrongOwner},
		{"role not covered", r(a.clip), "event", a.cose, alice, CodeNotCovered},
		{"pinned key is another device's", r(a.clip), manifest.RoleClip, a.cose, confused, CodeBadSignature},
		{"signed by an unknown key", r(a.clip), manifest.RoleClip, forged, alice, CodeBadSignature},
		{"tampered manifest", r(a.clip), manifest.RoleClip, tamper(t, a.cose), alice, CodeBadSignature},
		{"garbage manifest", r(a.clip), manifest.RoleClip, []byte("not cbor"), alice, CodeMalformed},
		{"no manifest", r(a.clip), manifest.RoleClip, nil, alice, CodeMalformed},
		{"huge manifest", r(a.clip), manifest.RoleClip, make([]byte, manifest.MaxSize+1), alice, CodeMalformed},
		{"unreadable object", errReader{}, manifest.RoleClip, a.cose, alice, CodeReadError},
		{"no viewer", r(a.clip), manifest.RoleClip, a.cose, Viewer{}, CodeUnknownDevice},
	}
	return alice, cases
}

// tamper returns a copy of cose whose boot ID byte was changed, so that
// it parses but its signature no longer verifies.
func tamper(t testing.TB, cose []byte) []byte {
	t.Helper()
	c := bytes.Clone(cose)
	i := bytes.Index(c, []byte("boot"))
	if i < 0 {
		t.Fatal("boot ID not found")
	}
	c[i] = 'B'
	return c
}

func TestCheck(t *testing.T) {
	_, cases := checkCases(t)
	seen := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Check(tc.object, tc.role, tc.cose, tc.viewer)
			if d.Code != tc.code || d.Show != (tc.code == CodeOK) {
				t.Fatalf("Check = %+v, want code %s", d, tc.code)
			}
			if d.Reason == "" {
				t.Fatal("no reason")
			}
			seen[d.Code] = true
		})
	}
	for _, c := range []string{CodeOK, CodeMalformed, CodeUnknownDevice, CodeBadSignature, CodeWrongOwner,
		CodeNotCovered, CodeSizeMismatch, CodeHashMismatch, CodeReadError} {
		if !seen[c] {
			t.Errorf("no case for code %s", c)
		}
	}
}

func TestCheckBytesAndManifest(t *testing.T) {
	a := newDevice(t, "alice", []byte("clip"), []byte("thumb"))
	v := Viewer{Account: "alice", Devices: map[string]crypto.PublicKey{a.id: &a.key.PublicKey}}
	d := CheckBytes(a.clip, manifest.RoleClip, a.cose, v)
	if !d.Show || d.Manifest.DeviceID != a.id || d.Manifest.Owner != "alice" || !strings.Contains(d.Reason, a.id) {
		t.Fatalf("%+v", d)
	}
	// A refusal after the signature verified still carries the manifest.
	d = CheckBytes([]byte("other"), manifest.RoleClip, a.cose, v)
	if d.Show || d.Manifest.DeviceID != a.id {
		t.Fatalf("%+v", d)
	}
	// One before it does not.
	d = CheckBytes(a.clip, manifest.RoleClip, a.cose, Viewer{Account: "alice"})
	if d.Show || d.Manifest.DeviceID != "" {
		t.Fatalf("%+v", d)
	}
}

func FuzzCheck(f *testing.F) {
	alice, cases := checkCases(f)
	for _, tc := range cases {
		b, _ := io.ReadAll(io.LimitReader(tc.object, 1<<10))
		f.Add(b, tc.role, tc.cose)
	}
	f.Fuzz(func(t *testing.T, object []byte, role string, cose []byte) {
		d := Check(bytes.NewReader(object), role, cose, alice)
		if !d.Show {
			return
		}
		// Shown means: a manifest of one of Alice's devices, owned by her,
		// signed by the pinned key, covering exactly these bytes.
		m, err := manifest.Verify(cose, alice.Devices[d.Manifest.DeviceID])
		if err != nil || m.Owner != "alice" {
			t.Fatalf("shown but %v / owner %q", err, m.Owner)
		}
		o, ok := m.Object(role)
		got, _ := manifest.HashObject(role, o.MediaType, bytes.NewReader(object))
		if !ok || got != o {
			t.Fatalf("shown bytes that the manifest does not cover")
		}
	})
}

func BenchmarkCheck1MiB(b *testing.B) {
	clip := make([]byte, 1<<20)
	a := newDevice(b, "alice", clip, []byte("t"))
	v := Viewer{Account: "alice", Devices: map[string]crypto.PublicKey{a.id: &a.key.PublicKey}}
	b.SetBytes(int64(len(clip)))
	b.ReportAllocs()
	for b.Loop() {
		if d := CheckBytes(clip, manifest.RoleClip, a.cose, v); !d.Show {
			b.Fatal(d.Reason)
		}
	}
}
