package logsum

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// lines returns a logger writing "level msg state=... count=..." lines,
// without times, and the buffer.
func lines() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	h := slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	return slog.New(h), &b
}

func TestCondition(t *testing.T) {
	frame := 40 * time.Millisecond
	tests := []struct {
		name string
		cfg  Config
		run  func(c *Condition) // notes and ticks at frame times
		want []string           // the lines, in order
	}{
		{
			name: "once", cfg: Config{Interval: time.Second},
			run: func(c *Condition) {
				c.Note(t0, "rebase")
				for i := 1; i < 100; i++ {
					c.Tick(t0.Add(time.Duration(i) * frame))
				}
			},
			want: []string{`level=INFO msg=m state=started detail=rebase`},
		},
		{
			// Twice a second for 10 s, as the issue saw: a start line, a
			// summary per interval (every 2 s), an end line.
			name: "flood", cfg: Config{Interval: 2 * time.Second},
			run: func(c *Condition) {
				for i := range 500 { // 20 s of frames
					now := t0.Add(time.Duration(i) * frame)
					if i < 250 && i%12 == 0 {
						c.Note(now, "picture moved")
					}
					c.Tick(now)
				}
			},
			want: []string{
				`level=INFO msg=m state=started detail="picture moved"`,
				`level=INFO msg=m state=repeating count=5 over=2.4s detail="picture moved"`,
				`level=INFO msg=m state=repeating count=5 over=2.4s detail="picture moved"`,
				`level=INFO msg=m state=repeating count=5 over=2.4s detail="picture moved"`,
				`level=INFO msg=m state=repeating count=5 over=2.4s detail="picture moved"`,
				`level=INFO msg=m state=ended count=21 for=9.6s detail="picture moved"`,
			},
		},
		{
			name: "warn with an error, then a second spell", cfg: Config{Level: slog.LevelWarn, Interval: time.Second},
			run: func(c *Condition) {
				err := errors.New("truncated")
				c.Note(t0, err)
				c.Note(t0.Add(frame), err)
				c.Tick(t0.Add(frame + time.Second))
				c.Note(t0.Add(5*time.Second), err)
			},
			want: []string{
				`level=WARN msg=m state=started detail=truncated`,
				`level=WARN msg=m state=ended count=2 for=40ms detail=truncated`,
				`level=WARN msg=m state=started detail=truncated`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, buf := lines()
			c := New(log, "m", tt.cfg)
			tt.run(c)
			got := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if buf.Len() == 0 {
				got = nil
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestQuietAllocs: counting and ticking between the lines allocate nothing.
func TestQuietAllocs(t *testing.T) {
	log, _ := lines()
	c := New(log, "m", Config{Interval: time.Hour})
	c.Note(t0, "x")
	now := t0
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		c.Note(now, "x")
		c.Tick(now)
	}); n != 0 {
		t.Fatalf("%v allocations per note", n)
	}
	if !c.Active() {
		t.Fatal("not active")
	}
}
