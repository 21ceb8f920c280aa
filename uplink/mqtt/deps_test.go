package mqtt

import (
	"os/exec"
	"strings"
	"testing"
)

// TestChannelLinksNoCameraCode keeps the messaging channel a layer above the
// card and the camera: the MQTT client, its outbox, events and commands must
// not link capture, the clip store or the agent (see ARCHITECTURE.md), so the
// cloud side and small tools can import them.
func TestChannelLinksNoCameraCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".", "../command", "../outbox", "../event").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		ours, ok := strings.CutPrefix(p, "github.com/camagent/camagent/")
		if !ok {
			continue
		}
		if ours == "agent" || strings.HasPrefix(ours, "agent/") || strings.HasPrefix(ours, "capture") ||
			ours == "storage" || strings.HasPrefix(ours, "storage/recorder") || strings.HasPrefix(ours, "storage/fmp4") {
			t.Errorf("the MQTT channel links %s", ours)
		}
	}
}
