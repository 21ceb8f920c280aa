package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Realtime plays a recorded or generated source (a Y4M file, a synthetic
// scene) at the pace of its frame timestamps, restamped with the wall clock,
// as a camera would deliver them; with Loop it opens the source again when it
// ends. It is what lets the whole agent run on a laptop or in CI without a
// camera.
type Realtime struct {
	open  func() (Source, error)
	loop  bool
	now   func() time.Time
	src   Source
	timer *time.Timer

	first    time.Time // the source's timestamp of the frame played at wallBase
	wallBase time.Time
	seq      uint64
}

// NewRealtime opens the source and returns it paced to the wall clock.
func NewRealtime(open func() (Source, error), loop bool) (*Realtime, error) {
	src, err := open()
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Realtime{open: open, loop: loop, now: time.Now, src: src, timer: t}, nil
}

// Format returns the source's format.
func (r *Realtime) Format() Format { return r.src.Format() }

// Next waits until the next frame is due and returns it.
func (r *Realtime) Next(ctx context.Context) (*Frame, error) {
	f, err := r.src.Next(ctx)
	if errors.Is(err, io.EOF) && r.loop {
		if cerr := r.src.Close(); cerr != nil {
			return nil, fmt.Errorf("capture: close for replay: %w", cerr)
		}
		if r.src, err = r.open(); err != nil {
			return nil, fmt.Errorf("capture: reopen for replay: %w", err)
		}
		r.wallBase = time.Time{}
		f, err = r.src.Next(ctx)
	}
	if err != nil {
		return nil, err
	}
	if r.wallBase.IsZero() {
		r.first, r.wallBase = f.Time, r.now()
	}
	due := r.wallBase.Add(f.Time.Sub(r.first))
	if d := due.Sub(r.now()); d > 0 {
		r.timer.Reset(d)
		select {
		case <-ctx.Done():
			r.timer.Stop()
			f.Release()
			return nil, ctx.Err()
		case <-r.timer.C:
		}
	}
	f.Time, f.Seq = due, r.seq
	r.seq++
	return f, nil
}

// Close closes the source.
func (r *Realtime) Close() error {
	r.timer.Stop()
	return r.src.Close()
}
