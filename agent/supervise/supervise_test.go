package supervise

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakePart fails the first failN runs, then runs until its context ends.
type fakePart struct {
	name  string
	failN int
	runs  []time.Time
	hang  chan struct{} // if set, the final run ignores ctx until it is closed
}

func (p *fakePart) Name() string { return p.name }
func (p *fakePart) Run(ctx context.Context) error {
	p.runs = append(p.runs, time.Now())
	if len(p.runs) <= p.failN {
		return errors.New("device vanished")
	}
	if p.hang != nil {
		<-p.hang
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestRestartWithBackoff(t *testing.T) {
	tests := []struct {
		name  string
		failN int
		want  []time.Duration // gaps between consecutive runs
	}{
		{"healthy", 0, nil},
		{"fails once", 1, []time.Duration{500 * time.Millisecond}},
		{"fails thrice", 3, []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := &fakePart{name: "capture", failN: tc.failN}
				s := New(Config{}, p)
				ctx, cancel := context.WithCancel(t.Context())
				errc := make(chan error, 1)
				go func() { errc <- s.Run(ctx, time.Second) }()
				time.Sleep(time.Minute) // virtual time: long enough for every restart
				synctest.Wait()
				st := s.Status()[0]
				if st.State != StateRunning || st.Restarts != tc.failN {
					t.Errorf("status = %+v, want running with %d restarts", st, tc.failN)
				}
				if tc.failN > 0 && st.LastError != "device vanished" {
					t.Errorf("last error = %q", st.LastError)
				}
				var gaps []time.Duration
				for i := 1; i < len(p.runs); i++ {
					gaps = append(gaps, p.runs[i].Sub(p.runs[i-1]))
				}
				if len(gaps) != len(tc.want) {
					t.Fatalf("gaps = %v, want %v", gaps, tc.want)
				}
				for i := range gaps {
					if gaps[i] != tc.want[i] {
						t.Errorf("gap %d = %v, want %v", i, gaps[i], tc.want[i])
					}
				}
				cancel()
				if err := <-errc; err != nil {
					t.Errorf("Run = %v, want clean shutdown", err)
				}
				if st := s.Status()[0]; st.State != StateStopped {
					t.Errorf("after shutdown state = %s", st.State)
				}
			})
		})
	}
}

func TestRestartOnRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fakePart{name: "capture"}
		s := New(Config{}, p)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx, time.Second) }()
		synctest.Wait()
		if !s.Restart("capture") {
			t.Fatal("Restart(capture) = false")
		}
		if s.Restart("nope") {
			t.Error("Restart(nope) = true")
		}
		synctest.Wait()
		if len(p.runs) != 2 || p.runs[1] != p.runs[0] {
			t.Errorf("runs = %v, want an immediate second run", p.runs)
		}
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	})
}

func TestShutdownTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stuck := &fakePart{name: "recorder", hang: make(chan struct{})}
		s := New(Config{}, &fakePart{name: "capture"}, stuck)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx, 3*time.Second) }()
		synctest.Wait()
		start := time.Now()
		cancel()
		err := <-errc
		if !errors.Is(err, ErrShutdownTimeout) {
			t.Fatalf("Run = %v, want ErrShutdownTimeout", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("gave up after %v, want 3s", d)
		}
		if got := err.Error(); got != "supervise: parts did not stop in time (recorder after 3s)" {
			t.Errorf("error = %q", got)
		}
		close(stuck.hang)
		synctest.Wait()
	})
}

// orderPart records when it was told to stop, and takes a while to return.
type orderPart struct {
	name   string
	log    *stopLog
	linger time.Duration
}

type stopLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *stopLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *stopLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, ", ")
}

func (p *orderPart) Name() string { return p.name }
func (p *orderPart) Run(ctx context.Context) error {
	<-ctx.Done()
	p.log.add(p.name)
	time.Sleep(p.linger) // virtual time: the recorder sealing its clip
	p.log.add(p.name + " done")
	return ctx.Err()
}

// TestStagedShutdown: stages start last first and stop in order, each one
// waited for before the next is told to stop; a stage that overruns its own
// bound is reported and the later stages still stop.
func TestStagedShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stopped := &stopLog{}
		capture := &orderPart{name: "capture", log: stopped}
		recorder := &orderPart{name: "recorder", log: stopped, linger: 3 * time.Second}
		upload := &orderPart{name: "upload", log: stopped, linger: time.Minute}
		board := &orderPart{name: "board", log: stopped}
		s := NewStaged(Config{},
			Stage{Name: "capture", Parts: []Part{capture}},
			Stage{Name: "recorder", Grace: 10 * time.Second, Parts: []Part{recorder}},
			Stage{Name: "upload", Grace: 5 * time.Second, Parts: []Part{upload}},
			Stage{Name: "board", Parts: []Part{board}},
		)
		var started []string
		for _, st := range s.Status() {
			started = append(started, st.Name)
		}
		if got, want := strings.Join(started, " "), "board upload recorder capture"; got != want {
			t.Errorf("start order %q, want %q", got, want)
		}
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- s.Run(ctx, time.Second) }()
		synctest.Wait()
		cancel()
		err := <-errc
		if !errors.Is(err, ErrShutdownTimeout) || !strings.Contains(err.Error(), "upload after 5s") {
			t.Errorf("Run = %v, want the upload stage reported as stuck", err)
		}
		want := "capture, capture done, recorder, recorder done, upload, board, board done"
		if got := stopped.String(); got != want {
			t.Errorf("stop order:\n got %s\nwant %s", got, want)
		}
		time.Sleep(time.Minute) // let the stuck part end inside the bubble
	})
}
