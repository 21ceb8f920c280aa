package capture

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRunnerPoolStats: the runner reports its source's pool (size, frames
// held) and each queue's fill; a consumer that holds its queue full costs
// exactly its depth, and capture drops, not grows, when the pool is spent.
func TestRunnerPoolStats(t *testing.T) {
	const size, depth, frames = 4, 3, 10
	src := &listSource{pool: NewPool(size, 16), n: frames, t0: time.Unix(0, 0)}
	var h Hub
	q := h.Subscribe("recorder", depth)
	defer h.Unsubscribe(q)
	r := NewRunner(RunnerConfig{Open: func() (Source, error) { return src, nil }, Hub: &h})
	if st := r.Stats(); st.PoolSize != 0 {
		t.Fatalf("pool before the first frame: %+v", st)
	}
	// The list source ends with io.EOF, which ends Run.
	if err := r.Run(context.Background()); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want the source's end", err)
	}
	st := r.Stats()
	if st.PoolSize != size || st.PoolUsed != depth {
		t.Errorf("pool %d used %d, want %d used %d (the queue holds its depth)", st.PoolSize, st.PoolUsed, size, depth)
	}
	if st.Frames != frames || st.Dropped != 0 {
		t.Errorf("frames %d dropped %d", st.Frames, st.Dropped)
	}
	qs := h.Stats()
	if len(qs) != 1 || qs[0].Queued != depth || qs[0].Depth != depth || qs[0].Dropped != frames-depth {
		t.Errorf("queue stats %+v", qs)
	}
	if src.pool.Available()+st.PoolUsed != size {
		t.Errorf("pool accounting: %d free + %d used != %d", src.pool.Available(), st.PoolUsed, size)
	}
	// Buffers made: at least the held ones and the one capture reads into,
	// never more than the pool; trimming leaves the held ones only.
	if st.PoolMade <= depth || st.PoolMade > size {
		t.Errorf("pool made %d buffers, want %d to %d", st.PoolMade, depth+1, size)
	}
	r.TrimPool()
	if st := r.Stats(); st.PoolMade != depth {
		t.Errorf("after TrimPool the pool holds %d buffers, want the %d the queue holds", st.PoolMade, depth)
	}
}
