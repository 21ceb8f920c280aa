package command

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const dev = "cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

var now = time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)

func table() []Command {
	n := []byte("0123456789abcdef")
	mk := func(op Op) Command {
		return Command{DeviceID: dev, Nonce: n, Issued: now, Expires: now.Add(time.Minute), Op: op}
	}
	p := mk(OpConfigPatch)
	p.Patch = "[motion]\nthreshold = 20\n"
	c := mk(OpFormatSDConfirm)
	c.Confirm = []byte("challenge")
	return []Command{p, mk(OpSnapshot), mk(OpUploadNow), mk(OpReboot), mk(OpFormatSD), c}
}

func TestCheck(t *testing.T) {
	owner, vendor, evil, browser := newKey(t), newKey(t), newKey(t), newKey(t)
	keys := Keys{Owners: []crypto.PublicKey{owner.Public()}, OwnerAccount: "alice", Vendor: vendor.Public()}
	// A v2 binding naming the CLI key and a browser's key.
	both := Keys{Owners: []crypto.PublicKey{owner.Public(), browser.Public()}, OwnerAccount: "alice"}
	rc, err := OpenReplayCache(filepath.Join(t.TempDir(), "replay"), 4)
	if err != nil {
		t.Fatal(err)
	}
	ch := &Checker{DeviceID: dev, Replay: rc}
	fresh := func(op Op) Command { return New(dev, op, now, time.Minute) }
	sign := func(c Command, k *ecdsa.PrivateKey) []byte {
		b, err := Sign(c, k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ok := sign(fresh(OpReboot), owner)
	misaddr := fresh(OpReboot)
	misaddr.DeviceID = "cam-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	future := New(dev, OpReboot, now.Add(time.Hour), time.Minute)
	for _, c := range []struct {
		name string
		b    []byte
		keys Keys
		at   time.Time
		want error
		who  Signer
	}{
		{"owner", ok, keys, now, nil, SignerOwner},
		{"replay", ok, keys, now, ErrReplay, SignerOwner},
		{"vendor service", sign(fresh(OpUploadNow), vendor), keys, now, nil, SignerVendor},
		{"vendor owner-op", sign(fresh(OpSnapshot), vendor), keys, now, ErrNotPermitted, SignerVendor},
		{"other owner", sign(fresh(OpReboot), evil), keys, now, ErrUnsigned, ""},
		{"second owner key", sign(fresh(OpSnapshot), browser), both, now, nil, SignerOwner},
		{"key a newer binding dropped", sign(fresh(OpSnapshot), browser), keys, now, ErrUnsigned, ""},
		{"unpaired", sign(fresh(OpReboot), owner), Keys{}, now, ErrNotPaired, ""},
		{"misaddressed", sign(misaddr, owner), keys, now, ErrMisaddressed, SignerOwner},
		{"expired", sign(fresh(OpReboot), owner), keys, now.Add(time.Minute), ErrExpired, SignerOwner},
		{"not yet", sign(future, owner), keys, now, ErrNotYetValid, SignerOwner},
		{"garbage", []byte("x"), keys, now, ErrMalformed, ""},
		{"too large", make([]byte, MaxSize+1), keys, now, ErrTooLarge, ""},
	} {
		_, who, err := ch.Check(c.b, c.keys, c.at)
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) || who != c.who {
			t.Errorf("%s: err %v who %q, want %v %q", c.name, err, who, c.want, c.who)
		}
	}
	// The cache survives a restart, and forgets expired nonces.
	rc2, err := OpenReplayCache(filepath.Join(filepath.Dir(rc.path), "replay"), 4)
	if err != nil {
		t.Fatal(err)
	}
	ch2 := &Checker{DeviceID: dev, Replay: rc2}
	if _, _, err := ch2.Check(ok, keys, now); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay after reopen: %v", err)
	}
	// Full of unexpired nonces (3 of the 4 used by the table): refused,
	// not forgotten.
	for range 1 {
		if _, _, err := ch2.Check(sign(fresh(OpReboot), owner), keys, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ch2.Check(sign(fresh(OpReboot), owner), keys, now); !errors.Is(err, ErrReplayFull) {
		t.Fatalf("full cache: %v", err)
	}
	if _, _, err := ch2.Check(sign(New(dev, OpReboot, now.Add(30*time.Minute), time.Minute), owner), keys, now.Add(30*time.Minute)); err != nil {
		t.Fatalf("after expiry the cache has room: %v", err)
	}
}

func TestSignRefusesBadCommands(t *testing.T) {
	k := newKey(t)
	for _, c := range []Command{
		{DeviceID: dev, Nonce: []byte("short"), Issued: now, Expires: now.Add(time.Minute), Op: OpReboot},
		{DeviceID: dev, Nonce: make([]byte, 16), Issued: now, Expires: now, Op: OpReboot},
		{DeviceID: dev, Nonce: make([]byte, 16), Issued: now, Expires: now.Add(48 * time.Hour), Op: OpReboot},
		{DeviceID: dev, Nonce: make([]byte, 16), Issued: now, Expires: now.Add(time.Minute), Op: "dance"},
		{DeviceID: dev, Nonce: make([]byte, 16), Issued: now, Expires: now.Add(time.Minute), Op: OpConfigPatch},
		{DeviceID: dev, Nonce: make([]byte, 16), Issued: now, Expires: now.Add(time.Minute), Op: OpReboot, Patch: "x=1"},
		{DeviceID: dev, Nonce: make([]byte, 16), Issued: now, Expires: now.Add(time.Minute), Op: OpFormatSDConfirm},
		{DeviceID: "nope", Nonce: make([]byte, 16), Issued: now, Expires: now.Add(time.Minute), Op: OpReboot},
	} {
		if _, err := Sign(c, k); !errors.Is(err, ErrMalformed) {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// FuzzParse fuzzes the command decoder: COSE envelope and CBOR payload.
func FuzzParse(f *testing.F) {
	k := newKey(f)
	for _, c := range table() {
		b, err := Sign(c, k)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		w := toWire(c)
		if err := w.check(); err != nil {
			t.Fatalf("accepted a command it cannot sign: %v", err)
		}
	})
}

// FuzzDecodePayload fuzzes the CBOR payload decoder without a signature in
// the way.
func FuzzDecodePayload(f *testing.F) {
	for _, c := range table() {
		w := toWire(c)
		p, err := envelope.EncodeCanonical(&w)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var w wire
		if err := envelope.DecodeStrict(p, &w, envelope.Limits{MaxNested: 4, MaxPairs: 16}); err != nil {
			return
		}
		if w.check() != nil {
			return
		}
		w2 := toWire(fromWire(&w))
		again, _ := envelope.EncodeCanonical(&w2)
		if string(again) != string(p) {
			t.Fatal("accepted a payload that does not re-encode to itself")
		}
	})
}
