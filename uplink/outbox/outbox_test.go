package outbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
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
	b, _ := os.ReadFile(o.path(2, true))
	b[3] ^= 0xff
	if err := os.WriteFile(o.path(2, true), b, 0o600); err != nil {
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

// TestBatch: a batch is one file and one group commit; its messages are
// delivered in order and removed one by one, the file when the last one
// goes; a restart brings back what is queued (with the acknowledged
// messages of a batch not wholly acknowledged: receivers drop repeats).
func TestBatch(t *testing.T) {
	dir := t.TempDir()
	o, err := Open(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.AppendBatch([]Message{msg(1), msg(2), msg(3)}); err != nil {
		t.Fatal(err)
	}
	if err := o.AppendBatch([]Message{msg(4), msg(5)}); err != nil {
		t.Fatal(err)
	}
	if err := o.AppendBatch([]Message{msg(7), msg(6)}); err == nil {
		t.Fatal("a batch out of order was accepted")
	}
	if err := o.AppendBatch([]Message{msg(5)}); err == nil {
		t.Fatal("a repeated sequence number was accepted")
	}
	if got := drain(t, o); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("got %v", got)
	}
	files := func() int {
		ents, _ := os.ReadDir(dir)
		n := 0
		for _, e := range ents {
			if e.Name() != droppedFile {
				n++
			}
		}
		return n
	}
	if n := files(); n != 2 {
		t.Fatalf("%d files for 2 batches", n)
	}
	for _, s := range []uint64{1, 2, 3, 4} {
		if err := o.Remove(s); err != nil {
			t.Fatal(err)
		}
	}
	if n := files(); n != 1 {
		t.Fatalf("%d files after the first batch was acknowledged, want 1", n)
	}
	o2, err := Open(dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, o2); fmt.Sprint(got) != "[4 5]" {
		t.Fatalf("after reopen: %v, want the second batch again", got)
	}
	// Over capacity: the oldest go, across batches.
	o3, _ := Open(t.TempDir(), 4)
	o3.AppendBatch([]Message{msg(1), msg(2), msg(3)})
	o3.AppendBatch([]Message{msg(4), msg(5), msg(6)})
	if got := drain(t, o3); fmt.Sprint(got) != "[3 4 5 6]" || o3.Dropped() != 2 {
		t.Fatalf("capacity 4: %v dropped %d", got, o3.Dropped())
	}
}

// TestFirstFormatRead: a message of the first format (one .msg file per
// message, as older agents left them) is still delivered, before newer
// batches.
func TestFirstFormatRead(t *testing.T) {
	dir := t.TempDir()
	o, _ := Open(dir, 10)
	m := msg(7)
	b := append([]byte{m.Route}, m.Payload...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	if err := os.WriteFile(o.path(7, false), b, 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Open(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.AppendBatch([]Message{msg(8), msg(9)}); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, o); fmt.Sprint(got) != "[7 8 9]" {
		t.Fatalf("got %v", got)
	}
	o.Remove(7)
	if _, err := os.Stat(o.path(7, false)); !os.IsNotExist(err) {
		t.Fatalf("the .msg file after its removal: %v", err)
	}
}

// TestCorruptBatchAtOpen: a batch damaged in its middle keeps the records
// before the damage and counts a drop; a leftover temporary file is removed.
func TestCorruptBatchAtOpen(t *testing.T) {
	dir := t.TempDir()
	o, _ := Open(dir, 10)
	o.AppendBatch([]Message{msg(1), msg(2), msg(3)})
	p := o.path(1, true)
	b, _ := os.ReadFile(p)
	b[len(b)-2] ^= 0xff // the last record's CRC
	os.WriteFile(p, b, 0o600)
	os.WriteFile(filepath.Join(dir, ".x.batch.tmp123"), []byte("torn"), 0o600)
	o2, err := Open(dir, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, o2); fmt.Sprint(got) != "[1 2]" || o2.Dropped() != 1 {
		t.Fatalf("got %v dropped %d", got, o2.Dropped())
	}
	if _, err := os.Stat(filepath.Join(dir, ".x.batch.tmp123")); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

// BenchmarkAppend compares one message per commit with group commits of
// 32 (three fsyncs per commit either way), on the test's file system.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			o, err := Open(b.TempDir(), 1_000_000)
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 300) // about a signed event
			seq := uint64(0)
			ms := make([]Message, batch)
			for b.Loop() {
				for i := range ms {
					seq++
					ms[i] = Message{Seq: seq, Payload: payload}
				}
				if err := o.AppendBatch(ms); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(seq)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// FuzzReadBatch: a batch file holding any bytes (a card returning garbage)
// never panics Open or Next, and what they return passed its checks.
func FuzzReadBatch(f *testing.F) {
	dir := f.TempDir()
	o, _ := Open(dir, 10)
	o.AppendBatch([]Message{msg(1), msg(2), msg(3)})
	seed, _ := os.ReadFile(o.path(1, true))
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		o, _ := Open(dir, 10)
		if err := os.WriteFile(o.path(1, true), b, 0o600); err != nil {
			t.Fatal(err)
		}
		o, err := Open(dir, 10)
		if err != nil {
			return
		}
		var last uint64
		for range 20 {
			m, ok, err := o.Next(last)
			if err != nil {
				continue
			}
			if !ok {
				return
			}
			if m.Seq <= last || len(m.Payload) > MaxMessage {
				t.Fatalf("message %d after %d (%d bytes)", m.Seq, last, len(m.Payload))
			}
			last = m.Seq
		}
	})
}
