package control

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/identity"
)

// UnlockContentType is the protected content type of an unlock response, so
// that no other signature made with the same keys can pass for one.
const UnlockContentType = "application/vnd.camagent.shell-unlock.v1"

// challengePrefix starts every challenge; it names the purpose and version.
const challengePrefix = "camagent-unlock-v1"

// Limits and defaults of the unlock protocol.
const (
	// MaxChallenge and MaxResponse bound what ParseChallenge and Unlock
	// accept, in bytes.
	MaxChallenge = 128
	MaxResponse  = 1024
	// NonceBytes is the size of a challenge's nonce.
	NonceBytes = 16
	// DefaultChallengeTTL is how long a challenge can be answered.
	DefaultChallengeTTL = 10 * time.Minute
	// DefaultSessionTTL is how long an unlock lasts.
	DefaultSessionTTL = 15 * time.Minute
	// maxPending and maxSessions bound the agent's unlock state.
	maxPending  = 8
	maxSessions = 4
)

// Errors of the unlock protocol; test them with errors.Is. Each says why a
// privileged command or an unlock was refused.
var (
	// ErrLocked: no session, or one the agent does not know (it was locked,
	// or the agent restarted).
	ErrLocked = errors.New("locked")
	// ErrSessionExpired: the session's time is up.
	ErrSessionExpired = errors.New("unlock expired")
	// ErrBadChallenge: the text is not a challenge of this protocol.
	ErrBadChallenge = errors.New("not an unlock challenge")
	// ErrBadResponse: the text is not a signed unlock response.
	ErrBadResponse = errors.New("not an unlock response")
	// ErrWrongDevice: the response is for another device.
	ErrWrongDevice = errors.New("response is for another device")
	// ErrUnknownChallenge: the response answers a challenge the agent did not
	// issue, already used, or has forgotten (superseded or agent restart).
	ErrUnknownChallenge = errors.New("unknown or already used challenge")
	// ErrChallengeExpired: the response came after the challenge expired.
	ErrChallengeExpired = errors.New("challenge expired")
	// ErrUntrusted: the signature does not verify with any trusted key.
	ErrUntrusted = errors.New("response not signed by the vendor or owner key")
	// ErrNoTrustedKeys: the device has neither a vendor key nor a verified
	// owner binding, so nothing can unlock it.
	ErrNoTrustedKeys = errors.New("no key can unlock this device")
)

// b64 is base64url without padding, refusing set padding bits so that every
// nonce and response has one text form.
var b64 = base64.RawURLEncoding.Strict()

// Challenge is what the agent asks a technician to sign.
type Challenge struct {
	DeviceID string
	Nonce    [NonceBytes]byte
	// Expires is the expiry by the agent's clock (whole seconds).
	Expires time.Time
}

// String returns the challenge's one-word text form:
// camagent-unlock-v1.<device id>.<nonce, base64url>.<expiry, Unix seconds>.
func (c Challenge) String() string {
	return challengePrefix + "." + c.DeviceID + "." + b64.EncodeToString(c.Nonce[:]) + "." +
		strconv.FormatInt(c.Expires.Unix(), 10)
}

