package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/ingest"
)

// File names in the data directory besides the CA's.
const (
	registryFile   = "registry.json"
	pairingKeyFile = "pairing.key"
	pairingPubFile = "pairing.pub"
	serverKeyFile  = "server.key"
	serverCertFile = "server.crt"
	enrollFile     = "enroll.token"
	accountsDir    = "accounts" // owner keys, <account>.key
	ingestDir      = "ingest"   // the ingest's store, staging and quarantine
	maxRegistry    = 16 << 20
	maxTokens      = 8 // viewer tokens kept per account
	maxAccountLen  = 64
)

// regData is registry.json.
type regData struct {
	Accounts map[string]*account `json:"accounts"`
	Devices  map[string]*devRec  `json:"devices"`
}

type account struct {
	// Tokens are the SHA-256 (hex) of the viewer tokens; the tokens
	// themselves are printed once and never stored.
	Tokens   []string `json:"tokens"`
	OwnerKey string   `json:"owner_key"` // PEM public key; the private key is in accounts/
	// BrowserKey is the owner key a browser registered (PEM public key; the
	// private key never leaves the browser); bindings issued after the
	// registration name it.
	BrowserKey string    `json:"browser_key,omitempty"`
	Created    time.Time `json:"created"`
}

type devRec struct {
	PublicKey string    `json:"public_key"` // PEM, pinned at enrollment
	Account   string    `json:"account,omitempty"`
	Enrolled  time.Time `json:"enrolled,omitzero"`
	Paired    time.Time `json:"paired,omitzero"`
}

// registry is registry.json: owner accounts, their viewer tokens, and the
// devices with their pinned keys and pairings. It implements the ingest's
// Owners and Accounts by reading the file again whenever it changed, so
// `camcloud pair` takes effect in a running server. Safe for concurrent use
// within a process; update takes an exclusive lock on the file across
// processes.
type registry struct {
	path string

	mu      sync.Mutex
	data    regData
	modTime time.Time
	size    int64
}

func openRegistry(dir string) *registry {
	return &registry{path: filepath.Join(dir, registryFile)}
}

// refresh reloads the file when it changed. r.mu is held.
func (r *registry) refresh() error {
	info, err := os.Stat(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		r.data = regData{Accounts: map[string]*account{}, Devices: map[string]*devRec{}}
		r.modTime, r.size = time.Time{}, -1
		return nil
	}
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if r.size == info.Size() && r.modTime.Equal(info.ModTime()) && r.data.Accounts != nil {
		return nil
	}
	b, err := atomicfile.ReadFileMax(r.path, maxRegistry)
	if err != nil {
		return err
	}
	var d regData
	if err := json.Unmarshal(b, &d); err != nil {
		return fmt.Errorf("registry %s: %w", r.path, err)
	}
	if d.Accounts == nil {
		d.Accounts = map[string]*account{}
	}
	if d.Devices == nil {
		d.Devices = map[string]*devRec{}
	}
	r.data, r.modTime, r.size = d, info.ModTime(), info.Size()
	return nil
}

// Owner implements ingest.Owners.
func (r *registry) Owner(_ context.Context, device string) (ingest.Pairing, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refresh(); err != nil {
		return ingest.Pairing{}, err
	}
	d := r.data.Devices[device]
	if d == nil || d.Account == "" {
		return ingest.Pairing{}, fmt.Errorf("camcloud: %s: %w", device, ingest.ErrNotPaired)
	}
	return ingest.Pairing{Device: device, Account: d.Account}, nil
}

// Account implements ingest.Accounts.
func (r *registry) Account(token string) (string, bool) {
	sum := sha256.Sum256([]byte(token))
	h := hex.EncodeToString(sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refresh() != nil {
		return "", false
	}
	for name, a := range r.data.Accounts {
		for _, t := range a.Tokens {
			if subtle.ConstantTimeCompare([]byte(t), []byte(h)) == 1 {
				return name, true
			}
		}
	}
	return "", false
}

// view returns a copy of the registry's data.
func (r *registry) view() (regData, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refresh(); err != nil {
		return regData{}, err
	}
	b, _ := json.Marshal(r.data)
	var d regData
	_ = json.Unmarshal(b, &d)
	return d, nil
}

// update changes the registry under an exclusive file lock and writes it
// back atomically.
func (r *registry) update(change func(*regData) error) error {
	unlock, err := lockFile(r.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.size = -1 // read it again under the lock
	if err := r.refresh(); err != nil {
		return err
	}
	if err := change(&r.data); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r.data, "", "  ")
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	if err := atomicfile.WriteFile(r.path, append(b, '\n'), 0o600); err != nil {
		return err
	}
	r.size = -1
	return nil
}

// enrolled records a device and its key (from its CSR).
func (r *registry) enrolled(id string, pub crypto.PublicKey, now time.Time) error {
	pemKey, err := identity.PublicKeyPEM(pub)
	if err != nil {
		return err
	}
	return r.update(func(d *regData) error {
		rec := d.Devices[id]
		if rec == nil {
			rec = &devRec{}
			d.Devices[id] = rec
		}
		rec.PublicKey, rec.Enrolled = string(pemKey), now
		return nil
	})
}

// validAccount checks an account name: 1..64 of [a-zA-Z0-9._-].
func validAccount(a string) error {
	if a == "" || len(a) > maxAccountLen {
		return fmt.Errorf("account name must be 1..%d characters", maxAccountLen)
	}
	for _, c := range a {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("account name %q: only letters, digits, '.', '_' and '-'", a)
		}
	}
	if a[0] == '.' {
		return fmt.Errorf("account name %q starts with a dot", a)
	}
	return nil
}

