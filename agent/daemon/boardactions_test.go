package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/uplink/identity"
)

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
