package timesync

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeKernel is the system clock behind the Kernel interface: the test's
// wall clock is time.Now plus off, stepped by Step.
type fakeKernel struct {
	mu     sync.Mutex
	synced bool
	off    time.Duration
	steps  []time.Duration
	marked []time.Duration
}

func (k *fakeKernel) Synced() (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.synced, nil
}

func (k *fakeKernel) Step(d time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.off += d
	k.steps = append(k.steps, d)
	return nil
}

func (k *fakeKernel) MarkSynced(maxErr time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.synced = true
	k.marked = append(k.marked, maxErr)
	return nil
}

func (k *fakeKernel) now() time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	return time.Now().Add(k.off)
}

// startServer runs a real Server on the loopback whose clock is ahead of
// time.Now by ahead.
func startServer(t *testing.T, ahead time.Duration) *Server {
	t.Helper()
	s, err := Listen(ServerConfig{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0",
		Now: func() time.Time { return time.Now().Add(ahead) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	})
	return s
}

// closedPort is a loopback address where nothing listens.
func closedPort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := c.LocalAddr().String()
		c.Close()
		return addr
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The offset measured against the server is its lead, within the error
// bound the measurement itself reports (round trip on the loopback).
func TestQueryUDPAndTCP(t *testing.T) {
	const ahead = 42*time.Minute + 500*time.Millisecond
	srv := startServer(t, ahead)
	for _, s := range []server{{"udp", srv.UDPAddr()}, {"tcp", srv.TCPAddr()}} {
		smp, err := query(context.Background(), &net.Dialer{}, s, time.Now, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if d := smp.offset - ahead; d > smp.maxErr+time.Millisecond || d < -smp.maxErr-time.Millisecond {
			t.Errorf("%s: offset %v, want %v within the error bound %v", s, smp.offset, ahead, smp.maxErr)
		}
		if smp.delay < 0 || smp.maxErr < smp.delay/2 {
			t.Errorf("%s: delay %v, error bound %v", s, smp.delay, smp.maxErr)
		}
	}
}

func TestSyncStepsAndMarks(t *testing.T) {
	srv := startServer(t, 10*time.Minute)
	k := &fakeKernel{}
	// The first server refuses: the second is asked.
	s, err := New(Config{Servers: []string{"tcp://" + closedPort(t, "tcp"), srv.UDPAddr()}, Kernel: k, Now: k.now})
	if err != nil {
		t.Fatal(err)
	}
	if s.Trusted() {
		t.Fatal("trusted before any sync")
	}
	if err := s.round(context.Background()); err != nil {
		t.Fatalf("round: %v", err)
	}
	if len(k.steps) != 1 || k.steps[0] < 9*time.Minute || k.steps[0] > 11*time.Minute {
		t.Errorf("steps %v, want one of about 10 min", k.steps)
	}
	if len(k.marked) != 1 || k.marked[0] > time.Second {
		t.Errorf("MarkSynced calls %v, want one with the small loopback error", k.marked)
	}
	st := s.Status()
	if !s.Trusted() || !st.Trusted || st.Source != "sntp" || st.Server != srv.UDPAddr() || st.Steps != 1 {
		t.Errorf("status after sync: %+v", st)
	}
	// The second round finds the clock right: no step.
	if err := s.round(context.Background()); err != nil {
		t.Fatalf("second round: %v", err)
	}
	if len(k.steps) != 1 {
		t.Errorf("steps %v after the second round, want still one", k.steps)
	}
}

// An NTP client on the system keeps the clock: Sync only reads the state and
// asks no server (the one configured would fail).
func TestSyncKernelAlreadySynced(t *testing.T) {
	k := &fakeKernel{synced: true}
	s, err := New(Config{Servers: []string{"tcp://" + closedPort(t, "tcp")}, Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.round(context.Background()); err != nil {
		t.Fatalf("round: %v", err)
	}
	if st := s.Status(); !st.Trusted || st.Source != "kernel" || len(k.steps) != 0 {
		t.Errorf("status %+v, steps %v; want trusted by the kernel, no step", st, k.steps)
	}
}

func TestSyncNoServers(t *testing.T) {
	k := &fakeKernel{}
	s, err := New(Config{Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.round(context.Background()); !errors.Is(err, errNoServers) {
		t.Errorf("round: %v, want %v", err, errNoServers)
	}
	if st := s.Status(); st.Trusted || st.LastErr == "" {
		t.Errorf("status %+v, want untrusted with the error", st)
	}
}

// A server that answers wrong (here: not at all over UDP, refused over TCP)
// leaves the clock alone and untrusted; Run retries on its timer and
// returns nil when stopped.
func TestRunRetriesAndStops(t *testing.T) {
	k := &fakeKernel{}
	ticks := make(chan time.Time)
	asked := make(chan time.Duration, 10)
	s, err := New(Config{Servers: []string{"tcp://" + closedPort(t, "tcp")}, Kernel: k, Retry: time.Second,
		Interval: 4 * time.Second, After: func(d time.Duration) <-chan time.Time { asked <- d; return ticks }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var waits []time.Duration
	for range 4 {
		waits = append(waits, <-asked)
		ticks <- time.Time{}
	}
	waits = append(waits, <-asked)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v (doubling up to the interval)", waits, want)
		}
	}
	if s.Trusted() || len(k.steps) != 0 {
		t.Errorf("trusted %v, steps %v after failures", s.Trusted(), k.steps)
	}
}

func TestCheckReply(t *testing.T) {
	sent := toNTP(time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC))
	good := packet{version: 4, mode: modeServer, stratum: 2, originate: sent, receive: sent + 1, transmit: sent + 2}
	tests := []struct {
		name string
		edit func(p *packet)
		want string
	}{
		{"good", func(*packet) {}, ""},
		{"client mode", func(p *packet) { p.mode = modeClient }, "mode 3"},
		{"kiss-o'-death", func(p *packet) { p.stratum = 0; p.refID = [4]byte{'R', 'A', 'T', 'E'} }, "kiss-o'-death"},
		{"stratum 16", func(p *packet) { p.stratum = 16 }, "stratum 16"},
		{"unsynchronised", func(p *packet) { p.leap = leapAlarm }, "not synchronised"},
		{"wrong originate", func(p *packet) { p.originate++ }, "originate"},
		{"no transmit", func(p *packet) { p.transmit = 0 }, "zero"},
		{"version 2", func(p *packet) { p.version = 2 }, "version 2"},
	}
	for _, tc := range tests {
		p := good
		tc.edit(&p)
		var b [packetSize]byte
		p.marshal(b[:])
		q, err := parsePacket(b[:])
		if err == nil {
			err = checkReply(q, sent)
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadPacket)):
			t.Errorf("%s: %v, want an ErrBadPacket saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := parsePacket(make([]byte, 47)); !errors.Is(err, ErrBadPacket) {
		t.Errorf("47 bytes: %v", err)
	}
}

func TestNTPTime(t *testing.T) {
	for _, tt := range []time.Time{
		time.Date(2026, 12, 4, 6, 7, 8, 123456789, time.UTC),
		time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), // era 1 begins
		time.Date(2100, 1, 1, 0, 0, 0, 500_000_000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), // a camera without RTC
	} {
		got := fromNTP(toNTP(tt))
		if d := got.Sub(tt); d < -time.Nanosecond || d > time.Nanosecond {
			t.Errorf("%v: round trip %v", tt, got)
		}
	}
	// 1900-01-01 + 2^32 s is 2036-02-07T06:28:16Z: seconds 0 mean era 1.
	if got := fromNTP(0); !got.Equal(time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC)) {
		t.Errorf("fromNTP(0) = %v", got)
	}
}

func TestParseServer(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"pool.ntp.org", "pool.ntp.org:123", ""},
		{"10.0.2.100:1123", "10.0.2.100:1123", ""},
		{"[::1]:123", "[::1]:123", ""},
		{"tcp://10.0.2.100:123", "tcp://10.0.2.100:123", ""},
		{"tcp://10.0.2.100", "", "want tcp://host:port"},
		{"", "", "empty"},
		{"a b", "", "want host"},
		{"tcp://", "", "empty"},
		{"10.0.2.100:123456", "", "port"},
		{"10.0.2.100:ntp", "", "port"},
	}
	for _, tc := range tests {
		s, err := parseServer(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseServer(%q) = %v, %v; want error %q", tc.in, s, err, tc.err)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("parseServer(%q) = %v, %v; want %s", tc.in, s, err, tc.want)
		}
	}
}

// FuzzParsePacket: any bytes from the network parse or fail cleanly, and a
// packet that passes the checks measures without overflowing into nonsense
// signs (a delay is never negative).
func FuzzParsePacket(f *testing.F) {
	sent := toNTP(time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC))
	var b [packetSize]byte
	(&packet{version: 4, mode: modeServer, stratum: 2, originate: sent, receive: sent + 1, transmit: sent + 2}).marshal(b[:])
	f.Add(b[:])
	f.Add(b[:20])
	f.Add(make([]byte, 100))
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := parsePacket(in)
		if err != nil {
			if !errors.Is(err, ErrBadPacket) {
				t.Fatalf("error %v is not ErrBadPacket", err)
			}
			return
		}
		if checkReply(p, p.originate) == nil {
			now := time.Now()
			if m := measure(p, now, now.Add(time.Millisecond)); m.delay < 0 || m.maxErr < 0 {
				t.Fatalf("measure: %+v", m)
			}
		}
	})
}
