package event

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var when = time.Date(2026, 12, 4, 5, 40, 1, 0, time.UTC)

// table is every kind with its fields; the fuzzer is seeded from it.
func table() []Event {
	return []Event{
		{Kind: KindMotionStart, Time: when, ScorePPM: 123000, Boxes: []Box{{X: 1, Y: 2, W: 30, H: 40}}, MotionID: 7},
		{Kind: KindMotionEnd, Time: when, ScorePPM: 1, MotionID: 7},
		{Kind: KindClipSealed, Time: when, Clip: "2026/12/04/054001-e7.mp4", ManifestSeq: 12, Bytes: 1 << 20, Duration: 9500 * time.Millisecond},
		{Kind: KindClipUploaded, Time: when, Clip: "a.mp4", ManifestSeq: 12, Bytes: 5},
		{Kind: KindRetention, Time: when, Deleted: 3, Freed: 30 << 20},
		{Kind: KindSD, Time: when, State: "missing"},
		{Kind: KindCaptureFault, Time: when, Reason: "VIDIOC_DQBUF: no such device"},
		{Kind: KindDayNight, Time: when, State: "night"},
		{Kind: KindState, Time: when, Uptime: time.Hour, SDFree: 1 << 30, SDTotal: 8 << 30, FPS: 24.5, Backlog: 2, Dropped: 1},
		{Kind: KindOnline, Time: when},
		{Kind: KindOffline, Time: when, Reason: "connection lost"},
		{Kind: KindCommandResult, Time: when, State: ResultConfirm, Nonce: []byte("0123456789abcdef"), Op: "format-sd", Challenge: []byte("c")},
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key := newKey(t)
	id, _ := identity.DeviceID(key.Public())
	for i, e := range table() {
		b, err := Sign(Header{Owner: "alice", Seq: uint64(i + 1), BootID: "boot", ClockTrusted: true}, e, key)
		if err != nil {
			t.Fatalf("%s: %v", e.Kind, err)
		}
		m, err := Verify(b, key.Public())
		if err != nil {
			t.Fatalf("%s: %v", e.Kind, err)
		}
		if m.DeviceID != id || m.Seq != uint64(i+1) || m.Kind != e.Kind || !m.Time.Equal(e.Time) || m.Owner != "alice" {
			t.Fatalf("%s: round trip %+v", e.Kind, m)
		}
		if Render(m) == "" || !strings.Contains(Render(m), string(e.Kind)) {
			t.Fatalf("render %q", Render(m))
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	key, other := newKey(t), newKey(t)
	e := table()[0]
	b, err := Sign(Header{Seq: 1, BootID: "boot"}, e, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(b, other.Public()); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("other key: %v", err)
	}
	flip := append([]byte(nil), b...)
	flip[len(flip)-1] ^= 1
	if _, err := Verify(flip, key.Public()); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("flipped signature: %v", err)
	}
	for _, bad := range []struct {
		name string
		h    Header
		e    Event
	}{
		{"seq 0", Header{BootID: "b"}, e},
		{"no boot", Header{Seq: 1}, e},
		{"no time", Header{Seq: 1, BootID: "b"}, Event{Kind: KindOnline}},
		{"kind", Header{Seq: 1, BootID: "b"}, Event{Kind: "party", Time: when}},
		{"score", Header{Seq: 1, BootID: "b"}, Event{Kind: KindMotionStart, Time: when, ScorePPM: 2_000_000}},
		{"boxes", Header{Seq: 1, BootID: "b"}, Event{Kind: KindMotionStart, Time: when, Boxes: make([]Box, MaxBoxes+1)}},
		{"clip", Header{Seq: 1, BootID: "b"}, Event{Kind: KindClipSealed, Time: when, Clip: "a\nb"}},
		{"other device", Header{DeviceID: "cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Seq: 1, BootID: "b"}, e},
	} {
		if _, err := Sign(bad.h, bad.e, key); err == nil {
			t.Errorf("%s: signed", bad.name)
		}
	}
	// Right envelope, wrong content type (a manifest-typed envelope).
	w, _ := toWire(Header{DeviceID: mustID(t, key), Seq: 1, BootID: "b"}, e)
	p, _ := envelope.EncodeCanonical(&w)
	id := mustID(t, key)
	other2, _ := envelope.Seal(key, "application/vnd.camagent.manifest.v1+cbor", []byte(id), p)
	if _, err := Verify(other2, key.Public()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("wrong content type: %v", err)
	}
	// kid that disagrees with the payload.
	kidb, _ := envelope.Seal(key, ContentType, []byte("cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), p)
	if _, err := Parse(kidb); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("kid mismatch: %v", err)
	}
}

func mustID(t testing.TB, k *ecdsa.PrivateKey) string {
	id, err := identity.DeviceID(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// FuzzParse: the CBOR payload decoder (and the envelope under it) never
// panics, and whatever it accepts re-signs to the same payload.
func FuzzParse(f *testing.F) {
	key := newKey(f)
	for i, e := range table() {
		b, err := Sign(Header{Seq: uint64(i + 1), BootID: "boot"}, e, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if _, err := toWire(m.Header, m.Event); err != nil {
			t.Fatalf("accepted a message it cannot write back: %v", err)
		}
		_ = Render(m)
	})
}

// FuzzDecodePayload fuzzes the CBOR payload decoder directly (no signature
// in the way): it never panics and accepts only what encodes to itself.
func FuzzDecodePayload(f *testing.F) {
	for i, e := range table() {
		w, err := toWire(Header{DeviceID: "cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", Seq: uint64(i + 1), BootID: "b"}, e)
		if err != nil {
			f.Fatal(err)
		}
		p, err := envelope.EncodeCanonical(&w)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var w wire
		if err := envelope.DecodeStrict(p, &w, envelope.Limits{MaxNested: 4, MaxArray: MaxBoxes, MaxPairs: 24}); err != nil {
			return
		}
		m, err := fromWire(&w)
		if err != nil {
			return
		}
		w2, err := toWire(m.Header, m.Event)
		if err != nil {
			t.Fatalf("decoded a payload it cannot encode: %v", err)
		}
		again, _ := envelope.EncodeCanonical(&w2)
		if string(again) != string(p) {
			t.Fatalf("accepted a payload that does not re-encode to itself")
		}
	})
}
