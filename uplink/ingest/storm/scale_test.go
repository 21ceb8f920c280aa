package storm

import (
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/upload"
)

// TestScaleTime is the regression test for the storm's MQTT backoff: the
// agent's defaults on the run's time scale must keep their order and
// value. d * base overflowed for the 5 min cap (at scale 1 and at scale
// 20), so every camera retried every 25 ms (500 ms at scale 1) while the
// broker was down.
func TestScaleTime(t *testing.T) {
	for _, tc := range []struct {
		div  time.Duration
		d    time.Duration
		want time.Duration
	}{
		{1, mqtt.DefaultBackoffMax, 5 * time.Minute},
		{20, mqtt.DefaultBackoffMax, 15 * time.Second},
		{4, mqtt.DefaultBackoffMax, 75 * time.Second},
		{1, mqtt.DefaultBackoffMin, time.Second},
		{20, mqtt.DefaultBackoffMin, 50 * time.Millisecond},
		{20, 30 * time.Second, 1500 * time.Millisecond},
		{1, 24 * time.Hour, 24 * time.Hour},
	} {
		if got := scaleTime(tc.d, upload.DefaultBackoffBase/tc.div); got != tc.want {
			t.Errorf("scaleTime(%v, base/%d) = %v, want %v", tc.d, tc.div, got, tc.want)
		}
	}
}
