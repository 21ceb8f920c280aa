package capture

import (
	"context"
	"errors"
	"testing"
)

func TestPool(t *testing.T) {
	p := NewPool(2, 8)
	a, _ := p.Get()
	b, _ := p.Get()
	if _, err := p.Get(); !errors.Is(err, ErrPoolEmpty) {
		t.Fatalf("third Get = %v, want ErrPoolEmpty", err)
	}
	if err := a.Fill(make([]byte, 9)); !errors.Is(err, ErrFrameTooBig) {
		t.Errorf("Fill(9 bytes) = %v, want ErrFrameTooBig", err)
	}
	if err := a.Fill([]byte("abc")); err != nil || string(a.Data) != "abc" {
		t.Errorf("Fill = %v, Data %q", err, a.Data)
	}
	a.Retain()
	a.Release()
	if p.Available() != 0 {
		t.Error("buffer returned while still held")
	}
	a.Release()
	b.Release()
	if p.Available() != 2 {
		t.Errorf("%d buffers free, want 2", p.Available())
	}
	defer func() {
		if recover() == nil {
			t.Error("double release did not panic")
		}
	}()
	b.Release()
}

// TestPoolReusesLast: the pool hands out the buffer returned last, so a
// pipeline that holds one frame at a time keeps writing one buffer and the
// pool's spares are never touched (never resident).
func TestPoolReusesLast(t *testing.T) {
	p := NewPool(4, 8)
	first, _ := p.Get()
	first.Release()
	for range 10 {
		f, err := p.Get()
		if err != nil || f != first {
			t.Fatalf("Get = %p, %v; want the buffer returned last (%p)", f, err, first)
		}
		f.Release()
	}
	a, _ := p.Get()
	b, _ := p.Get()
	a.Release()
	if c, _ := p.Get(); c != a {
		t.Error("after releasing a while holding b, Get did not return a")
	}
	b.Release()
}

// TestPoolMakesBuffersOnFirstUse: NewPool makes no buffer (Trim finds none
// to drop); Get makes one of the pool's size, and the frame keeps it.
func TestPoolMakesBuffersOnFirstUse(t *testing.T) {
	p := NewPool(4, 8)
	if n := p.Trim(); n != 0 {
		t.Fatalf("a new pool holds %d buffers, want none before the first Get", n)
	}
	f, err := p.Get()
	if err != nil || len(f.Buffer()) != 8 {
		t.Fatalf("first Get: %v, buffer of %d bytes, want 8", err, len(f.Buffer()))
	}
	if p.Made() != 1 {
		t.Fatalf("Made = %d after one Get, want 1", p.Made())
	}
	f.Release()
	if n := p.Trim(); n != 1 || p.Made() != 0 {
		t.Fatalf("after one Get the pool held %d buffers (want 1), Made %d after Trim (want 0)", n, p.Made())
	}
}

// TestPoolTrim: Trim drops the free frames' buffers and only theirs (a held
// frame keeps its bytes); Get makes a dropped buffer again, of the pool's
// size, and a pipeline cycling through it allocates nothing more.
func TestPoolTrim(t *testing.T) {
	p := NewPool(4, 8)
	held, _ := p.Get()
	if err := held.Fill([]byte("keep")); err != nil {
		t.Fatal(err)
	}
	burst := make([]*Frame, 0, 3)
	for range 3 {
		f, _ := p.Get()
		burst = append(burst, f)
	}
	for _, f := range burst {
		f.Release()
	}
	if n := p.Trim(); n != 3 {
		t.Fatalf("Trim dropped %d buffers, want the 3 free ones", n)
	}
	if n := p.Trim(); n != 0 {
		t.Fatalf("second Trim dropped %d buffers, want 0", n)
	}
	if string(held.Data) != "keep" || len(held.Buffer()) != 8 {
		t.Fatalf("the held frame lost its buffer: %q", held.Data)
	}
	f, err := p.Get()
	if err != nil || len(f.Buffer()) != 8 || len(f.Data) != 0 {
		t.Fatalf("Get after Trim: %v, buffer of %d bytes, data %q", err, len(f.Buffer()), f.Data)
	}
	f.Release()
	if allocs := testing.AllocsPerRun(20, func() {
		f, _ := p.Get()
		f.Release()
	}); allocs != 0 {
		t.Errorf("%v allocations per Get after the buffer was made again", allocs)
	}
	held.Release()
	if p.Available() != 4 {
		t.Errorf("%d frames free, want 4", p.Available())
	}
}

