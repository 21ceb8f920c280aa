package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestOpenCreatesThenLoads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "device.key")
	k, created, err := Open(path)
	if err != nil || !created {
		t.Fatalf("Open = %v, created %v", err, created)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", dst.Mode().Perm())
	}
	// No temporary file is left behind.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("dir holds %d entries", len(ents))
	}
	// The file is PKCS#8 PEM of the P-256 key whose public half is Public().
	priv := readKey(t, path)
	if !priv.PublicKey.Equal(k.Public()) {
		t.Fatalf("the file holds another key than FileKey's")
	}

	k2, created, err := Open(path)
	if err != nil || created {
		t.Fatalf("reopen = %v, created %v", err, created)
	}
	if !pubOf(t, k2).Equal(k.Public()) || k2.Path() != path {
		t.Fatalf("reopened another key")
	}
	// It signs, and the signature verifies with Public().
	digest := sha256.Sum256([]byte("hello"))
	sig, err := k2.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(k.Public().(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatal("signature does not verify")
	}
	var _ crypto.Signer = k
}

func TestOpenTightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	if _, _, err := Open(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
}

func TestOpenConcurrentCreatesOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	const n = 8
	ids := make([]string, n)
	made := make([]bool, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, created, err := Open(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], made[i] = string(pubDER(t, k)), created
		})
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if ids[i] != ids[0] {
			t.Fatalf("two keys: %x and %x", ids[0], ids[i])
		}
		if made[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers say they created the key", creators)
	}
}

func TestOpenCorrupt(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	_ = edPub
	edDER, _ := x509.MarshalPKCS8PrivateKey(edPriv)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(p256)
	good := pemBytes("PRIVATE KEY", mustPKCS8(t, p256))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"text", []byte("hello\n")},
		{"truncated", good[:len(good)/2]},
		{"bit flip in DER", func() []byte {
			der := mustPKCS8(t, p256)
			der[10] ^= 0xff
			return pemBytes("PRIVATE KEY", der)
		}()},
		{"SEC1 block", pemBytes("EC PRIVATE KEY", sec1)},
		{"ed25519", pemBytes("PRIVATE KEY", edDER)},
		{"P-384", pemBytes("PRIVATE KEY", p384DER)},
		{"huge", make([]byte, maxKeyFile+10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "device.key")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := Open(path)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "left untouched") || !strings.Contains(msg, "camagent provision") {
				t.Errorf("error does not say what to do: %s", msg)
			}
			after, _ := os.ReadFile(path)
			if string(after) != string(tc.data) {
				t.Fatal("corrupt key file was modified")
			}
		})
	}
}

func TestOpenUnreadableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if _, _, err := Open(filepath.Join(dir, "device.key")); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
}

func TestNeverPrintsPrivateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "device.key")
	k, _, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	priv := readKey(t, path)
	file, _ := os.ReadFile(path)
	dBytes, err := priv.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	der := mustPKCS8(t, priv)
	secrets := map[string]string{
		"D decimal":   new(big.Int).SetBytes(dBytes).String(),
		"D hex":       hex.EncodeToString(dBytes),
		"D HEX":       strings.ToUpper(hex.EncodeToString(dBytes)),
		"D base64":    base64.StdEncoding.EncodeToString(dBytes),
		"PKCS8 b64":   base64.StdEncoding.EncodeToString(der)[:40],
		"PEM line 2":  strings.Split(string(file), "\n")[1],
		"PKCS8 hex":   hex.EncodeToString(der)[:40],
		"D bytes fmt": fmt.Sprint(dBytes)[:40],
	}
	// Control: the detector finds the key where it is printed.
	control := fmt.Sprintf("%+v", priv) + string(file) + hex.EncodeToString(dBytes) + base64.StdEncoding.EncodeToString(dBytes) +
		strings.ToUpper(hex.EncodeToString(dBytes)) + hex.EncodeToString(der) + fmt.Sprint(dBytes)
	for name, s := range secrets {
		if !strings.Contains(control, s) {
			t.Fatalf("control: %s not found where the key is printed", name)
		}
	}
	type holder struct {
		key   FileKey // an unexported value field: fmt walks it by reflection
		ptr   *FileKey
		Iface crypto.Signer
	}
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("key", "k", k, "v", *k)
	js, err := json.Marshal(map[string]any{"k": k, "v": *k})
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("%v %+v %#v %s %q %x %X %d %v %+v %#v %v",
		k, k, k, k, k, k, k, k, *k, *k, *k, holder{*k, k, k}) +
		fmt.Sprintf("%+v %#v", holder{*k, k, k}, holder{*k, k, k}) +
		k.String() + k.GoString() + logged.String() + string(js)
	for name, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains the private key (%s): %s", name, out)
		}
	}
	if !strings.Contains(fmt.Sprint(k), "keystore.FileKey("+path+")") {
		t.Errorf("String = %s", k)
	}
}

func readKey(t testing.TB, path string) *ecdsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		t.Fatalf("not a PRIVATE KEY PEM: %q", b)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

func mustPKCS8(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pubOf(t testing.TB, k *FileKey) *ecdsa.PublicKey {
	t.Helper()
	pub, ok := k.Public().(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("Public is %T", k.Public())
	}
	return pub
}

func pubDER(t testing.TB, k *FileKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Error(err)
	}
	return der
}