// ensureAccount creates the account (with an owner key pair in
// accounts/<name>.key) when it does not exist. It returns the account's
// owner public key and, for a new account, its first viewer token.
func (r *registry) ensureAccount(dir, name string, now time.Time) (ownerPub crypto.PublicKey, token string, err error) {
	if err := validAccount(name); err != nil {
		return nil, "", err
	}
	err = r.update(func(d *regData) error {
		if a := d.Accounts[name]; a != nil {
			pub, err := identity.ParsePublicKeyPEM([]byte(a.OwnerKey))
			ownerPub = pub
			return err
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, accountsDir), 0o700); err != nil {
			return err
		}
		kp := filepath.Join(dir, accountsDir, name+".key")
		if err := atomicfile.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return err
		}
		pubPEM, err := identity.PublicKeyPEM(key.Public())
		if err != nil {
			return err
		}
		token = newToken()
		d.Accounts[name] = &account{Tokens: []string{hashToken(token)}, OwnerKey: string(pubPEM), Created: now}
		ownerPub = key.Public()
		return nil
	})
	return ownerPub, token, err
}

// newViewerToken adds a viewer token to an existing account (keeping the
// newest maxTokens) and returns it.
func (r *registry) newViewerToken(name string) (string, error) {
	tok := newToken()
	err := r.update(func(d *regData) error {
		a := d.Accounts[name]
		if a == nil {
			return fmt.Errorf("no account %q (pair a device to it first)", name)
		}
		a.Tokens = append(a.Tokens, hashToken(tok))
		if len(a.Tokens) > maxTokens {
			a.Tokens = a.Tokens[len(a.Tokens)-maxTokens:]
		}
		return nil
	})
	return tok, err
}

// viewersDir holds the viewer token the command line uses per account,
// <account>.token (0600): list and get reuse it rather than add a token to
// the account at every run.
const viewersDir = "viewers"

// cliViewerToken returns the command line's viewer token of account: the
// one kept in dir/viewers while the registry still accepts it for the
// account, else a new one, kept there.
func (r *registry) cliViewerToken(dir, name string) (string, error) {
	if err := validAccount(name); err != nil {
		return "", err
	}
	path := filepath.Join(dir, viewersDir, name+".token")
	if b, err := atomicfile.ReadFileMax(path, 1<<10); err == nil {
		tok := strings.TrimSpace(string(b))
		if a, ok := r.Account(tok); ok && a == name {
			return tok, nil
		}
	}
	tok, err := r.newViewerToken(name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	return tok, nil
}

// pair pairs device to account.
func (r *registry) pair(device, account string, pub crypto.PublicKey, now time.Time) error {
	var pemKey []byte
	if pub != nil {
		var err error
		if pemKey, err = identity.PublicKeyPEM(pub); err != nil {
			return err
		}
	}
	return r.update(func(d *regData) error {
		rec := d.Devices[device]
		switch {
		case rec == nil && pemKey == nil:
			return fmt.Errorf("device %s is not enrolled here; give its public key with -pubkey", device)
		case rec == nil:
			rec = &devRec{}
			d.Devices[device] = rec
		}
		if pemKey != nil {
			rec.PublicKey = string(pemKey)
		}
		rec.Account, rec.Paired = account, now
		return nil
	})
}

// devicesOf returns the devices paired to account and their pinned keys.
func (d regData) devicesOf(account string) (ids []string, keys map[string]crypto.PublicKey) {
	keys = map[string]crypto.PublicKey{}
	for id, rec := range d.Devices {
		if rec.Account != account {
			continue
		}
		pub, err := identity.ParsePublicKeyPEM([]byte(rec.PublicKey))
		if err != nil {
			continue
		}
		ids = append(ids, id)
		keys[id] = pub
	}
	sort.Strings(ids)
	return ids, keys
}

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}
