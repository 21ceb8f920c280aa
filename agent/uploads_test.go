package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/uplink/upload"
)

func TestWriteUploads(t *testing.T) {
	now := time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC)
	st := upload.Status{State: "backoff", Current: "2026/05/14/115900-e3", Queued: 3, QueuedBytes: 3 << 20,
		Uploaded: 7, BytesSent: 9 << 20, Failures: 2, LastError: "dial tcp: connection refused", LastCode: "error",
		LastErrorAt: now.Add(-time.Minute), NextAttempt: now.Add(12 * time.Second),
		Items: []upload.ItemStatus{
			{Name: "2026/05/14/115900-e3", Seq: 12, Phase: "body", Sent: 512 << 10, Total: 1 << 20},
			{Name: "2026/05/14/115800-e2", Seq: 11, Phase: "parked", Total: 2 << 20, Reason: "hash-mismatch", RetryAt: now.Add(time.Hour)},
		}}
	var b bytes.Buffer
	if err := control.WriteUploads(&b, st, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"backoff 2026/05/14/115900-e3 (next attempt in 12s)", "3 clips, 3.0 MiB", "7 clips uploaded",
		"connection refused (2 failures in a row)", "512.0 KiB / 1.0 MiB", "hash-mismatch, retry", "... 1 more"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
