package live_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/live"
	"github.com/camagent/camagent/uplink/live/livetest"
)

const seedSDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD:EF\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"

func seeds(t testing.TB) (offers, answers [][]byte) {
	owner, dev := newKey(t), newKey(t)
	id := deviceID(t, dev)
	now := time.Unix(1.7e9, 0)
	o, err := live.SealOffer(live.Offer{DeviceID: id, Nonce: bytes.Repeat([]byte{7}, 16), Issued: now,
		Expires: now.Add(time.Minute), SDP: seedSDP}, owner)
	if err != nil {
		t.Fatal(err)
	}
	a, err := live.SealAnswer(live.Answer{DeviceID: id, Session: "s1", Nonce: bytes.Repeat([]byte{7}, 16),
		Media: live.MediaJPEG, SDP: seedSDP, Fingerprint: "sha-256 AB:CD:EF"}, dev)
	if err != nil {
		t.Fatal(err)
	}
	r, err := live.SealAnswer(live.Answer{DeviceID: id, Nonce: bytes.Repeat([]byte{7}, 16), Refused: "busy"}, dev)
	if err != nil {
		t.Fatal(err)
	}
	return [][]byte{o, o[:len(o)-1], append(bytes.Clone(o), 0)}, [][]byte{a, r, a[:20]}
}

func FuzzParseOffer(f *testing.F) {
	offers, answers := seeds(f)
	for _, s := range append(offers, answers...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, _, err := live.ParseOffer(b)
		if err != nil {
			if !errors.Is(err, live.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(o.Nonce) < live.MinNonce || len(o.SDP) > live.MaxSDP || !o.Expires.After(o.Issued) {
			t.Fatalf("accepted an offer over its limits: %+v", o)
		}
	})
}

func FuzzParseAnswer(f *testing.F) {
	offers, answers := seeds(f)
	for _, s := range append(answers, offers...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, _, err := live.ParseAnswer(b)
		if err != nil {
			if !errors.Is(err, live.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if a.Refused == "" {
			fp, err := live.SDPFingerprint(a.SDP)
			if err != nil || fp != a.Fingerprint {
				t.Fatalf("accepted an answer whose fingerprint is not its SDP's: %+v", a)
			}
		}
	})
}

func FuzzSplitAccessUnits(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 0x88, 0, 0, 1, 0x41, 0x9a})
	f.Add([]byte{0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		for _, u := range livetest.SplitAccessUnits(b) {
			if len(u) == 0 {
				t.Fatal("empty access unit")
			}
			total += len(u)
		}
		if total > len(b) {
			t.Fatalf("units hold %d bytes of %d", total, len(b))
		}
	})
}

func TestSDPFingerprint(t *testing.T) {
	for _, tc := range []struct {
		sdp, want string
		ok        bool
	}{
		{"a=fingerprint:sha-256 ab:cd\r\n", "sha-256 AB:CD", true},
		{"a=fingerprint:SHA-256 AB:CD\na=fingerprint:sha-256 ab:cd\n", "sha-256 AB:CD", true},
		{"a=fingerprint:sha-256 AB:CD\r\na=fingerprint:sha-256 AB:CE\r\n", "", false},
		{"v=0\r\n", "", false},
	} {
		got, err := live.SDPFingerprint(tc.sdp)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%q: %q, %v", tc.sdp, got, err)
		}
	}
}

func TestVerifyAnswer(t *testing.T) {
	dev, other := newKey(t), newKey(t)
	id := deviceID(t, dev)
	n := bytes.Repeat([]byte{1}, 16)
	good := live.Answer{DeviceID: id, Session: "s", Nonce: n, Media: live.MediaH264, SDP: seedSDP, Fingerprint: "sha-256 AB:CD:EF"}
	seal := func(a live.Answer, k any) []byte {
		b, err := live.SealAnswer(a, dev)
		if k != nil {
			b, err = live.SealAnswer(a, other)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := live.VerifyAnswer(seal(good, nil), &dev.PublicKey, id, n); err != nil {
		t.Fatalf("good answer: %v", err)
	}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"signed by another device": {seal(good, other), live.ErrSignature},
		"for another offer":        {seal(func() live.Answer { a := good; a.Nonce = bytes.Repeat([]byte{2}, 16); return a }(), nil), live.ErrNonceMismatch},
	} {
		if _, err := live.VerifyAnswer(tc.b, &dev.PublicKey, id, n); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if _, err := live.VerifyAnswer(seal(good, nil), &other.PublicKey, id, n); err == nil {
		t.Error("verified with a pinned key that is not the device's")
	}
	bad := good
	bad.Fingerprint = "sha-256 00"
	if _, err := live.SealAnswer(bad, dev); err == nil {
		t.Error("sealed an answer whose fingerprint is not its SDP's")
	}
}
