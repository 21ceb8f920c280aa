package recorder

import (
	"context"
	"errors"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/storagetest"
)

// TestCardComesAndGoes runs one long event while the card changes state at
// given frame times; the recorder must keep taking frames and record
// whenever the card is writable.
func TestCardComesAndGoes(t *testing.T) {
	type change struct {
		at    float64
		state string // a card state, or "fail"/"heal" for write errors
	}
	for _, tc := range []struct {
		name    string
		changes []change
		clips   int        // sealed clips at the end
		first   [2]float64 // the first clip starts in this range
		lastEnd float64
		seen    string // a card state Status reported on the way
	}{
		{name: "read-only at start, writable later", changes: []change{{0, storage.StateReadOnly}, {20, storage.StateWritable}},
			clips: 1, first: [2]float64{17, 21.5}, lastEnd: 38, seen: storage.StateReadOnly},
		{name: "missing at start, inserted later", changes: []change{{0, storage.StateMissing}, {20, storage.StateWritable}},
			clips: 1, first: [2]float64{17, 21.5}, lastEnd: 38, seen: storage.StateMissing},
		{name: "removed while recording, then back", changes: []change{{12, storage.StateMissing}, {20, storage.StateWritable}},
			clips: 2, first: [2]float64{3, 3}, lastEnd: 38, seen: storage.StateMissing},
		{name: "remounted read-only while recording, then writable", changes: []change{{12, storage.StateReadOnly}, {20, storage.StateWritable}},
			clips: 2, first: [2]float64{3, 3}, lastEnd: 38, seen: storage.StateReadOnly},
		{name: "I/O errors while recording, then healed", changes: []change{{12, "fail"}, {20, "heal"}},
			clips: 2, first: [2]float64{3, 3}, lastEnd: 38, seen: storage.StateIOError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := storagetest.NewCard(t, 0)
			files := &storagetest.FailingFiles{Err: syscall.EIO}
			src := mjpegSource(40, 10, 800)
			var r *rig
			var seen []string
			var mu sync.Mutex
			src.hook = func(i int) {
				for _, c := range tc.changes {
					if i == int(c.at*10) {
						switch c.state {
						case "fail":
							files.Fail(true)
						case "heal":
							files.Fail(false)
						default:
							card.SetState(c.state)
						}
					}
				}
				if i%10 == 0 {
					mu.Lock()
					seen = append(seen, r.rec.Status().Card)
					mu.Unlock()
				}
			}
			r = newRig(t, card, storage.StoreConfig{CreateFile: files.Create, IOErrorHold: time.Nanosecond}, Config{}, src)
			r.rec.Notify(Event{ID: 1, Start: at(5), End: at(35)})
			r.run(t)
			clips := r.clips(t)
			if len(clips) != tc.clips {
				t.Fatalf("%d clips, want %d", len(clips), tc.clips)
			}
			if s := secs(clips[0].meta.Start); s < tc.first[0]-0.001 || s > tc.first[1]+0.001 {
				t.Errorf("first clip starts at %.1f, want in %v", s, tc.first)
			}
			last := clips[len(clips)-1]
			if e := secs(last.meta.End); e != tc.lastEnd {
				t.Errorf("last clip ends at %.1f, want %.1f", e, tc.lastEnd)
			}
			if tc.clips == 2 {
				// The clip cut by the failure was recovered up to its last
				// fragment, and the event went on in part 2.
				if !clips[0].meta.Recovered || secs(clips[0].meta.End) > 13 || last.meta.Part != 2 {
					t.Errorf("first clip %+v, last part %d", clips[0].meta, last.meta.Part)
				}
			}
			st := r.rec.Status()
			if st.Frames != uint64(src.n) || st.Unrecorded == 0 || st.Card != storage.StateWritable || st.State != "idle" {
				t.Errorf("status %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Contains(seen, tc.seen) {
				t.Errorf("status never showed %s: %v", tc.seen, seen)
			}
		})
	}
}

