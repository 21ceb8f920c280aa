package capture

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"
)

// listSource yields n frames stamped at 100 ms intervals from t0.
type listSource struct {
	pool *Pool
	n, i int
	t0   time.Time
}

func (s *listSource) Format() Format {
	return Format{Pixel: FormatGREY, Width: 4, Height: 4, Stride: 4}
}
func (s *listSource) Close() error { return nil }
func (s *listSource) Next(context.Context) (*Frame, error) {
	if s.i == s.n {
		return nil, io.EOF
	}
	f, err := s.pool.Get()
	if err != nil {
		return nil, err
	}
	f.Time = s.t0.Add(time.Duration(s.i) * 100 * time.Millisecond)
	s.i++
	return f, nil
}

func TestRealtime(t *testing.T) {
	tests := []struct {
		name   string
		loop   bool
		frames int // frames to read
		opens  int
		err    error
	}{
		{"plays once", false, 3, 1, io.EOF},
		{"loops", true, 7, 3, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pool := NewPool(2, 16)
				opens := 0
				open := func() (Source, error) {
					opens++
					return &listSource{pool: pool, n: 3, t0: time.Unix(1000, 0)}, nil
				}
				r, err := NewRealtime(open, tc.loop)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				start := time.Now()
				var got []time.Duration
				var seqs []uint64
				for range tc.frames {
					f, err := r.Next(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, time.Since(start))
					seqs = append(seqs, f.Seq)
					if !f.Time.Equal(time.Now()) {
						t.Errorf("frame stamped %v, played at %v", f.Time, time.Now())
					}
					f.Release()
				}
				// Within one pass frames come 100 ms apart; a replay restarts at once.
				for i := 1; i < len(got); i++ {
					want := 100 * time.Millisecond
					if i%3 == 0 {
						want = 0
					}
					if d := got[i] - got[i-1]; d != want {
						t.Errorf("frame %d came %v after the previous, want %v", i, d, want)
					}
					if seqs[i] != seqs[i-1]+1 {
						t.Errorf("seq %d after %d", seqs[i], seqs[i-1])
					}
				}
				if !tc.loop {
					if _, err := r.Next(t.Context()); !errors.Is(err, tc.err) {
						t.Errorf("after the end: %v, want %v", err, tc.err)
					}
				}
				if opens != tc.opens {
					t.Errorf("opened %d times, want %d", opens, tc.opens)
				}
			})
		})
	}
}

func TestRealtimeCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pool := NewPool(2, 16)
		r, _ := NewRealtime(func() (Source, error) {
			return &listSource{pool: pool, n: 3, t0: time.Unix(1000, 0)}, nil
		}, false)
		f, _ := r.Next(t.Context())
		f.Release()
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := r.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next = %v", err)
		}
		if pool.Available() != 2 {
			t.Errorf("a frame leaked on cancel: %d of 2 buffers free", pool.Available())
		}
	})
}
