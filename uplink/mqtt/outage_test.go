package mqtt_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
)

// expectInOrder reads n motion-start events with MotionID 1..n from the
// cloud, each exactly once and in order (the receiver drops repeats by the
// signed sequence number), and nothing else on the events topic.
func expectInOrder(t *testing.T, cl *cloud, id string, first, n int) {
	t.Helper()
	var last uint64
	for i := first; i < first+n; i++ {
		m := cl.next(t, "events")
		if m.DeviceID != id || m.Kind != event.KindMotionStart || m.MotionID != uint64(i) {
			t.Fatalf("event %d: got %s #%d (motion %d) from %s", i, m.Kind, m.Seq, m.MotionID, m.DeviceID)
		}
		if m.Seq <= last {
			t.Fatalf("event %d: seq %d after %d", i, m.Seq, last)
		}
		last = m.Seq
	}
}

func publishN(d *device, first, n int) {
	for i := first; i < first+n; i++ {
		d.c.Publish(event.Event{Kind: event.KindMotionStart, MotionID: uint64(i), ScorePPM: 1000})
	}
}

// waitQueued waits until the outbox holds at least n messages (the writer
// stores asynchronously).
func waitQueued(t *testing.T, d *device, n int) {
	t.Helper()
	waitOutbox(t, d, fmt.Sprintf("at least %d", n), func(q int) bool { return q >= n })
}

// waitAcked waits until the outbox is empty: the broker acknowledged every
// message sent so far. A message the cloud already received stays queued
// until its acknowledgement arrives, and is sent again (and dropped as a
// repeat by the receiver) if the broker goes away first.
func waitAcked(t *testing.T, d *device) {
	t.Helper()
	waitOutbox(t, d, "none", func(q int) bool { return q == 0 })
}

func waitOutbox(t *testing.T, d *device, want string, ok func(int) bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for q := d.c.Status().Queued; !ok(q); q = d.c.Status().Queued {
		if time.Now().After(deadline) {
			t.Fatalf("outbox holds %d messages, want %s", q, want)
		}
		<-tick.C
	}
}

// TestBrokerDownThenBack: events raised while the broker is down arrive
// once and in order when it returns.
func TestBrokerDownThenBack(t *testing.T) {
	env := mqtttest.Start(t)
	cl := startCloud(t, env)
	d := newDevice(t, env, env.NewDevice(), t.TempDir(), devOpts{})
	cl.pin(d.ID, d.Key.Public(), "")
	d.start(t)
	publishN(d, 1, 5)
	expectInOrder(t, cl, d.ID, 1, 5)

	env.StopBroker()
	publishN(d, 6, 40)
	waitQueued(t, d, 40)
	env.StartBroker()
	cl.waitSubscribed(t)
	expectInOrder(t, cl, d.ID, 6, 40)
	publishN(d, 46, 1)
	expectInOrder(t, cl, d.ID, 46, 1)
}

// TestRestartWhileBrokerDown: events raised before a clean stop of the
// client, while the broker is down, are sent by the next run.
func TestRestartWhileBrokerDown(t *testing.T) {
	env := mqtttest.Start(t)
	cl := startCloud(t, env)
	dev := env.NewDevice()
	dir := t.TempDir()
	d := newDevice(t, env, dev, dir, devOpts{})
	cl.pin(d.ID, d.Key.Public(), "")
	d.start(t)
	publishN(d, 1, 3)
	expectInOrder(t, cl, d.ID, 1, 3)
	waitAcked(t, d) // else the third may still be queued, unacknowledged

	env.StopBroker()
	publishN(d, 4, 20)
	d.stop() // stores what is still in memory before returning
	if q := d.c.Status().Queued; q != 20 {
		t.Fatalf("after stop the outbox holds %d, want 20", q)
	}
	d2 := newDevice(t, env, dev, dir, devOpts{})
	d2.start(t)
	env.StartBroker()
	cl.waitSubscribed(t)
	expectInOrder(t, cl, d.ID, 4, 20)
}

// TestSIGKILLWhileBrokerDown: a client process killed with SIGKILL after
// it queued events (broker down) loses none: the next run sends them.
func TestSIGKILLWhileBrokerDown(t *testing.T) {
	env := mqtttest.Start(t)
	cl := startCloud(t, env)
	dev := env.NewDevice()
	dir := t.TempDir()
	cl.pin(dev.ID, dev.Key.Public(), "")
	env.StopBroker()

	runAndKill(t, env, dev, dir, 30, false)

	d := newDevice(t, env, dev, dir, devOpts{})
	if q := d.c.Status().Queued; q != 30 {
		t.Fatalf("after SIGKILL the outbox holds %d, want 30", q)
	}
	d.start(t)
	env.StartBroker()
	cl.waitSubscribed(t)
	expectInOrder(t, cl, d.ID, 1, 30)
}

// runAndKill runs a client process (this test binary running
// TestHelperClient) that publishes n events, waits until they are queued
// (or, with acked, delivered), and kills it with SIGKILL.
func runAndKill(t *testing.T, env *mqtttest.Env, dev *mqtttest.Device, dir string, n int, acked bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperClient$")
	keyDER, _ := marshalKey(dev.Key)
	cmd.Env = append(os.Environ(), "CAMAGENT_MQTT_HELPER=1", "HELPER_DIR="+dir, "HELPER_BROKER="+env.URL(),
		"HELPER_CERT="+dev.CertPath, "HELPER_CA="+env.CAFile, "HELPER_KEY="+keyDER, "HELPER_N="+strconv.Itoa(n),
		"HELPER_ACKED="+strconv.FormatBool(acked))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "QUEUED ") {
			ready = true
			break
		}
	}
	if !ready {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("the helper client did not queue its events")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper did not die of SIGKILL: %v", werr)
	}
}

// TestWillOnKill: a client killed while connected leaves its signed last
// will, offline, on its retained state topic; the cloud verifies it.
func TestWillOnKill(t *testing.T) {
	env := mqtttest.Start(t)
	cl := startCloud(t, env)
	dev := env.NewDevice()
	cl.pin(dev.ID, dev.Key.Public(), "")
	runAndKill(t, env, dev, t.TempDir(), 2, true)
	if m := cl.nextKind(t, event.KindOnline); m.DeviceID != dev.ID {
		t.Fatalf("online from %s", m.DeviceID)
	}
	m := cl.nextKind(t, event.KindOffline)
	if m.DeviceID != dev.ID || m.Reason != "connection lost" {
		t.Fatalf("will: %+v", m)
	}
}

// TestHelperClient is the client process TestSIGKILLWhileBrokerDown kills.
func TestHelperClient(t *testing.T) {
	if os.Getenv("CAMAGENT_MQTT_HELPER") != "1" {
		t.Skip("helper process for TestSIGKILLWhileBrokerDown")
	}
	key, err := parseKey(os.Getenv("HELPER_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := helperTLS(key, os.Getenv("HELPER_CERT"), os.Getenv("HELPER_CA"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(os.Getenv("HELPER_N"))
	c, err := mqtt.New(mqtt.Config{Broker: os.Getenv("HELPER_BROKER"), TLS: tc, Signer: key, BootID: "helper",
		StoreDir: os.Getenv("HELPER_DIR"), BackoffMin: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d := &device{c: c}
	d.start(t)
	publishN(d, 1, n)
	if os.Getenv("HELPER_ACKED") == "true" {
		until(t, func() bool { return c.Status().MessagesAcked >= uint64(n) })
	} else {
		waitQueued(t, d, n)
	}
	fmt.Printf("QUEUED %d\n", n)
	select {} // until SIGKILL
}
