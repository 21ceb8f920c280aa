package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/identity"
)

func TestSignChallengeCmd(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pkcs8, sec1 := filepath.Join(dir, "k8.pem"), filepath.Join(dir, "k1.pem")
	writePrivateKey(t, pkcs8, k, false)
	writePrivateKey(t, sec1, k, true)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	wrongCurve := filepath.Join(dir, "p384.pem")
	writePrivateKey(t, wrongCurve, p384, false)
	pubOnly := filepath.Join(dir, "pub.pem")
	writePublicKey(t, pubOnly, &k.PublicKey)
	device, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id, _ := identity.DeviceID(&device.PublicKey)
	challenge := "camagent-unlock-v1." + id + ".AAAAAAAAAAAAAAAAAAAAAA.1772359200"

	for _, tc := range []struct {
		name string
		args []string
		want string // in stdout, or the error
		err  bool
	}{
		{"pkcs8", []string{"-key", pkcs8, challenge}, "", false},
		{"sec1", []string{"-key", sec1, challenge}, "", false},
		{"public", []string{"-key", pkcs8, "-public"}, "BEGIN PUBLIC KEY", false},
		{"no key flag", []string{challenge}, "-key is required", true},
		{"no challenge", []string{"-key", pkcs8}, "exactly one CHALLENGE", true},
		{"two challenges", []string{"-key", pkcs8, challenge, challenge}, "exactly one CHALLENGE", true},
		{"not a challenge", []string{"-key", pkcs8, "let-me-in"}, "not an unlock challenge", true},
		{"missing key file", []string{"-key", filepath.Join(dir, "none.pem"), challenge}, "no such file", true},
		{"public key given", []string{"-key", pubOnly, challenge}, `no "PRIVATE KEY" or "EC PRIVATE KEY" PEM block`, true},
		{"P-384", []string{"-key", wrongCurve, challenge}, "not an ECDSA P-256 key", true},
		{"-public with a challenge", []string{"-key", pkcs8, "-public", challenge}, "takes no challenge", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := signChallengeCmd(t.Context(), tc.args, &out, &errb)
			if tc.err {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" {
				if !strings.Contains(out.String(), tc.want) {
					t.Errorf("stdout = %q", out.String())
				}
				return
			}
			// The response verifies with the key and answers the challenge.
			u := control.NewUnlocker(control.UnlockConfig{DeviceID: func() (string, error) { return id, nil },
				TrustedKeys: func() ([]control.TrustedKey, error) { return []control.TrustedKey{{Name: "k", Key: &k.PublicKey}}, nil }})
			resp := strings.TrimSpace(out.String())
			if strings.ContainsAny(resp, " \n") || len(resp) > control.MaxResponse {
				t.Errorf("response is not one short word: %q", resp)
			}
			if _, err := u.Unlock(resp); !errors.Is(err, control.ErrUnknownChallenge) {
				t.Errorf("Unlock = %v, want ErrUnknownChallenge (the challenge was not issued by it), i.e. a well-formed response", err)
			}
			if !strings.Contains(errb.String(), id) || !strings.Contains(errb.String(), "ago by this machine's clock") {
				t.Errorf("stderr = %q", errb.String())
			}
		})
	}
}

// TestBoardActions checks which boards may act, and what each action does,
// with the reboot replaced: a test never reboots the machine it runs on.
func TestShellCmdUsage(t *testing.T) {
	var errb bytes.Buffer
	if err := shellCmd(t.Context(), []string{"extra"}, strings.NewReader(""), &bytes.Buffer{}, &errb); err == nil ||
		!strings.Contains(err.Error(), `unexpected argument "extra"`) {
		t.Errorf("shell extra = %v", err)
	}
	// No agent: the shell still starts, says so, and answers help.
	var out bytes.Buffer
	err := shellCmd(t.Context(), []string{"-socket", filepath.Join(t.TempDir(), "none.sock")}, strings.NewReader("status\nhelp\n"), &out, &errb)
	if err != nil || !strings.Contains(out.String(), "no agent listening") || !strings.Contains(out.String(), "factory-reset") {
		t.Errorf("shell without an agent = %v\n%s", err, out.String())
	}
}

func writePrivateKey(t *testing.T, path string, k *ecdsa.PrivateKey, sec1 bool) {
	t.Helper()
	var blk *pem.Block
	if sec1 {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		blk = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	} else {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		blk = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writePublicKey(t *testing.T, path string, pub any) {
	t.Helper()
	b, err := identity.PublicKeyPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, path, b)
}