func TestHubDropsOldest(t *testing.T) {
	tests := []struct {
		name      string
		depth     int
		publish   int
		wantSeqs  []uint64
		wantDrops uint64
	}{
		{"fits", 3, 2, []uint64{0, 1}, 0},
		{"full", 2, 5, []uint64{3, 4}, 3},
		{"depth one", 1, 3, []uint64{2}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPool(tc.publish, 4)
			var h Hub
			q := h.Subscribe("motion", tc.depth)
			fast := h.Subscribe("live", tc.publish)
			for i := range tc.publish {
				f, err := p.Get()
				if err != nil {
					t.Fatal(err)
				}
				f.Seq = uint64(i)
				h.Publish(f)
				f.Release()
			}
			var got []uint64
			for f := q.TryNext(); f != nil; f = q.TryNext() {
				got = append(got, f.Seq)
				f.Release()
			}
			if len(got) != len(tc.wantSeqs) {
				t.Fatalf("got %v, want %v", got, tc.wantSeqs)
			}
			for i := range got {
				if got[i] != tc.wantSeqs[i] {
					t.Fatalf("got %v, want %v", got, tc.wantSeqs)
				}
			}
			st := q.Stats()
			if st.Dropped != tc.wantDrops || st.Delivered != uint64(len(got)) {
				t.Errorf("stats = %+v", st)
			}
			if fs := fast.Stats(); fs.Dropped != 0 {
				t.Errorf("the other consumer dropped %d", fs.Dropped)
			}
			// Dropped frames went back to the pool; the rest are held by "live".
			if p.Available() != 0 {
				t.Errorf("%d buffers free before live drains, want 0", p.Available())
			}
			h.Unsubscribe(fast)
			if p.Available() != tc.publish {
				t.Errorf("%d buffers free after unsubscribe, want %d (a frame leaked)", p.Available(), tc.publish)
			}
		})
	}
}

func TestQueueNextWaits(t *testing.T) {
	var h Hub
	q := h.Subscribe("recorder", 2)
	p := NewPool(1, 4)
	got := make(chan uint64)
	go func() {
		f, err := q.Next(context.Background())
		if err != nil {
			close(got)
			return
		}
		got <- f.Seq
		f.Release()
	}()
	f, _ := p.Get()
	f.Seq = 7
	h.Publish(f)
	f.Release()
	if s := <-got; s != 7 {
		t.Errorf("Next = %d", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on a cancelled ctx = %v", err)
	}
}

func TestPickFormat(t *testing.T) {
	offered := map[PixelFormat]bool{FormatYUYV: true, FormatMJPEG: true}
	tests := []struct {
		prefs []PixelFormat
		want  PixelFormat
		err   bool
	}{
		{[]PixelFormat{FormatH264, FormatMJPEG, FormatYUYV}, FormatMJPEG, false},
		{[]PixelFormat{FormatYUYV, FormatMJPEG}, FormatYUYV, false},
		{[]PixelFormat{FormatNV12}, 0, true},
	}
	for _, tc := range tests {
		got, err := pickFormat(tc.prefs, offered)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("pickFormat(%v) = %v, %v", tc.prefs, got, err)
		}
		if err != nil && !errors.Is(err, ErrNoFormat) {
			t.Errorf("error %v is not ErrNoFormat", err)
		}
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		f    Format
		size int
		name string
	}{
		{Format{Pixel: FormatYUYV, Width: 640, Height: 480}, 640 * 480 * 2, "YUYV"},
		{Format{Pixel: FormatYUYV, Width: 640, Height: 480, Stride: 1296}, 1296 * 480, "YUYV"},
		{Format{Pixel: FormatNV12, Width: 640, Height: 480}, 640 * 480 * 3 / 2, "NV12"},
		{Format{Pixel: FormatGREY, Width: 320, Height: 240}, 320 * 240, "GREY"},
		{Format{Pixel: FormatMJPEG, Width: 320, Height: 240}, 320 * 240 * 2, "MJPEG"},
		{Format{Pixel: fourcc('Y', 'V', '1', '2'), Width: 2, Height: 2}, 8, "YV12"},
	}
	for _, tc := range tests {
		if got := tc.f.FrameSize(); got != tc.size {
			t.Errorf("%v FrameSize = %d, want %d", tc.f, got, tc.size)
		}
		if tc.f.Pixel.String() != tc.name {
			t.Errorf("String = %q, want %q", tc.f.Pixel, tc.name)
		}
	}
	for _, n := range FormatNames() {
		f, err := ParseFormat(n)
		if err != nil || f.String() != n {
			t.Errorf("ParseFormat(%q) = %v, %v", n, f, err)
		}
	}
}

// BenchmarkPublish shows fan-out to three consumers costs no allocation.
func BenchmarkPublish(b *testing.B) {
	p := NewPool(16, 640*480*2)
	var h Hub
	qs := []*Queue{h.Subscribe("motion", 2), h.Subscribe("recorder", 4), h.Subscribe("live", 1)}
	b.ReportAllocs()
	for b.Loop() {
		f, err := p.Get()
		if err != nil {
			b.Fatal(err)
		}
		h.Publish(f)
		f.Release()
		for _, q := range qs {
			if g := q.TryNext(); g != nil {
				g.Release()
			}
		}
	}
}
