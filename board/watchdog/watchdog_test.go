package watchdog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// fakeDevice is a watchdog driver: it records what is written and when, and
// answers the timeout ioctls like a driver with the given limits.
type fakeDevice struct {
	mu       sync.Mutex
	writes   []write
	closed   bool
	timeout  int   // the driver's current timeout (0: does not report one)
	maxSecs  int   // the largest timeout it accepts (0: any)
	setErr   error // setTimeout fails with this
	writeErr error
	id       string
}

type write struct {
	at time.Time
	b  byte
}

func (d *fakeDevice) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return 0, os.ErrClosed
	}
	if d.writeErr != nil {
		return 0, d.writeErr
	}
	for _, b := range p {
		d.writes = append(d.writes, write{time.Now(), b})
	}
	return len(p), nil
}

func (d *fakeDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}

func (d *fakeDevice) setTimeout(s int) error {
	if d.setErr != nil {
		return d.setErr
	}
	if d.maxSecs > 0 && s > d.maxSecs {
		s = d.maxSecs
	}
	d.timeout = s
	return nil
}

func (d *fakeDevice) getTimeout() (int, error) {
	if d.timeout == 0 {
		return 0, syscall.EOPNOTSUPP
	}
	return d.timeout, nil
}

func (d *fakeDevice) identity() (string, error) {
	if d.id == "" {
		return "", syscall.ENOTTY
	}
	return d.id, nil
}

func (d *fakeDevice) bytes() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b []byte
	for _, w := range d.writes {
		b = append(b, w.b)
	}
	return string(b)
}

func TestTimeoutNegotiation(t *testing.T) {
	tests := []struct {
		name        string
		ask         time.Duration
		dev         *fakeDevice
		want        time.Duration
		wantAssumed bool
	}{
		{"driver takes it", 10 * time.Second, &fakeDevice{timeout: 60}, 10 * time.Second, false},
		{"default", 0, &fakeDevice{timeout: 60}, DefaultTimeout, false},
		{"rounded up to seconds", 1500 * time.Millisecond, &fakeDevice{timeout: 60}, 2 * time.Second, false},
		{"bcm2835 caps at 15 s", 60 * time.Second, &fakeDevice{timeout: 10, maxSecs: 15}, 15 * time.Second, false},
		{"fixed timeout driver", 10 * time.Second, &fakeDevice{timeout: 30, setErr: syscall.EOPNOTSUPP}, 30 * time.Second, false},
		{"reports nothing", 8 * time.Second, &fakeDevice{setErr: syscall.ENOTTY}, 8 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := open(Config{Path: "/dev/watchdog", Timeout: tc.ask}, tc.dev, nil)
			if w.Timeout() != tc.want || w.assumed != tc.wantAssumed {
				t.Errorf("timeout %v assumed %v, want %v %v", w.Timeout(), w.assumed, tc.want, tc.wantAssumed)
			}
			if w.Interval() != max(tc.want/3, minInterval) {
				t.Errorf("interval %v", w.Interval())
			}
		})
	}
}

func TestRunPetsOnlyWhileHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev := &fakeDevice{timeout: 60, id: "fake wdt"}
		w := open(Config{Path: "/dev/watchdog", Timeout: 3 * time.Second}, dev, nil) // pets every second
		start := time.Now()
		var healthy atomic.Bool
		healthy.Store(true)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- w.Run(ctx, healthy.Load) }()

		time.Sleep(3500 * time.Millisecond) // pets at 0, 1, 2, 3 s
		healthy.Store(false)
		time.Sleep(3 * time.Second) // no pets at 4, 5, 6 s
		healthy.Store(true)
		time.Sleep(2 * time.Second) // pets at 7, 8 s
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
		var got []string
		for _, wr := range dev.writes {
			got = append(got, fmt.Sprintf("%q@%v", wr.b, wr.at.Sub(start)))
		}
		// A last pet when ctx ends; the watchdog stays armed for the drain.
		want := []string{`'\x00'@0s`, `'\x00'@1s`, `'\x00'@2s`, `'\x00'@3s`, `'\x00'@7s`, `'\x00'@8s`, `'\x00'@8.5s`}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("writes:\n got %v\nwant %v", got, want)
		}
		if s := w.Status(); dev.closed || s.State != "armed" || s.Pets != 7 || s.Identity != "fake wdt" || s.Timeout != 3*time.Second {
			t.Errorf("after Run: closed %v, status %+v", dev.closed, s)
		}

		// Run again, as a supervisor restarting the part would; then the
		// clean shutdown's Close.
		ctx, cancel = context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		if err := w.Run(ctx, healthy.Load); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("second Run = %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := dev.bytes(); got != strings.Repeat("\x00", 10)+"V" || !dev.closed {
			t.Errorf("after the second Run and Close: %q, closed %v", got, dev.closed)
		}
		if err := w.Pet(); !errors.Is(err, ErrClosed) || w.Status().State != "closed" {
			t.Errorf("Pet after close = %v, status %+v", err, w.Status())
		}
	})
}

