package receiver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/event"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/mqtt"
)

func key(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := identity.DeviceID(k.Public())
	return k, id
}

// TestVerify drives the verifying step directly with what a broker could
// deliver if its ACL failed: the attribution comes from the signature only.
func TestVerify(t *testing.T) {
	a, aID := key(t)
	b, bID := key(t)
	dir := t.TempDir()
	var shown []event.Message
	r, err := New(Config{Broker: "tls://x:1", TLS: &tls.Config{}, ClientID: "svc", Dir: dir,
		Devices: func(id string) (Device, bool) {
			switch id {
			case aID:
				return Device{Key: a.Public(), Account: "alice"}, true
			case bID:
				return Device{Key: b.Public(), Account: "bob"}, true
			}
			return Device{}, false
		},
		Observe: func(m event.Message, _ string) { shown = append(shown, m) }})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *ecdsa.PrivateKey, owner string, seq uint64) []byte {
		m, err := event.Sign(event.Header{Owner: owner, Seq: seq, BootID: "b"}, event.Event{Kind: event.KindMotionStart, Time: time.Now()}, k)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, c := range []struct {
		name, topic string
		payload     []byte
		code        string
	}{
		{"valid", mqtt.TopicsFor(aID).Events, sign(a, "alice", 1), ""},
		{"duplicate", mqtt.TopicsFor(aID).Events, sign(a, "alice", 1), "dup"},
		{"b's message on a's topic", mqtt.TopicsFor(aID).Events, sign(b, "bob", 1), "topic-mismatch"},
		{"unknown device", mqtt.TopicsFor(aID).Events, sign(stranger, "alice", 1), "unknown-device"},
		{"garbage", mqtt.TopicsFor(aID).Events, []byte("hello"), "malformed"},
		{"bad topic", "other/topic", sign(a, "alice", 2), "bad-topic"},
		{"valid, later", mqtt.TopicsFor(aID).State, sign(a, "alice", 3), ""},
	} {
		before := r.Stats()
		r.verify(incoming{topic: c.topic, payload: c.payload})
		after := r.Stats()
		switch c.code {
		case "":
			if after.Verified != before.Verified+1 {
				t.Errorf("%s: not verified: %+v", c.name, after)
			}
		case "dup":
			if after.Duplicates != before.Duplicates+1 || after.Verified != before.Verified {
				t.Errorf("%s: %+v", c.name, after)
			}
		default:
			if after.RefusedBy[c.code] != before.RefusedBy[c.code]+1 || after.Verified != before.Verified {
				t.Errorf("%s: want refusal %s, stats %+v", c.name, c.code, after)
			}
		}
	}
	if len(shown) != 2 {
		t.Fatalf("shown %d messages", len(shown))
	}
	items, err := ReadVerified(dir, aID, a.Public(), "alice", 0)
	if err != nil || len(items) != 2 || !items[0].Show || items[1].Message.Seq != 3 {
		t.Fatalf("alice reads %+v %v", items, err)
	}
	// Another account reading a's file (e.g. after a re-pairing) is shown
	// nothing: the owner is signed.
	items, _ = ReadVerified(dir, aID, a.Public(), "bob", 0)
	for _, it := range items {
		if it.Show {
			t.Fatal("bob was shown alice's event")
		}
	}
	// A restarted receiver still drops the repeat (it reloads what it stored).
	r2, _ := New(r.cfg)
	r2.verify(incoming{topic: mqtt.TopicsFor(aID).Events, payload: sign(a, "alice", 3)})
	if s := r2.Stats(); s.Duplicates != 1 || s.Verified != 0 {
		t.Fatalf("after restart: %+v", s)
	}
}

// TestFullQueueHoldsBack: with the verifier's queue full, a message from
// the broker waits (it used to be acknowledged and dropped: an event lost
// in a storm of returning cameras), and each message is acknowledged only
// once it is stored. A message the receiver stops before taking is not
// acknowledged (the broker redelivers it to the persistent session).
func TestFullQueueHoldsBack(t *testing.T) {
	a, aID := key(t)
	r, err := New(Config{Broker: "tls://x:1", TLS: &tls.Config{}, ClientID: "svc", Dir: t.TempDir(),
		Devices: func(id string) (Device, bool) { return Device{Key: a.Public(), Account: "alice"}, id == aID }})
	if err != nil {
		t.Fatal(err)
	}
	topic := mqtt.TopicsFor(aID).Events
	acked := make(chan uint64, queueSize+2)
	msg := func(seq uint64) ([]byte, func()) {
		b, err := event.Sign(event.Header{Owner: "alice", Seq: seq, BootID: "b"}, event.Event{Kind: event.KindMotionStart, Time: time.Now()}, a)
		if err != nil {
			t.Fatal(err)
		}
		return b, func() { acked <- seq }
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for seq := uint64(1); seq <= queueSize; seq++ {
		b, ack := msg(seq)
		r.enqueue(ctx, topic, b, ack)
	}
	// The queue is full: the next one waits for room.
	b, ack := msg(queueSize + 1)
	queued := make(chan struct{})
	go func() { r.enqueue(ctx, topic, b, ack); close(queued) }()
	select {
	case <-queued:
		t.Fatal("enqueue returned with the queue full: the message was dropped or queued past the bound")
	case <-acked:
		t.Fatal("acknowledged before it was stored")
	default:
	}
	done := make(chan struct{})
	go func() { r.verifyLoop(ctx); close(done) }()
	<-queued
	for want := uint64(1); want <= queueSize+1; want++ {
		if got := <-acked; got != want {
			t.Fatalf("acknowledged %d, want %d", got, want)
		}
	}
	if st := r.Stats(); st.Verified != queueSize+1 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	items, err := ReadVerified(r.cfg.Dir, aID, a.Public(), "alice", 0)
	if err != nil || len(items) != queueSize+1 {
		t.Fatalf("stored %d (%v), want %d", len(items), err, queueSize+1)
	}
	// Stopped: a message offered now is neither queued nor acknowledged.
	cancel()
	<-done
	for range queueSize {
		r.in <- incoming{}
	}
	b, ack = msg(queueSize + 2)
	r.enqueue(ctx, topic, b, ack)
	select {
	case s := <-acked:
		t.Fatalf("message %d acknowledged after the receiver stopped", s)
	default:
	}
}
