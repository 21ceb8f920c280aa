package mqtt_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/mqtt"
)

// TestNewRefusesBadBackoff: a negative or inverted backoff (the storm
// once computed BackoffMax as 5 min * 2 s / 2 s in nanoseconds, which
// overflows) is a configuration error, not a client that retries every
// BackoffMin/2 forever.
func TestNewRefusesBadBackoff(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		start, bmin, bmax time.Duration
		ok                bool
	}{
		{"defaults", 0, 0, 0, true},
		{"equal", 0, time.Second, time.Second, true},
		{"negative max", 0, 0, -4 * time.Second, false},
		{"max below min", 0, 2 * time.Second, time.Second, false},
		{"negative min", 0, -time.Second, time.Second, false},
		{"negative start delay", -time.Second, 0, 0, false},
	} {
		_, err := mqtt.New(mqtt.Config{Broker: "tls://127.0.0.1:8883", TLS: &tls.Config{}, Signer: key, BootID: "b",
			StoreDir: t.TempDir(), StartDelay: tc.start, BackoffMin: tc.bmin, BackoffMax: tc.bmax})
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, mqtt.ErrConfig) {
			t.Errorf("%s: New = %v, want ErrConfig", tc.name, err)
		}
	}
}
