package watchdog

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestHardware opens a real watchdog: set CAMAGENT_TEST_WATCHDOG to the
// device. Use softdog with soft_noboot=1 (it only logs when it fires), never
// a board's real watchdog: a failed test would reset the machine.
func TestHardware(t *testing.T) {
	path := os.Getenv("CAMAGENT_TEST_WATCHDOG")
	if path == "" {
		t.Skip("CAMAGENT_TEST_WATCHDOG not set")
	}
	w, err := Open(Config{Path: path, Timeout: 7 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("status %+v", w.Status())
	if w.Absent() || w.assumed || w.Timeout() != 7*time.Second {
		t.Errorf("absent %v assumed %v timeout %v; want the driver to take 7s", w.Absent(), w.assumed, w.Timeout())
	}
	if _, err := Open(Config{Path: path}); !errors.Is(err, ErrBusy) {
		t.Errorf("second Open = %v, want ErrBusy", err)
	}
	for range 3 {
		if err := w.Pet(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// After the magic close the device can be opened again.
	w2, err := Open(Config{Path: path, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("reopen after magic close: %v", err)
	}
	if w2.Timeout() != 5*time.Second {
		t.Errorf("reopened timeout %v", w2.Timeout())
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
}
