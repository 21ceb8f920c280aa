package upload

import (
	"fmt"
	"slices"
	"time"

	"github.com/camagent/camagent/uplink/ingest/protocol"
)

// Status is the uploader's state for `camagent ctl uploads`.
type Status struct {
	// State is starting, idle, pacing, uploading, backoff, busy (the
	// ingest answered 503 with Retry-After: it is at capacity) or stopped.
	State   string `json:"state"`
	Current string `json:"current,omitempty"` // the clip being sent
	// Queued is the clips waiting (QueuedBytes their total size); Items
	// shows the first MaxStatusItems of them in the order they will go.
	Queued      int          `json:"queued"`
	QueuedBytes uint64       `json:"queued_bytes"`
	Items       []ItemStatus `json:"items"`
	// Truncated: the card holds more clips than the in-memory queue.
	Truncated bool `json:"truncated,omitempty"`
	// Since start: clips uploaded and object bytes sent.
	Uploaded   uint64    `json:"uploaded"`
	BytesSent  uint64    `json:"bytes_sent"`
	LastUpload time.Time `json:"last_upload,omitzero"`
	// Failures is the number of consecutive failed attempts (an outage).
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	LastCode    string    `json:"last_code,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Blocked says why nothing can be uploaded while the ingest refuses the
	// device itself (its certificate or pairing), and what fixes it; the
	// backoff then grows to Config.RefusedCap.
	Blocked string `json:"blocked,omitempty"`
	// NextAttempt is when the uploader acts next, when it is waiting.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// Busy, while the state is busy, says so for a person: "cloud busy,
	// retrying in 12s". The queue is kept; the wait is the ingest's
	// Retry-After (capped at the backoff cap) plus jitter.
	Busy string `json:"busy,omitempty"`
	// Unchecked: the clip store has not yet put the card in order since
	// the agent started (or since the card came back), so clips that a
	// crash or power cut left unsealed are not in the queue yet; they join
	// it when the check seals them. An empty queue then is not the end of
	// the backlog.
	Unchecked bool `json:"unchecked,omitempty"`
}

// stateBusy is Status.State while the ingest is at capacity.
const stateBusy = "busy"

// ItemStatus is one queued clip.
type ItemStatus struct {
	Name string `json:"name"`
	Seq  uint64 `json:"seq"`
	// Phase is "manifest" (manifest and thumbnail not yet at the ingest),
	// "body" (only the clip body is left), "parked" (refused; tried again
	// at RetryAt) or "broken" (never sent; Reason says why).
	Phase   string    `json:"phase"`
	Sent    uint64    `json:"sent"` // bytes the ingest has, as far as this run knows
	Total   uint64    `json:"total"`
	Reason  string    `json:"reason,omitempty"`
	RetryAt time.Time `json:"retry_at,omitzero"`
}

// Status returns a snapshot of the queue and the uploader's state.
func (u *Uploader) Status() Status {
	now := u.clk.now()
	unchecked := !u.store.Checked() // before u.mu: the store has its own lock
	u.mu.Lock()
	defer u.mu.Unlock()
	st := Status{State: u.state, Current: u.current, Queued: len(u.queue), Truncated: u.truncated,
		Uploaded: u.uploaded, BytesSent: u.bytesSent, LastUpload: u.lastUpload, Failures: u.failures,
		LastError: u.lastErr, LastCode: u.lastCode, LastErrorAt: u.lastErrAt, Blocked: u.blocked, Unchecked: unchecked}
	if st.State == stateBusy {
		st.Busy = fmt.Sprintf("cloud busy, retrying in %ds", int((max(u.nextAttempt.Sub(now), 0)+time.Second-1)/time.Second))
	}
	if st.State == "backoff" || st.State == stateBusy || st.State == "pacing" || st.State == "starting" || (st.State == "idle" && !u.nextAttempt.IsZero()) {
		st.NextAttempt = u.nextAttempt
	}
	qs := make([]*qitem, 0, len(u.queue))
	for _, q := range u.queue {
		st.QueuedBytes += q.total
		qs = append(qs, q)
	}
	rank := func(q *qitem) int {
		switch {
		case q.broken != "":
			return 2
		case q.parked.After(now):
			return 1
		}
		return 0
	}
	slices.SortFunc(qs, func(a, b *qitem) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		if before(a, b) {
			return -1
		}
		if before(b, a) {
			return 1
		}
		return 0
	})
	for _, q := range qs[:min(len(qs), MaxStatusItems)] {
		is := ItemStatus{Name: q.name, Seq: q.item.Seq, Phase: "manifest", Total: q.total}
		for _, n := range q.sent {
			is.Sent += n
		}
		switch {
		case q.broken != "":
			is.Phase, is.Reason = "broken", q.broken
		case q.parked.After(now):
			is.Phase, is.Reason, is.RetryAt = "parked", q.code, q.parked
		case q.body:
			is.Phase = "body"
		}
		st.Items = append(st.Items, is)
	}
	return st
}

// deviceRefusal says, for Status.Blocked, why the ingest refuses the device
// and what fixes it.
func deviceRefusal(re *RefusedError) string {
	if re == nil {
		return ""
	}
	why := ""
	switch re.Code {
	case protocol.CodeNoClientCert:
		why = "the ingest got no device certificate: provision the camera (camagent provision)"
	case protocol.CodeCertExpired:
		why = "the device certificate is expired or not yet valid: check the camera's clock, or renew the certificate"
	case protocol.CodeCertUntrusted:
		why = "the device certificate is not issued by this cloud's CA: enroll the camera with this cloud"
	case protocol.CodeCertInvalid, protocol.CodeCertIdentity:
		why = "the device certificate is invalid for this device: enroll the camera again"
	case protocol.CodeUnpaired:
		why = "the device is not paired to an account: pair it in the app"
	default:
		why = "the ingest refuses this device"
	}
	return why + " (" + re.Code + "); retrying with a long backoff"
}
