package mqtt_test

import (
	"crypto/ecdsa"
	"runtime"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/envelope"
	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt"
	"github.com/camagent/camagent/uplink/mqtt/mqtttest"
)

// benchEvent is a typical motion-start: a score and two boxes.
var benchEvent = event.Event{Kind: event.KindMotionStart, Time: time.Unix(1_780_000_000, 0), ScorePPM: 123456,
	MotionID: 4711, Boxes: []event.Box{{X: 120, Y: 80, W: 64, H: 48}, {X: 400, Y: 300, W: 32, H: 40}}}

// publishSize is an MQTT 3.1.1 QoS 1 PUBLISH packet's size: fixed header
// (1 byte + remaining length varint), topic (2 + len), packet ID (2), payload.
func publishSize(topic string, payload int) int {
	rem := 2 + len(topic) + 2 + payload
	n := 1
	for v := rem; v >= 128; v >>= 7 {
		n++
	}
	return 1 + n + rem
}

// BenchmarkWireBytes reports the bytes on the wire per event, signed (the
// COSE_Sign1 camagent sends) and unsigned (the same CBOR payload bare), as
// whole PUBLISH packets on the events topic.
func BenchmarkWireBytes(b *testing.B) {
	key := newKey(b)
	id := mqttID(b, key)
	topic := mqtt.TopicsFor(id).Events
	h := event.Header{DeviceID: id, Owner: "alice", Seq: 123456, BootID: "0f4c6a8e-5d0b-4a8a-9d2e-1f6f0a7e3b21", ClockTrusted: true}
	var signed []byte
	for b.Loop() {
		var err error
		if signed, err = event.Sign(h, benchEvent, key); err != nil {
			b.Fatal(err)
		}
	}
	msg, err := envelope.Parse(signed, event.ContentType)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(publishSize(topic, len(signed))), "signed-B/event")
	b.ReportMetric(float64(publishSize(topic, len(msg.Payload))), "unsigned-B/event")
	b.ReportMetric(float64(len(signed)-len(msg.Payload)), "signature-overhead-B")
}

func mqttID(b testing.TB, k *ecdsa.PrivateKey) string {
	b.Helper()
	id, err := identity.DeviceID(k.Public())
	if err != nil {
		b.Fatal(err)
	}
	return id
}

// until polls cond on a ticker (benchmarks drain asynchronous work).
func until(b testing.TB, cond func() bool) {
	b.Helper()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("gave up waiting")
		}
		<-t.C
	}
}

func waitConnected(b testing.TB, c *mqtt.Client) {
	until(b, func() bool { return c.Status().Connected })
}

// BenchmarkEventsPerSecond is the whole path on one core (run with -cpu 1):
// Publish, sign, durable append to the outbox (fsync), QoS 1 to a real
// mosquitto, PUBACK, removal. events/s is what the agent sustains.
func BenchmarkEventsPerSecond(b *testing.B) {
	env := mqtttest.Start(b)
	dev := env.NewDevice()
	c, err := mqtt.New(mqtt.Config{Broker: env.URL(), TLS: dev.TLS, Signer: dev.Key, BootID: "bench",
		StoreDir: b.TempDir(), QueueSize: 1_000_000, PublishQueue: 4096})
	if err != nil {
		b.Fatal(err)
	}
	d := &device{c: c}
	d.start(b)
	waitConnected(b, c)
	start := c.Status().MessagesAcked
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		for c.Status().Queued > 2048 { // keep Publish from dropping
			runtime.Gosched()
		}
		c.Publish(benchEvent)
	}
	until(b, func() bool { return c.Status().MessagesAcked-start >= uint64(b.N) })
	if n := c.Status().PublishDropped; n > 0 {
		b.Fatalf("dropped %d events", n)
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "events/s")
}

// BenchmarkSignOnly is the signing share of the path: events/s on one core
// without storage or network.
func BenchmarkSignOnly(b *testing.B) {
	key := newKey(b)
	h := event.Header{Seq: 1, BootID: "b"}
	for b.Loop() {
		h.Seq++
		if _, err := event.Sign(h, benchEvent, key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueuedMemory reports the client's heap with 10,000 events
// queued for an absent broker (the outbox holds them on disk; memory keeps
// 8 bytes each).
func BenchmarkQueuedMemory(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	key := newKey(b)
	env := mqtttest.Start(b)
	dev := env.Device(key)
	env.StopBroker()
	// Fill the store with a client whose broker is down.
	c, err := mqtt.New(mqtt.Config{Broker: env.URL(), TLS: dev.TLS, Signer: key, BootID: "bench",
		StoreDir: dir, QueueSize: n, PublishQueue: n, StartDelay: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	d := &device{c: c}
	d.start(b)
	for range n {
		c.Publish(benchEvent)
	}
	until(b, func() bool { return c.Status().Queued >= n })
	d.stop()
	var before, after runtime.MemStats
	var held *mqtt.Client
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		held, err = mqtt.New(mqtt.Config{Broker: env.URL(), TLS: dev.TLS, Signer: key, BootID: "bench",
			StoreDir: dir, QueueSize: n})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	if held.Status().Queued != n {
		b.Fatalf("queued %d", held.Status().Queued)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc), "heap-B/10k-queued")
	runtime.KeepAlive(held)
}

// BenchmarkMotionToCloud is the time from Publish (motion start) to the
// event verified by the cloud's receiver, through a real mosquitto on
// loopback, one event at a time.
func BenchmarkMotionToCloud(b *testing.B) {
	env := mqtttest.Start(b)
	cl := startCloud(b, env)
	dev := env.NewDevice()
	c, err := mqtt.New(mqtt.Config{Broker: env.URL(), TLS: dev.TLS, Signer: dev.Key, BootID: "bench", StoreDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	cl.pin(dev.ID, dev.Key.Public(), "")
	d := &device{c: c}
	d.start(b)
	cl.next(b, "state") // online
	for b.Loop() {
		c.Publish(benchEvent)
		cl.next(b, "events")
	}
}