// ParseChallenge reads a challenge's text form.
func ParseChallenge(s string) (Challenge, error) {
	if len(s) > MaxChallenge {
		return Challenge{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadChallenge, len(s), MaxChallenge)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 4 || parts[0] != challengePrefix {
		return Challenge{}, fmt.Errorf("%w: want %s.<device id>.<nonce>.<expiry>", ErrBadChallenge, challengePrefix)
	}
	var c Challenge
	if err := identity.ValidDeviceID(parts[1]); err != nil {
		return Challenge{}, fmt.Errorf("%w: %w", ErrBadChallenge, err)
	}
	c.DeviceID = parts[1]
	nonce, err := b64.DecodeString(parts[2])
	if err != nil || len(nonce) != NonceBytes {
		return Challenge{}, fmt.Errorf("%w: the nonce is not %d bytes of base64url", ErrBadChallenge, NonceBytes)
	}
	copy(c.Nonce[:], nonce)
	secs, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || secs < 0 || secs > 1<<40 || strconv.FormatInt(secs, 10) != parts[3] {
		return Challenge{}, fmt.Errorf("%w: the expiry is not Unix seconds", ErrBadChallenge)
	}
	c.Expires = time.Unix(secs, 0).UTC()
	return c, nil
}

// SignChallenge signs a challenge's text with signer (an ECDSA P-256 key: the
// vendor's service key or the owner's key) and returns the response to paste
// into `unlock`: a COSE_Sign1 of content type UnlockContentType over the
// challenge text, in base64url. It refuses text that is not a challenge.
func SignChallenge(signer crypto.Signer, challenge string) (string, error) {
	if _, err := ParseChallenge(challenge); err != nil {
		return "", fmt.Errorf("shell: sign challenge: %w", err)
	}
	cose, err := envelope.Seal(signer, UnlockContentType, nil, []byte(challenge))
	if err != nil {
		return "", fmt.Errorf("shell: sign challenge: %w", err)
	}
	return b64.EncodeToString(cose), nil
}

// openResponse decodes a response (without checking its signature) and
// returns the challenge it answers.
func openResponse(resp string) (*envelope.Message, Challenge, string, error) {
	if len(resp) > MaxResponse {
		return nil, Challenge{}, "", fmt.Errorf("%w: %d bytes (at most %d)", ErrBadResponse, len(resp), MaxResponse)
	}
	raw, err := b64.DecodeString(resp)
	if err != nil {
		return nil, Challenge{}, "", fmt.Errorf("%w: not base64url (paste the whole line sign-challenge printed)", ErrBadResponse)
	}
	msg, err := envelope.Parse(raw, UnlockContentType)
	if err != nil {
		return nil, Challenge{}, "", fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	text := string(msg.Payload)
	c, err := ParseChallenge(text)
	if err != nil {
		return nil, Challenge{}, "", fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return msg, c, text, nil
}

// TrustedKey is a public key whose signature unlocks the shell.
type TrustedKey struct {
	// Name says whose key it is, for the log and the technician ("vendor
	// key sha256:...", "owner account ...").
	Name string
	Key  crypto.PublicKey
}

// UnlockConfig configures an Unlocker. DeviceID and TrustedKeys are required.
type UnlockConfig struct {
	// DeviceID returns the device's ID.
	DeviceID func() (string, error)
	// TrustedKeys returns the keys whose signature unlocks, looked up at each
	// unlock (so a key installed or a binding changed counts at once). An
	// error is reported with the refusal when no key is left.
	TrustedKeys func() ([]TrustedKey, error)
	// Now is the clock (default time.Now); Rand the randomness for nonces
	// and session tokens (default crypto/rand).
	Now  func() time.Time
	Rand io.Reader
	// ChallengeTTL and SessionTTL default to DefaultChallengeTTL and
	// DefaultSessionTTL.
	ChallengeTTL, SessionTTL time.Duration
}

// Unlocker is the agent's side of unlocking: the challenges it issued and
// the sessions it granted. Its state is in memory only and bounded: a new
// challenge or session pushes out the one that expires first (expired ones
// are kept until then, so that a late answer is told it came too late). Safe for concurrent
// use.
type Unlocker struct {
	cfg      UnlockConfig
	mu       sync.Mutex
	pending  map[[NonceBytes]byte]pendingChallenge
	sessions map[[sha256.Size]byte]Session // by the token's hash
}

type pendingChallenge struct {
	text    string
	expires time.Time
}

// Session is a granted unlock.
type Session struct {
	// Token is the secret the shell sends with privileged requests.
	Token   string
	Expires time.Time
	By      string
}

// NewUnlocker returns an Unlocker for cfg.
func NewUnlocker(cfg UnlockConfig) *Unlocker {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.ChallengeTTL <= 0 {
		cfg.ChallengeTTL = DefaultChallengeTTL
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	return &Unlocker{cfg: cfg, pending: make(map[[NonceBytes]byte]pendingChallenge),
		sessions: make(map[[sha256.Size]byte]Session)}
}

// SessionTTL is how long an unlock lasts.
func (u *Unlocker) SessionTTL() time.Duration { return u.cfg.SessionTTL }

// ChallengeTTL is how long a challenge can be answered.
func (u *Unlocker) ChallengeTTL() time.Duration { return u.cfg.ChallengeTTL }

// Challenge issues a fresh challenge.
func (u *Unlocker) Challenge() (Challenge, error) {
	id, err := u.cfg.DeviceID()
	if err != nil {
		return Challenge{}, fmt.Errorf("shell: challenge: device id: %w", err)
	}
	c := Challenge{DeviceID: id}
	if _, err := io.ReadFull(u.cfg.Rand, c.Nonce[:]); err != nil {
		return Challenge{}, fmt.Errorf("shell: challenge: nonce: %w", err)
	}
	now := u.cfg.Now()
	// Whole seconds, rounded up, so that the text states the real expiry.
	c.Expires = now.Add(u.cfg.ChallengeTTL + time.Second - 1).Truncate(time.Second).UTC()
	if _, err := ParseChallenge(c.String()); err != nil {
		return Challenge{}, fmt.Errorf("shell: challenge: %w", err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.pending) >= maxPending {
		var oldest [NonceBytes]byte
		first := true
		for n, p := range u.pending {
			if first || p.expires.Before(u.pending[oldest].expires) {
				oldest, first = n, false
			}
		}
		delete(u.pending, oldest)
	}
	u.pending[c.Nonce] = pendingChallenge{text: c.String(), expires: c.Expires}
	return c, nil
}

// Unlock checks a response and grants a session. A challenge can be
// answered once: any response that names a pending challenge uses it up,
// even when its signature is refused.
func (u *Unlocker) Unlock(resp string) (Session, error) {
	msg, c, text, err := openResponse(resp)
	if err != nil {
		return Session{}, err
	}
	id, err := u.cfg.DeviceID()
	if err != nil {
		return Session{}, fmt.Errorf("shell: unlock: device id: %w", err)
	}
	if c.DeviceID != id {
		return Session{}, fmt.Errorf("%w: it names %s, this is %s", ErrWrongDevice, c.DeviceID, id)
	}
	now := u.cfg.Now()
	u.mu.Lock()
	p, ok := u.pending[c.Nonce]
	delete(u.pending, c.Nonce)
	u.mu.Unlock()
	if !ok || p.text != text {
		return Session{}, fmt.Errorf("%w: run unlock again for a new challenge", ErrUnknownChallenge)
	}
	if !now.Before(p.expires) {
		return Session{}, fmt.Errorf("%w at %s (agent clock %s): run unlock again for a new one",
			ErrChallengeExpired, p.expires.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	keys, kerr := u.cfg.TrustedKeys()
	if len(keys) == 0 {
		if kerr != nil {
			return Session{}, fmt.Errorf("%w: %w", ErrNoTrustedKeys, kerr)
		}
		return Session{}, ErrNoTrustedKeys
	}
	by := ""
	for _, k := range keys {
		if msg.Verify(k.Key) == nil {
			by = k.Name
			break
		}
	}
	if by == "" {
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.Name
		}
		return Session{}, fmt.Errorf("%w (tried %s)", ErrUntrusted, strings.Join(names, ", "))
	}
	var tok [32]byte
	if _, err := io.ReadFull(u.cfg.Rand, tok[:]); err != nil {
		return Session{}, fmt.Errorf("shell: unlock: token: %w", err)
	}
	s := Session{Token: b64.EncodeToString(tok[:]), Expires: now.Add(u.cfg.SessionTTL), By: by}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.sessions) >= maxSessions {
		var oldest [sha256.Size]byte
		first := true
		for h, x := range u.sessions {
			if first || x.Expires.Before(u.sessions[oldest].Expires) {
				oldest, first = h, false
			}
		}
		delete(u.sessions, oldest)
	}
	u.sessions[sha256.Sum256([]byte(s.Token))] = s
	return s, nil
}

// Check returns the session of token, or why it does not unlock: ErrLocked
// or ErrSessionExpired.
func (u *Unlocker) Check(token string) (Session, error) {
	if token == "" {
		return Session{}, fmt.Errorf("%w: this command needs an unlocked shell; run unlock", ErrLocked)
	}
	h := sha256.Sum256([]byte(token))
	now := u.cfg.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	s, ok := u.sessions[h]
	if !ok {
		return Session{}, fmt.Errorf("%w: the agent does not know this session (locked, or the agent restarted); run unlock", ErrLocked)
	}
	if !now.Before(s.Expires) {
		delete(u.sessions, h)
		return Session{}, fmt.Errorf("%w at %s; run unlock again", ErrSessionExpired, s.Expires.UTC().Format(time.RFC3339))
	}
	return s, nil
}

// Lock ends the session of token; it reports whether there was one.
func (u *Unlocker) Lock(token string) bool {
	h := sha256.Sum256([]byte(token))
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.sessions[h]
	delete(u.sessions, h)
	return ok
}
