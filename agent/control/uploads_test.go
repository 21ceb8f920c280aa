package control

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/upload"
)

func TestWriteUploads(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		st     upload.Status
		want   []string
		absent []string
	}{
		{
			name: "backoff with a clip under way and a parked one",
			st: upload.Status{State: "backoff", Current: "2026/05/14/115900-e3", Queued: 3, QueuedBytes: 3 << 20,
				Uploaded: 7, BytesSent: 9 << 20, Failures: 2, LastError: "dial tcp: connection refused", LastCode: "error",
				LastErrorAt: now.Add(-time.Minute), NextAttempt: now.Add(12 * time.Second),
				Items: []upload.ItemStatus{
					{Name: "2026/05/14/115900-e3", Seq: 12, Phase: "body", Sent: 512 << 10, Total: 1 << 20},
					{Name: "2026/05/14/115800-e2", Seq: 11, Phase: "parked", Total: 2 << 20, Reason: "hash-mismatch", RetryAt: now.Add(time.Hour)},
				}},
			want: []string{"backoff 2026/05/14/115900-e3 (next attempt in 12s)", "3 clips, 3.0 MiB", "7 clips uploaded",
				"connection refused (2 failures in a row)", "512.0 KiB / 1.0 MiB", "hash-mismatch, retry", "... 1 more"},
			absent: []string{"cloud:", "blocked:"},
		},
		{
			name: "not running",
			want: []string{"uploads: not running (no [upload] url configured"},
		},
		{
			name: "cloud busy: what the cloud said and that nothing is lost",
			st: upload.Status{State: "busy", NextAttempt: now.Add(12 * time.Second), Queued: 3, QueuedBytes: 3 << 20,
				Busy: "cloud busy, retrying in 12s"},
			want: []string{"uploads: busy (next attempt in 12s)", "cloud: cloud busy, retrying in 12s; the queue is kept",
				"queued: 3 clips"},
			absent: []string{"blocked:"},
		},
		{
			name: "refused device: why and what fixes it",
			st: upload.Status{State: "backoff", Blocked: "the ingest refuses this device's certificate: enroll it again",
				LastError: "403 device certificate refused", LastCode: "403", Failures: 4, LastErrorAt: now},
			want:   []string{"blocked: the ingest refuses this device's certificate: enroll it again", "(4 failures in a row)"},
			absent: []string{"cloud:"},
		},
		{
			name:   "card not checked yet: the empty queue is not the end of the backlog",
			st:     upload.Status{State: "idle", Unchecked: true},
			want:   []string{"queued: 0 clips", "card: not checked yet since the start: clips a power cut left open join the queue"},
			absent: []string{"blocked:"},
		},
		{
			name:   "card checked: no card line",
			st:     upload.Status{State: "idle"},
			absent: []string{"card:"},
		},
		{
			name:   "control bytes from the status are not printed raw",
			st:     upload.Status{State: "busy", Busy: "cloud busy\x1b[2J"},
			absent: []string{"\x1b"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteUploads(&b, tc.st, now); err != nil {
				t.Fatal(err)
			}
			// The columns' width depends on the labels: compare words.
			out := strings.Join(strings.Fields(b.String()), " ")
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("unexpected %q in:\n%s", a, out)
				}
			}
		})
	}
}
