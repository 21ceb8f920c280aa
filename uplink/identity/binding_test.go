package identity

import (
	"crypto"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/fxamacker/cbor/v2"
)

// bindingCases is the test table, also the seed of FuzzOwnerBinding.
func bindingCases(t testing.TB) (fx struct {
	cloudPub, otherPub any
	device             string
}, cases []bindingCase) {
	cloud, other, owner := newKey(t), newKey(t), newKey(t)
	device, _ := DeviceID(&newKey(t).PublicKey)
	otherDevice, _ := DeviceID(&newKey(t).PublicKey)
	ownerDER, _ := x509.MarshalPKIXPublicKey(&owner.PublicKey)
	browserDER, _ := x509.MarshalPKIXPublicKey(&newKey(t).PublicKey)
	var nineKeys []any
	for range MaxOwnerKeys + 1 {
		k, _ := x509.MarshalPKIXPublicKey(&newKey(t).PublicKey)
		nineKeys = append(nineKeys, k)
	}
	fx.cloudPub, fx.otherPub, fx.device = &cloud.PublicKey, &other.PublicKey, device
	issued := time.UnixMilli(1_750_000_000_123).UTC()

	good := OwnerBinding{DeviceID: device, OwnerAccount: "acct-42", OwnerKey: ownerDER, Issued: issued}
	sign := func(b OwnerBinding) []byte {
		s, err := SignOwnerBinding(b, cloud)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	em, _ := cbor.CoreDetEncOptions().EncMode()
	raw := func(m map[any]any) []byte { // any payload, sealed with the cloud key
		p, err := em.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		s, err := envelope.Seal(cloud, BindingContentType, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	sealBytes := func(p []byte) []byte {
		s, err := envelope.Seal(cloud, BindingContentType, nil, p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fields := func(edit func(m map[any]any)) map[any]any {
		m := map[any]any{1: 1, 2: device, 3: "acct-42", 4: ownerDER, 5: issued.UnixMilli()}
		edit(m)
		return m
	}
	goodSigned := sign(good)
	flipped := append([]byte{}, goodSigned...)
	flipped[len(flipped)-70] ^= 0x01 // inside the payload
	otherSigned, _ := SignOwnerBinding(good, other)
	wrongType, _ := envelope.Seal(cloud, "application/vnd.camagent.manifest.v1+cbor", nil, mustPayload(t, good))

	cases = []bindingCase{
		{"valid", goodSigned, nil},
		{"other device", sign(OwnerBinding{DeviceID: otherDevice, OwnerAccount: "acct-42", OwnerKey: ownerDER, Issued: issued}), ErrWrongDevice},
		{"signed by another key", otherSigned, ErrBindingSignature},
		{"flipped byte", flipped, ErrBindingSignature},
		{"wrong content type", wrongType, ErrBadBinding},
		{"truncated", goodSigned[:len(goodSigned)-1], ErrBadBinding},
		{"empty", nil, ErrBadBinding},
		{"same fields by hand", raw(fields(func(map[any]any) {})), nil},
		{"missing key", raw(fields(func(m map[any]any) { delete(m, 5) })), ErrBadBinding},
		{"unknown key", raw(fields(func(m map[any]any) { m[6] = 1 })), ErrBadBinding},
		{"text key", raw(fields(func(m map[any]any) { delete(m, 3); m["3"] = "acct-42" })), ErrBadBinding},
		{"version 2", raw(fields(func(m map[any]any) { m[1] = 2 })), ErrBadBinding},
		{"empty account", raw(fields(func(m map[any]any) { m[3] = "" })), ErrBadBinding},
		{"owner key garbage", raw(fields(func(m map[any]any) { m[4] = []byte{1, 2, 3} })), ErrBadBinding},
		{"bad device ID", raw(fields(func(m map[any]any) { m[2] = "cam-nope" })), ErrBadBinding},
		{"float time", raw(fields(func(m map[any]any) { m[5] = 1.5 })), ErrBadBinding},
		{"array payload", sealBytes([]byte{0x81, 0x01}), ErrBadBinding},
		{"duplicate key", sealBytes(dupKeyPayload(t, mustPayload(t, good))), ErrBadBinding},
		{"indefinite map", sealBytes(indefinite(mustPayload(t, good))), ErrBadBinding},
		{"trailing byte", sealBytes(append(mustPayload(t, good), 0x00)), ErrBadBinding},
		// Several owner keys (version 2).
		{"two keys", sign(OwnerBinding{DeviceID: device, OwnerAccount: "acct-42", OwnerKey: ownerDER,
			MoreOwnerKeys: [][]byte{browserDER}, Issued: issued}), nil},
		{"two keys by hand", raw(fields(func(m map[any]any) { m[1] = 2; m[4] = []any{ownerDER, browserDER} })), nil},
		{"version 2, one key", raw(fields(func(m map[any]any) { m[1] = 2; m[4] = []any{ownerDER} })), ErrBadBinding},
		{"version 2, no key", raw(fields(func(m map[any]any) { m[1] = 2; m[4] = []any{} })), ErrBadBinding},
		{"version 2, same key twice", raw(fields(func(m map[any]any) { m[1] = 2; m[4] = []any{ownerDER, ownerDER} })), ErrBadBinding},
		{"version 2, garbage key", raw(fields(func(m map[any]any) { m[1] = 2; m[4] = []any{ownerDER, []byte{1, 2}} })), ErrBadBinding},
		{"version 2, too many keys", raw(fields(func(m map[any]any) { m[1] = 2; m[4] = nineKeys })), ErrBadBinding},
		{"version 2, text key", raw(fields(func(m map[any]any) { m[1] = 2; m[4] = []any{ownerDER, "k"} })), ErrBadBinding},
		{"version 1, array", raw(fields(func(m map[any]any) { m[4] = []any{ownerDER, browserDER} })), ErrBadBinding},
		{"version 3", raw(fields(func(m map[any]any) { m[1] = 3; m[4] = []any{ownerDER, browserDER} })), ErrBadBinding},
	}
	return fx, cases
}

type bindingCase struct {
	name   string
	signed []byte
	want   error
}

func mustPayload(t testing.TB, b OwnerBinding) []byte {
	em, _ := cbor.CoreDetEncOptions().EncMode()
	p, err := em.Marshal(bindingWire{1, b.DeviceID, b.OwnerAccount, b.OwnerKey, b.Issued.UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// dupKeyPayload rewrites the map header to one more pair and repeats key 1.
func dupKeyPayload(t testing.TB, p []byte) []byte {
	if p[0] != 0xa5 {
		t.Fatalf("payload starts %x", p[0])
	}
	return append([]byte{0xa6, 0x01, 0x01}, p[1:]...)
}

// indefinite turns a definite map (0xa5) into an indefinite one.
func indefinite(p []byte) []byte {
	return append(append([]byte{0xbf}, p[1:]...), 0xff)
}

func TestVerifyOwnerBinding(t *testing.T) {
	fx, cases := bindingCases(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := VerifyOwnerBinding(tc.signed, fx.cloudPub, fx.device)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if b.DeviceID != fx.device || b.OwnerAccount != "acct-42" || b.Issued.UnixMilli() != 1_750_000_000_123 {
					t.Fatalf("got %+v", b)
				}
				for _, k := range b.OwnerKeys() {
					if _, err := ParsePublicKey(k); err != nil {
						t.Fatal(err)
					}
				}
				if strings.HasPrefix(tc.name, "two keys") && len(b.OwnerKeys()) != 2 {
					t.Fatalf("%d owner keys, want 2", len(b.OwnerKeys()))
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The right binding checked with the wrong cloud key.
	if _, err := VerifyOwnerBinding(cases[0].signed, fx.otherPub, fx.device); !errors.Is(err, ErrBindingSignature) {
		t.Fatalf("other cloud key: %v", err)
	}
	// ...or for another device.
	other, _ := DeviceID(&newKey(t).PublicKey)
	if _, err := VerifyOwnerBinding(cases[0].signed, fx.cloudPub, other); !errors.Is(err, ErrWrongDevice) {
		t.Fatalf("other device: %v", err)
	}
}

func TestSignOwnerBindingRefuses(t *testing.T) {
	cloud := newKey(t)
	device, _ := DeviceID(&newKey(t).PublicKey)
	ownerDER, _ := x509.MarshalPKIXPublicKey(&newKey(t).PublicKey)
	for name, b := range map[string]OwnerBinding{
		"no device":   {OwnerAccount: "a", OwnerKey: ownerDER},
		"no account":  {DeviceID: device, OwnerKey: ownerDER},
		"no key":      {DeviceID: device, OwnerAccount: "a"},
		"long acct":   {DeviceID: device, OwnerAccount: string(make([]byte, maxAccount+1)), OwnerKey: ownerDER},
		"garbage key": {DeviceID: device, OwnerAccount: "a", OwnerKey: []byte("x")},
		"garbage second key": {DeviceID: device, OwnerAccount: "a", OwnerKey: ownerDER,
			MoreOwnerKeys: [][]byte{[]byte("x")}},
		"same key twice": {DeviceID: device, OwnerAccount: "a", OwnerKey: ownerDER,
			MoreOwnerKeys: [][]byte{ownerDER}},
		"too many keys": {DeviceID: device, OwnerAccount: "a", OwnerKey: ownerDER,
			MoreOwnerKeys: make([][]byte, MaxOwnerKeys)},
	} {
		if _, err := SignOwnerBinding(b, cloud); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
}

func TestSaveLoadOwnerBinding(t *testing.T) {
	fx, cases := bindingCases(t)
	dir := t.TempDir()
	path := BindingPath(filepath.Join(dir, "device.key"))

	if _, err := LoadOwnerBinding(path, fx.cloudPub, fx.device); !errors.Is(err, ErrNotPaired) {
		t.Fatalf("absent: %v", err)
	}
	// An invalid binding is refused and not written.
	if _, err := SaveOwnerBinding(path, cases[2].signed, fx.cloudPub, fx.device); !errors.Is(err, ErrBindingSignature) {
		t.Fatalf("save forged: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("forged binding was written: %v", err)
	}
	saved, err := SaveOwnerBinding(path, cases[0].signed, fx.cloudPub, fx.device)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	loaded, err := LoadOwnerBinding(path, fx.cloudPub, fx.device)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.OwnerAccount != saved.OwnerAccount || !loaded.Issued.Equal(saved.Issued) || string(loaded.OwnerKey) != string(saved.OwnerKey) {
		t.Fatalf("loaded %+v, saved %+v", loaded, saved)
	}
	// The stored file is re-verified: an edited file is refused.
	b, _ := os.ReadFile(path)
	b[len(b)-70] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOwnerBinding(path, fx.cloudPub, fx.device); !errors.Is(err, ErrBindingSignature) {
		t.Fatalf("edited file: %v", err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOwnerBinding(path, fx.cloudPub, fx.device); !errors.Is(err, ErrBadBinding) || errors.Is(err, ErrNotPaired) {
		t.Fatalf("garbage file: %v", err)
	}
}

func FuzzOwnerBinding(f *testing.F) {
	fx, cases := bindingCases(f)
	for _, tc := range cases {
		f.Add(tc.signed)
	}
	f.Fuzz(func(t *testing.T, signed []byte) {
		b, err := VerifyOwnerBinding(signed, fx.cloudPub, fx.device)
		if err != nil {
			return
		}
		// Anything accepted is a complete, well-formed binding for this device.
		if b.DeviceID != fx.device || b.OwnerAccount == "" {
			t.Fatalf("accepted %+v", b)
		}
		keys := b.OwnerKeys()
		if len(keys) > MaxOwnerKeys {
			t.Fatalf("accepted %d owner keys", len(keys))
		}
		for _, k := range keys {
			if _, err := ParsePublicKey(k); err != nil {
				t.Fatalf("accepted a bad owner key: %v", err)
			}
		}
	})
}

func TestInstallOwnerBinding(t *testing.T) {
	cloud, other, cli, browser := newKey(t), newKey(t), newKey(t), newKey(t)
	device, _ := DeviceID(&newKey(t).PublicKey)
	otherDevice, _ := DeviceID(&newKey(t).PublicKey)
	cliDER, _ := x509.MarshalPKIXPublicKey(&cli.PublicKey)
	browserDER, _ := x509.MarshalPKIXPublicKey(&browser.PublicKey)
	t0 := time.UnixMilli(1_750_000_000_000).UTC()
	sign := func(k crypto.Signer, dev string, at time.Time, more ...[]byte) []byte {
		t.Helper()
		s, err := SignOwnerBinding(OwnerBinding{DeviceID: dev, OwnerAccount: "dev", OwnerKey: cliDER,
			MoreOwnerKeys: more, Issued: at}, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	path := filepath.Join(t.TempDir(), BindingFile)
	first := sign(cloud, device, t0)
	withBrowser := sign(cloud, device, t0.Add(time.Minute), browserDER)
	dropped := sign(cloud, device, t0.Add(2*time.Minute))

	install := func(signed []byte) (bool, error) {
		t.Helper()
		_, _, ok, err := InstallOwnerBinding(path, signed, &cloud.PublicKey, device)
		return ok, err
	}
	holds := func(want []byte) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil || string(got) != string(want) {
			t.Fatalf("the held binding changed (%v)", err)
		}
	}
	if ok, err := install(first); err != nil || !ok {
		t.Fatalf("unpaired device, first binding: %v %v", ok, err)
	}
	if ok, err := install(withBrowser); err != nil || !ok {
		t.Fatalf("newer binding naming the browser key: %v %v", ok, err)
	}
	b, err := LoadOwnerBinding(path, &cloud.PublicKey, device)
	if err != nil || len(b.OwnerKeys()) != 2 {
		t.Fatalf("after install: %+v %v", b, err)
	}
	if ok, err := install(withBrowser); err != nil || ok {
		t.Fatalf("the held bytes again (a retained message): %v %v, want no-op", ok, err)
	}
	for _, c := range []struct {
		name   string
		signed []byte
		want   error
	}{
		{"replay of an older binding (rollback)", first, ErrStaleBinding},
		{"same issue time, other contents", sign(cloud, device, t0.Add(time.Minute)), ErrStaleBinding},
		{"signed by another key", sign(other, device, t0.Add(time.Hour)), ErrBindingSignature},
		{"for another device", sign(cloud, otherDevice, t0.Add(time.Hour)), ErrWrongDevice},
		{"garbage", []byte("not a binding"), ErrBadBinding},
	} {
		if ok, err := install(c.signed); !errors.Is(err, c.want) || ok {
			t.Errorf("%s: installed=%v err=%v, want %v", c.name, ok, err, c.want)
		}
		holds(withBrowser)
	}
	if ok, err := install(dropped); err != nil || !ok {
		t.Fatalf("newer binding dropping the browser key: %v %v", ok, err)
	}
	b, err = LoadOwnerBinding(path, &cloud.PublicKey, device)
	if err != nil || len(b.OwnerKeys()) != 1 {
		t.Fatalf("after the drop: %+v %v", b, err)
	}
	if _, err := install(withBrowser); !errors.Is(err, ErrStaleBinding) {
		t.Fatalf("the binding naming the dropped key, replayed: %v", err)
	}
	holds(dropped)
}