func TestRunUnhealthyAtShutdownDoesNotPet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev := &fakeDevice{timeout: 60}
		w := open(Config{Path: "/dev/watchdog", Timeout: 3 * time.Second}, dev, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
		defer cancel()
		if err := w.Run(ctx, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v", err)
		}
		if got := dev.bytes(); got != "" {
			t.Errorf("an unhealthy agent petted: %q", got)
		}
	})
}

func TestRunNilHealthIsAlwaysHealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dev := &fakeDevice{timeout: 60}
		w := open(Config{Path: "/dev/watchdog", Timeout: 30 * time.Second}, dev, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second) // pets at 0, 10, 20 s
		defer cancel()
		if err := w.Run(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run = %v", err)
		}
		if got := dev.bytes(); got != "\x00\x00\x00\x00" {
			t.Errorf("writes %q, want pets at 0, 10, 20 and 25 s", got)
		}
	})
}

func TestPetFailure(t *testing.T) {
	dev := &fakeDevice{timeout: 15, writeErr: syscall.EIO}
	w := open(Config{Path: "/dev/watchdog"}, dev, nil)
	err := w.Pet()
	if !errors.Is(err, syscall.EIO) || w.Status().Error == "" {
		t.Errorf("Pet = %v, status %+v", err, w.Status())
	}
	dev.writeErr = nil
	if err := w.Pet(); err != nil || w.Status().Error != "" || w.Status().Pets != 1 {
		t.Errorf("Pet after recovery = %v, status %+v", err, w.Status())
	}
	dev.writeErr = syscall.EIO
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "will reset") {
		t.Errorf("Close with a failing magic write = %v", err)
	}
}

// The device as a plain file under a fake root: the bytes written are the
// keepalives and the magic close.
func TestFakeDeviceFile(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "dev/watchdog")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, nil, 0o600)
	w, err := Open(Config{Path: path, Timeout: 9 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if w.Absent() || w.Timeout() != 9*time.Second || !w.assumed {
		t.Errorf("absent %v timeout %v assumed %v", w.Absent(), w.Timeout(), w.assumed)
	}
	for range 3 {
		if err := w.Pet(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "\x00\x00\x00V" {
		t.Errorf("device got %q, want three keepalives and 'V'", b)
	}
}

func TestAbsentAndBroken(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		name       string
		path       string
		wantAbsent bool
		wantErr    bool
	}{
		{"not configured", "", true, false},
		{"no device", filepath.Join(root, "dev/watchdog"), true, false},
		{"a directory", root, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Open(Config{Path: tc.path})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Open = %v", err)
			}
			if err != nil {
				return
			}
			if w.Absent() != tc.wantAbsent || w.Status().State != "absent" {
				t.Errorf("Absent %v status %+v", w.Absent(), w.Status())
			}
			if err := w.Pet(); err != nil {
				t.Errorf("Pet on absent: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Close on absent: %v", err)
			}
			if _, err := os.Stat(filepath.Join(root, "dev")); err == nil {
				t.Error("Open created the device")
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := w.Run(ctx, func() bool { t.Error("absent Run asked for health"); return true }); !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v", err)
			}
		})
	}
}
