package control

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func deviceIDOf(t testing.TB, k *ecdsa.PrivateKey) string {
	t.Helper()
	id, err := identity.DeviceID(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type unlockFixture struct {
	u              *Unlocker
	clock          *clock
	device         string
	vendor, owner  *ecdsa.PrivateKey
	stranger       *ecdsa.PrivateKey
	otherDeviceKey *ecdsa.PrivateKey
}

func newUnlockFixture(t testing.TB) *unlockFixture {
	fx := &unlockFixture{clock: newClock(), vendor: newKey(t), owner: newKey(t), stranger: newKey(t), otherDeviceKey: newKey(t)}
	fx.device = deviceIDOf(t, newKey(t))
	fx.u = NewUnlocker(UnlockConfig{
		DeviceID: func() (string, error) { return fx.device, nil },
		TrustedKeys: func() ([]TrustedKey, error) {
			return []TrustedKey{{Name: "vendor key", Key: fx.vendor.Public()}, {Name: "owner account alice", Key: fx.owner.Public()}}, nil
		},
		Now: fx.clock.Now,
	})
	return fx
}

func (fx *unlockFixture) challenge(t testing.TB) Challenge {
	t.Helper()
	c, err := fx.u.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sign(t testing.TB, k *ecdsa.PrivateKey, challenge string) string {
	t.Helper()
	r, err := SignChallenge(k, challenge)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestUnlock(t *testing.T) {
	for _, tc := range []struct {
		name string
		// respond returns the response to give Unlock for the fixture's
		// fresh challenge c.
		respond func(t *testing.T, fx *unlockFixture, c Challenge) string
		by      string
		err     error
	}{
		{"vendor key", func(t *testing.T, fx *unlockFixture, c Challenge) string { return sign(t, fx.vendor, c.String()) }, "vendor key", nil},
		{"owner key", func(t *testing.T, fx *unlockFixture, c Challenge) string { return sign(t, fx.owner, c.String()) }, "owner account alice", nil},
		{"wrong key", func(t *testing.T, fx *unlockFixture, c Challenge) string { return sign(t, fx.stranger, c.String()) }, "", ErrUntrusted},
		{"expired", func(t *testing.T, fx *unlockFixture, c Challenge) string {
			r := sign(t, fx.vendor, c.String())
			fx.clock.Advance(DefaultChallengeTTL + time.Second)
			return r
		}, "", ErrChallengeExpired},
		{"just before expiry", func(t *testing.T, fx *unlockFixture, c Challenge) string {
			fx.clock.Advance(DefaultChallengeTTL - time.Second)
			return sign(t, fx.vendor, c.String())
		}, "vendor key", nil},
		{"another device", func(t *testing.T, fx *unlockFixture, c Challenge) string {
			c.DeviceID = deviceIDOf(t, fx.otherDeviceKey)
			return sign(t, fx.vendor, c.String())
		}, "", ErrWrongDevice},
		{"never issued", func(t *testing.T, fx *unlockFixture, c Challenge) string {
			c.Nonce[0] ^= 1
			return sign(t, fx.vendor, c.String())
		}, "", ErrUnknownChallenge},
		{"expiry edited", func(t *testing.T, fx *unlockFixture, c Challenge) string {
			c.Expires = c.Expires.Add(time.Hour)
			return sign(t, fx.vendor, c.String())
		}, "", ErrUnknownChallenge},
		{"not base64", func(*testing.T, *unlockFixture, Challenge) string { return "not a response!" }, "", ErrBadResponse},
		{"empty", func(*testing.T, *unlockFixture, Challenge) string { return "" }, "", ErrBadResponse},
		{"too long", func(*testing.T, *unlockFixture, Challenge) string { return strings.Repeat("A", MaxResponse+1) }, "", ErrBadResponse},
		{"other content type", func(t *testing.T, fx *unlockFixture, c Challenge) string {
			cose, err := envelope.Seal(fx.vendor, identity.BindingContentType, nil, []byte(c.String()))
			if err != nil {
				t.Fatal(err)
			}
			return base64.RawURLEncoding.EncodeToString(cose)
		}, "", ErrBadResponse},
		{"payload not a challenge", func(t *testing.T, fx *unlockFixture, c Challenge) string {
			cose, err := envelope.Seal(fx.vendor, UnlockContentType, nil, []byte("let me in"))
			if err != nil {
				t.Fatal(err)
			}
			return base64.RawURLEncoding.EncodeToString(cose)
		}, "", ErrBadResponse},
		{"signature bit flipped", func(t *testing.T, fx *unlockFixture, c Challenge) string {
			raw, _ := base64.RawURLEncoding.DecodeString(sign(t, fx.vendor, c.String()))
			raw[len(raw)-40] ^= 1
			return base64.RawURLEncoding.EncodeToString(raw)
		}, "", nil /* any refusal */},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newUnlockFixture(t)
			c := fx.challenge(t)
			s, err := fx.u.Unlock(tc.respond(t, fx, c))
			if tc.by == "" {
				if err == nil {
					t.Fatalf("Unlock succeeded (%+v), want a refusal", s)
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("Unlock = %v, want %v", err, tc.err)
				}
				if _, err := fx.u.Check(s.Token); !errors.Is(err, ErrLocked) {
					t.Errorf("Check after a refused unlock = %v, want ErrLocked", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unlock = %v", err)
			}
			if s.By != tc.by || len(s.Token) < 40 || !s.Expires.Equal(fx.clock.Now().Add(DefaultSessionTTL)) {
				t.Errorf("session = %+v", s)
			}
			if got, err := fx.u.Check(s.Token); err != nil || got.By != tc.by {
				t.Errorf("Check = %+v, %v", got, err)
			}
		})
	}
}

func TestUnlockReplay(t *testing.T) {
	fx := newUnlockFixture(t)
	resp := sign(t, fx.vendor, fx.challenge(t).String())
	if _, err := fx.u.Unlock(resp); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.u.Unlock(resp); !errors.Is(err, ErrUnknownChallenge) {
		t.Fatalf("replayed response: %v, want ErrUnknownChallenge", err)
	}
	// A refused answer uses the challenge up too: no second try with it.
	c := fx.challenge(t)
	if _, err := fx.u.Unlock(sign(t, fx.stranger, c.String())); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("stranger: %v", err)
	}
	if _, err := fx.u.Unlock(sign(t, fx.vendor, c.String())); !errors.Is(err, ErrUnknownChallenge) {
		t.Fatalf("after a refused answer: %v, want ErrUnknownChallenge", err)
	}
}

func TestSessionLifetime(t *testing.T) {
	fx := newUnlockFixture(t)
	s, err := fx.u.Unlock(sign(t, fx.owner, fx.challenge(t).String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		token string
		err   error
	}{
		{"", ErrLocked},
		{"forged-token", ErrLocked},
		{s.Token + "x", ErrLocked},
	} {
		if _, err := fx.u.Check(tc.token); !errors.Is(err, tc.err) || !strings.Contains(err.Error(), "unlock") {
			t.Errorf("Check(%q) = %v, want %v saying to unlock", tc.token, err, tc.err)
		}
	}
	fx.clock.Advance(DefaultSessionTTL - time.Nanosecond)
	if _, err := fx.u.Check(s.Token); err != nil {
		t.Fatalf("Check just before the end: %v", err)
	}
	fx.clock.Advance(time.Nanosecond)
	if _, err := fx.u.Check(s.Token); !errors.Is(err, ErrSessionExpired) {
		t.Fatalf("Check at the end: %v, want ErrSessionExpired", err)
	}
	s2, err := fx.u.Unlock(sign(t, fx.owner, fx.challenge(t).String()))
	if err != nil {
		t.Fatal(err)
	}
	if !fx.u.Lock(s2.Token) || fx.u.Lock(s2.Token) {
		t.Error("Lock did not report the session once")
	}
	if _, err := fx.u.Check(s2.Token); !errors.Is(err, ErrLocked) {
		t.Errorf("Check after Lock: %v", err)
	}
}

func TestUnlockBounds(t *testing.T) {
	fx := newUnlockFixture(t)
	first := fx.challenge(t)
	for range maxPending {
		fx.clock.Advance(time.Second)
		fx.challenge(t)
	}
	if _, err := fx.u.Unlock(sign(t, fx.vendor, first.String())); !errors.Is(err, ErrUnknownChallenge) {
		t.Errorf("oldest challenge after %d newer ones: %v, want ErrUnknownChallenge", maxPending, err)
	}
	if len(fx.u.pending) > maxPending {
		t.Errorf("%d challenges kept", len(fx.u.pending))
	}
	var tokens []string
	for range maxSessions + 1 {
		fx.clock.Advance(time.Second)
		s, err := fx.u.Unlock(sign(t, fx.vendor, fx.challenge(t).String()))
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, s.Token)
	}
	if _, err := fx.u.Check(tokens[0]); !errors.Is(err, ErrLocked) {
		t.Errorf("oldest session after %d newer ones: %v", maxSessions, err)
	}
	if _, err := fx.u.Check(tokens[len(tokens)-1]); err != nil {
		t.Errorf("newest session: %v", err)
	}
}

func TestNoTrustedKeys(t *testing.T) {
	fx := newUnlockFixture(t)
	u := NewUnlocker(UnlockConfig{
		DeviceID:    func() (string, error) { return fx.device, nil },
		TrustedKeys: func() ([]TrustedKey, error) { return nil, errors.New("no vendor key at /etc/camagent/vendor.pub") },
		Now:         fx.clock.Now,
	})
	c, err := u.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.Unlock(sign(t, fx.vendor, c.String()))
	if !errors.Is(err, ErrNoTrustedKeys) || !strings.Contains(err.Error(), "vendor.pub") {
		t.Fatalf("Unlock = %v, want ErrNoTrustedKeys naming the missing key", err)
	}
	broken := NewUnlocker(UnlockConfig{DeviceID: func() (string, error) { return "", errors.New("no device key") }})
	if _, err := broken.Challenge(); err == nil || !strings.Contains(err.Error(), "no device key") {
		t.Errorf("Challenge without a device key = %v", err)
	}
}

var challengeCases = []struct {
	text string
	ok   bool
}{
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.1772359200", true},
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.0", true},
	{"camagent-unlock-v2.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.1772359200", false},
	{"camagent-unlock-v1.cam-AAAAaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.1772359200", false},
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAA.1772359200", false},
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA==.1772359200", false},
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.-1", false},
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.01772359200", false},
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.+1772359200", false},
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.99999999999999", false},
	{"camagent-unlock-v1.cam-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.AAAAAAAAAAAAAAAAAAAAAA.1772359200.x", false},
	{"camagent-unlock-v1", false},
	{"", false},
}

func TestParseChallenge(t *testing.T) {
	for _, tc := range challengeCases {
		c, err := ParseChallenge(tc.text)
		if (err == nil) != tc.ok {
			t.Errorf("ParseChallenge(%q) = %v, want ok=%v", tc.text, err, tc.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrBadChallenge) {
			t.Errorf("ParseChallenge(%q) error %v is not ErrBadChallenge", tc.text, err)
		}
		if err == nil && c.String() != tc.text {
			t.Errorf("String() = %q, want %q", c.String(), tc.text)
		}
	}
	if _, err := SignChallenge(newKey(t), "let me in"); !errors.Is(err, ErrBadChallenge) {
		t.Errorf("SignChallenge of a non-challenge = %v", err)
	}
}

func FuzzParseChallenge(f *testing.F) {
	for _, tc := range challengeCases {
		f.Add(tc.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseChallenge(text)
		if err == nil && c.String() != text {
			t.Fatalf("ParseChallenge(%q) accepted a non-canonical text (%q)", text, c.String())
		}
	})
}

// FuzzUnlock feeds arbitrary responses to an Unlocker with one challenge
// pending: only a response signed by a trusted key may unlock.
func FuzzUnlock(f *testing.F) {
	fx := newUnlockFixture(f)
	c := fx.challenge(f)
	f.Add(sign(f, fx.stranger, c.String()))
	f.Add(sign(f, fx.vendor, "camagent-unlock-v1."+fx.device+".AAAAAAAAAAAAAAAAAAAAAA.1"))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, resp string) {
		s, err := fx.u.Unlock(resp)
		if err == nil {
			t.Fatalf("Unlock(%q) granted %+v without a trusted signature", resp, s)
		}
	})
}
