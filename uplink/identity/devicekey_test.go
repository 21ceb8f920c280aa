package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camagent/camagent/board/keystore"
	"github.com/camagent/camagent/uplink/identity"
)

func TestOpenDeviceKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	k, created, err := identity.OpenDeviceKey(path)
	if err != nil || !created {
		t.Fatalf("OpenDeviceKey = %v, created %v", err, created)
	}
	want, err := identity.DeviceID(k.Public())
	if err != nil || k.DeviceID() != want || identity.ValidDeviceID(k.DeviceID()) != nil {
		t.Fatalf("DeviceID %q, want %q (%v)", k.DeviceID(), want, err)
	}
	if k.Path() != path {
		t.Errorf("Path = %q", k.Path())
	}
	k2, created, err := identity.OpenDeviceKey(path)
	if err != nil || created || k2.DeviceID() != k.DeviceID() {
		t.Fatalf("reopen: %v, created %v, id %s (first %s)", err, created, k2.DeviceID(), k.DeviceID())
	}
	// It signs with the file's key.
	digest := sha256.Sum256([]byte("clip"))
	sig, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatalf("Sign: %v (or the signature does not verify)", err)
	}
	// Printing names the device, never the signer's insides.
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "k", k)
	js, _ := json.Marshal(k)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%#v", *k), fmt.Sprintf("%+v", k), logged.String(), string(js)} {
		if !strings.Contains(out, "identity.DeviceKey("+k.DeviceID()+")") || strings.Contains(out, "FileKey") {
			t.Errorf("printed as %s", out)
		}
	}
}

func TestOpenDeviceKeyCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := identity.OpenDeviceKey(path); !errors.Is(err, keystore.ErrCorrupt) {
		t.Fatalf("OpenDeviceKey of a corrupt file: %v, want keystore.ErrCorrupt", err)
	}
}

func TestNewDeviceKeyRefusesOtherKeys(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := identity.NewDeviceKey(priv); err == nil {
		t.Fatal("NewDeviceKey accepted an Ed25519 key")
	}
}
