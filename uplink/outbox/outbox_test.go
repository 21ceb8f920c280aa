package outbox

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

func msg(seq uint64) Message {
	return Message{Seq: seq, Route: byte(seq % 3), Payload: []byte(fmt.Sprintf("payload %d", seq))}
}

func drain(t *testing.T, o *Outbox) []uint64 {
	t.Helper()
	var got []uint64
	var last uint64
	for {
		m, ok, err := o.Next(last)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return got
		}
		if string(m.Payload) != string(msg(m.Seq).Payload) || m.Route != msg(m.Seq).Route {
			t.Fatalf("message %d: %+v", m.Seq, m)
		}
		got = append(got, m.Seq)
		last = m.Seq
	}
}

func TestOrderBoundAndReopen(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	for s := uint64(1); s <= 8; s++ {
		if err := o.Append(msg(s * 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Append(msg(5)); err == nil {
		t.Fatal("a lower sequence number was accepted")
	}
	if got := drain(t, o); fmt.Sprint(got) != "[40 50 60 70 80]" || o.Dropped() != 3 {
		t.Fatalf("got %v dropped %d", got, o.Dropped())
	}
	if err := o.Remove(40); err != nil {
		t.Fatal(err)
	}
	if err := o.Remove(40); err != nil {
		t.Fatal("removing twice:", err)
	}
	// Reopened (a restart): the same messages and the drop count.
	o2, err := Open(dir, 5)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, o2); fmt.Sprint(got) != "[50 60 70 80]" || o2.Dropped() != 3 || o2.Len() != 4 {
		t.Fatalf("after reopen got %v dropped %d", got, o2.Dropped())
	}
	// A smaller capacity drops the oldest at open.
	o3, err := Open(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, o3); fmt.Sprint(got) != "[70 80]" || o3.Dropped() != 5 {
		t.Fatalf("smaller capacity: %v dropped %d", got, o3.Dropped())
	}
}

func TestCorruptMessageDropped(t *testing.T) {
	dir := t.TempDir()
	o, _ := Open(dir, 10)
	for s := uint64(1); s <= 3; s++ {
		if err := o.Append(msg(s)); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(o.path(2))
	b[3] ^= 0xff
	if err := os.WriteFile(o.path(2), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if m, _, _ := o.Next(0); m.Seq != 1 {
		t.Fatal(m.Seq)
	}
	if _, _, err := o.Next(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt: %v", err)
	}
	if m, ok, err := o.Next(1); !ok || err != nil || m.Seq != 3 || o.Dropped() != 1 {
		t.Fatalf("after the corrupt one: %d %v %v dropped %d", m.Seq, ok, err, o.Dropped())
	}
}