// TestFullCard records many events on a small card: retention deletes the
// oldest uploaded clips first, clips not uploaded only below the critical
// floor, and recording goes on.
func TestFullCard(t *testing.T) {
	card := storagetest.NewCard(t, 1200<<10)
	var store *storage.Store
	var deleted []storage.Deletion
	var sealed []string
	uploaded := map[string]bool{}
	scfg := storage.StoreConfig{
		Retention: storage.Retention{FreeFloor: 500 << 10, CriticalFloor: 200 << 10},
		OnComplete: func(c storage.ClipInfo) {
			sealed = append(sealed, c.Name)
			if len(sealed)%2 == 1 && len(sealed) < 12 { // the uplink sent every other clip, then stopped
				if err := store.MarkUploaded(c.Name); err != nil {
					t.Error(err)
				}
				uploaded[c.Name] = true
			}
		},
		OnDelete: func(d storage.Deletion) { deleted = append(deleted, d) },
	}
	src := mjpegSource(300, 10, 2000)
	r := newRig(t, card, scfg, Config{PreRoll: time.Second, PostRoll: time.Second}, src)
	store = r.store
	// An event of 1 s every 10 s, reported as it happens: clips of about
	// 3 s, 60 kB.
	src.hook = func(i int) {
		id := uint64(i/100 + 1)
		switch i % 100 {
		case 50:
			r.rec.Notify(Event{ID: id, Start: at(float64(i) / 10)})
		case 60:
			r.rec.Notify(Event{ID: id, Start: at(float64(i-10) / 10), End: at(float64(i) / 10)})
		}
	}
	r.run(t)
	if len(sealed) != 30 {
		t.Fatalf("%d clips sealed, want 30", len(sealed))
	}
	if len(deleted) == 0 {
		t.Fatal("retention deleted nothing")
	}
	var upOrder, newOrder []string
	for _, d := range deleted {
		if d.Uploaded != uploaded[d.Name] {
			t.Errorf("deletion %+v: uploaded is %v", d, uploaded[d.Name])
		}
		switch {
		case d.Uploaded && d.Reason == storage.ReasonFreeFloor:
			upOrder = append(upOrder, d.Name)
		case !d.Uploaded && d.Reason == storage.ReasonCriticalFloor:
			newOrder = append(newOrder, d.Name)
		default:
			t.Errorf("deletion %+v", d)
		}
	}
	if !slices.IsSorted(upOrder) || !slices.IsSorted(newOrder) {
		t.Errorf("not oldest first: uploaded %v, not uploaded %v", upOrder, newOrder)
	}
	if len(upOrder) != len(uploaded) {
		t.Errorf("deleted %d of the %d uploaded clips before clips not uploaded", len(upOrder), len(uploaded))
	}
	if len(newOrder) == 0 {
		t.Error("the card never got below the critical floor")
	}
	// The uploaded clips went first.
	firstNew := slices.IndexFunc(deleted, func(d storage.Deletion) bool { return !d.Uploaded })
	for _, d := range deleted[max(firstNew, 0):] {
		if d.Uploaded {
			t.Errorf("uploaded clip %s deleted after a clip that was not uploaded", d.Name)
		}
	}
	if free := 1200<<10 - card.Used(); free < 200<<10-100<<10 {
		t.Errorf("card left with %d bytes free", free)
	}
	if st := r.rec.Status(); st.Frames != uint64(src.n) || st.Clips != 30 {
		t.Errorf("status %+v", st)
	}
}

// TestCardTooSmall: nothing can be deleted and the card stays full; the
// recorder keeps running and reports it.
func TestCardTooSmall(t *testing.T) {
	card := storagetest.NewCard(t, 30<<10)
	src := mjpegSource(20, 10, 2000)
	r := newRig(t, card, storage.StoreConfig{Retention: storage.Retention{FreeFloor: 8 << 10, CriticalFloor: 4 << 10}}, Config{}, src)
	r.rec.Notify(Event{ID: 1, Start: at(5), End: at(15)})
	r.run(t)
	st := r.rec.Status()
	if st.Frames != uint64(src.n) || st.Unrecorded == 0 {
		t.Errorf("status %+v", st)
	}
	for _, c := range r.clips(t) {
		t.Logf("clip %s with %d frames", c.info.Name, c.meta.Frames)
	}
}

// TestIdleSeal: the camera stops in the middle of an event; the clip is
// sealed after IdleSeal of wall time without frames.
func TestIdleSeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := mjpegSource(10, 10, 500)
		src.block = true
		r := newRig(t, nil, storage.StoreConfig{}, Config{IdleSeal: 30 * time.Second}, src)
		r.rec.Notify(Event{ID: 1, Start: at(5)})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.rec.Run(ctx) }()
		synctest.Wait()
		if st := r.rec.Status(); st.State != "recording" {
			t.Fatalf("state %s before the idle time", st.State)
		}
		time.Sleep(31 * time.Second) // fake time in the bubble
		synctest.Wait()
		if st := r.rec.Status(); st.State != "idle" || st.Clips != 1 {
			t.Errorf("after the idle time: %+v", st)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v", err)
		}
		clips := r.clips(t)
		if len(clips) != 1 || secs(clips[0].meta.End) != 9.9 {
			t.Errorf("clips %+v", clips)
		}
	})
}
