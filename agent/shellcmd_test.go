package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camagent/camagent/agent/shell"
	"github.com/camagent/camagent/storage"
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
			u := shell.NewUnlocker(shell.UnlockConfig{DeviceID: func() (string, error) { return id, nil },
				TrustedKeys: func() ([]shell.TrustedKey, error) { return []shell.TrustedKey{{Name: "k", Key: &k.PublicKey}}, nil }})
			resp := strings.TrimSpace(out.String())
			if strings.ContainsAny(resp, " \n") || len(resp) > shell.MaxResponse {
				t.Errorf("response is not one short word: %q", resp)
			}
			if _, err := u.Unlock(resp); !errors.Is(err, shell.ErrUnknownChallenge) {
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
func TestBoardActions(t *testing.T) {
	type result struct {
		rebooted, restarted int
		msg                 string
		err                 error
	}
	for _, tc := range []struct {
		name, board string
		euid        int
		action      string
		unsupported bool
		want        string
	}{
		{"generic board reboot", "generic-uvc", 0, "reboot", true, "only the qemu-virt and raspberry-pi profiles"},
		{"generic board format", "generic-uvc", 0, "format-sd", true, "generic-uvc"},
		{"generic board reset", "generic-uvc", 0, "factory-reset", true, "generic-uvc"},
		{"not root", "qemu-virt", 1000, "reboot", true, "does not run as root"},
		{"reboot", "qemu-virt", 0, "reboot", false, "rebooting"},
		{"format", "raspberry-pi", 0, "format-sd", false, "erased"},
		{"factory reset", "qemu-virt", 0, "factory-reset", false, "owner binding removed, SD card erased (2 files), rebooting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mount := filepath.Join(dir, "sd")
			clip := filepath.Join(mount, "camagent", "clips", "a.mp4")
			os.MkdirAll(filepath.Dir(clip), 0o755)
			writeTestFile(t, clip, []byte("video"))
			writeTestFile(t, filepath.Join(mount, "camagent", "state.json"), []byte("{}"))
			writeTestFile(t, filepath.Join(mount, "other.txt"), []byte("not ours"))
			writeTestFile(t, filepath.Join(dir, "mounts"), []byte("/dev/vda "+mount+" vfat rw 0 0\n"))
			keyPath := filepath.Join(dir, "device.key")
			writeTestFile(t, identity.BindingPath(keyPath), []byte("binding"))
			writeTestFile(t, keyPath, []byte("key"))
			card := storage.NewCard(mount)
			card.MountTable = filepath.Join(dir, "mounts")
			var r result
			a := newBoardActions(boardActionsConfig{Board: tc.board, Card: func() *storage.Card { return card }, KeyPath: keyPath,
				RestartStorage: func() { r.restarted++ },
				Reboot:         func(context.Context) error { r.rebooted++; return nil },
				Euid:           func() int { return tc.euid }})
			switch tc.action {
			case "reboot":
				r.msg, r.err = a.Reboot(t.Context())
			case "format-sd":
				r.msg, r.err = a.FormatSD(t.Context())
			case "factory-reset":
				r.msg, r.err = a.FactoryReset(t.Context())
			}
			_, clipErr := os.Stat(clip)
			_, bindErr := os.Stat(identity.BindingPath(keyPath))
			if tc.unsupported {
				if !errors.Is(r.err, errors.ErrUnsupported) || !strings.Contains(r.err.Error(), tc.want) {
					t.Fatalf("%s = %q, %v; want ErrUnsupported naming %q", tc.action, r.msg, r.err, tc.want)
				}
				if r.rebooted != 0 || clipErr != nil || bindErr != nil {
					t.Errorf("a refused action acted: rebooted %d, clip %v, binding %v", r.rebooted, clipErr, bindErr)
				}
				return
			}
			if r.err != nil || !strings.Contains(r.msg, tc.want) {
				t.Fatalf("%s = %q, %v; want %q", tc.action, r.msg, r.err, tc.want)
			}
			if _, err := os.Stat(keyPath); err != nil {
				t.Errorf("the device key is gone: %v", err)
			}
			if _, err := os.Stat(filepath.Join(mount, "other.txt")); err != nil {
				t.Errorf("a file outside the agent's folder is gone: %v", err)
			}
			switch tc.action {
			case "reboot":
				if r.rebooted != 1 || clipErr != nil {
					t.Errorf("rebooted %d, clip %v", r.rebooted, clipErr)
				}
			case "format-sd":
				if r.restarted != 1 || r.rebooted != 0 || !os.IsNotExist(clipErr) || bindErr != nil {
					t.Errorf("restarted %d, rebooted %d, clip %v, binding %v", r.restarted, r.rebooted, clipErr, bindErr)
				}
			case "factory-reset":
				if r.rebooted != 1 || !os.IsNotExist(clipErr) || !os.IsNotExist(bindErr) {
					t.Errorf("rebooted %d, clip %v, binding %v", r.rebooted, clipErr, bindErr)
				}
			}
		})
	}
}

func TestBoardActionsCardMissing(t *testing.T) {
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "mounts"), nil)
	card := storage.NewCard(filepath.Join(dir, "sd"))
	card.MountTable = filepath.Join(dir, "mounts")
	a := newBoardActions(boardActionsConfig{Board: "qemu-virt", Card: func() *storage.Card { return card },
		KeyPath: filepath.Join(dir, "device.key"), Euid: func() int { return 0 },
		Reboot: func(context.Context) error { return errors.New("no reboot in tests") }})
	if _, err := a.FormatSD(t.Context()); err == nil || !strings.Contains(err.Error(), "it is missing") {
		t.Errorf("format-sd without a card = %v", err)
	}
	if _, err := a.FactoryReset(t.Context()); err == nil || !strings.Contains(err.Error(), "was not paired, SD card not erased") ||
		!strings.Contains(err.Error(), "no reboot in tests") {
		t.Errorf("factory-reset = %v", err)
	}
}

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
