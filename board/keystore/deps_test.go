package keystore

import (
	"os/exec"
	"strings"
	"testing"
)

// TestKeystoreIsTheFloor: hardware sits at the bottom (ARCHITECTURE.md). The
// keystore links no other camagent package than storage/atomicfile; what the
// key means (the device ID) is uplink/identity's.
func TestKeystoreIsTheFloor(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		ours, ok := strings.CutPrefix(p, "github.com/camagent/camagent/")
		if ok && ours != "board/keystore" && ours != "storage/atomicfile" {
			t.Errorf("board/keystore links %s", ours)
		}
	}
}
