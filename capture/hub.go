package capture

import (
	"context"
	"sync"
	"sync/atomic"
)

// Hub fans frames out to consumers. Publish never blocks: each consumer has a
// bounded Queue that drops its oldest frame when full.
type Hub struct {
	mu     sync.Mutex
	queues []*Queue
}

// Subscribe adds a consumer with a queue of depth frames (at least 1).
func (h *Hub) Subscribe(name string, depth int) *Queue {
	if depth < 1 {
		depth = 1
	}
	q := &Queue{name: name, ring: make([]*Frame, depth), ready: make(chan struct{}, 1)}
	h.mu.Lock()
	h.queues = append(h.queues, q)
	h.mu.Unlock()
	return q
}

// Unsubscribe removes q and releases the frames it still holds.
func (h *Hub) Unsubscribe(q *Queue) {
	h.mu.Lock()
	for i, x := range h.queues {
		if x == q {
			h.queues = append(h.queues[:i], h.queues[i+1:]...)
			break
		}
	}
	h.mu.Unlock()
	q.drain()
}

// Publish offers f to every consumer; each queue that takes it retains it. The
// caller keeps its own hold on f and releases it as usual.
func (h *Hub) Publish(f *Frame) {
	h.mu.Lock()
	for _, q := range h.queues {
		q.push(f)
	}
	h.mu.Unlock()
}

// QueueStats is a consumer queue's counters.
type QueueStats struct {
	Name      string `json:"name"`
	Delivered uint64 `json:"delivered"`
	Dropped   uint64 `json:"dropped"`
	// Queued is how many frames wait now, of Depth.
	Queued int `json:"queued"`
	Depth  int `json:"depth"`
}

// Stats returns every queue's counters.
func (h *Hub) Stats() []QueueStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]QueueStats, 0, len(h.queues))
	for _, q := range h.queues {
		out = append(out, q.Stats())
	}
	return out
}

// Queue is one consumer's bounded frame queue (a ring that overwrites its
// oldest entry).
type Queue struct {
	name  string
	mu    sync.Mutex
	ring  []*Frame
	head  int // index of the oldest frame
	n     int
	ready chan struct{}

	delivered atomic.Uint64
	dropped   atomic.Uint64
}

func (q *Queue) push(f *Frame) {
	f.Retain()
	q.mu.Lock()
	if q.n == len(q.ring) {
		old := q.ring[q.head]
		q.ring[q.head] = nil
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		q.dropped.Add(1)
		defer old.Release()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = f
	q.n++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// TryNext returns the oldest queued frame, or nil when the queue is empty.
func (q *Queue) TryNext() *Frame {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil
	}
	f := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	q.delivered.Add(1)
	return f
}

// Next waits for a frame or for ctx to end. The caller releases the frame.
func (q *Queue) Next(ctx context.Context) (*Frame, error) {
	for {
		if f := q.TryNext(); f != nil {
			return f, nil
		}
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	q.mu.Lock()
	n := q.n
	q.mu.Unlock()
	return QueueStats{Name: q.name, Delivered: q.delivered.Load(), Dropped: q.dropped.Load(), Queued: n, Depth: len(q.ring)}
}

func (q *Queue) drain() {
	for f := q.TryNext(); f != nil; f = q.TryNext() {
		f.Release()
	}
}
