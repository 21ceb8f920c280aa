package verify

import (
	"os/exec"
	"strings"
	"testing"
)

// TestViewerLinksNoCameraCode keeps the viewer's signature check small: it
// must not link capture, V4L2, fMP4, the clip store or the agent (see the
// layers in ARCHITECTURE.md). A viewer app or a cloud service imports this
// package; it has no camera.
func TestViewerLinksNoCameraCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := map[string]bool{
		"storage/atomicfile": true, "board/keystore": true,
		"uplink/envelope": true, "uplink/c2pa": true, "uplink/identity": true, "uplink/manifest": true, "uplink/verify": true,
	}
	for _, p := range strings.Fields(string(out)) {
		ours, ok := strings.CutPrefix(p, "github.com/camagent/camagent/")
		if ok && !allowed[ours] {
			t.Errorf("uplink/verify links %s", ours)
		}
	}
}
