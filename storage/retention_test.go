package storage_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/storagetest"
)

// TestRetentionSnapshots: the owner's snapshots are under the clips'
// retention: by the same rules (uploaded ones first, oldest first, for the
// free floor and the quota; ones not uploaded only below the critical
// floor), taken in with the clips by time, with their sidecars, and counted
// in the quota.
func TestRetentionSnapshots(t *testing.T) {
	// Items by time: clips c0 c1 c2 at 0, 2, 4 min; snapshots s0 s1 s2 at
	// 1, 3, 5 min, each about a clip's size.
	items := []string{"c0", "s0", "c1", "s1", "c2", "s2"}
	type want struct {
		item   string
		reason string
	}
	for _, tc := range []struct {
		name                         string
		uploaded                     []string
		free, floor, critical, quota float64 // in item sizes
		want                         []want
	}{
		{name: "enough space", uploaded: []string{"s0"}, free: 10, floor: 5, critical: 2},
		{name: "free floor: oldest uploaded first", uploaded: []string{"c0", "s0", "s1"}, free: 3.5, floor: 5, critical: 2,
			want: []want{{"c0", storage.ReasonFreeFloor}, {"s0", storage.ReasonFreeFloor}}},
		{name: "free floor: never one not uploaded", uploaded: []string{"s1"}, free: 2.5, floor: 5, critical: 2,
			want: []want{{"s1", storage.ReasonFreeFloor}}},
		{name: "critical floor: then oldest not uploaded", uploaded: []string{"c1"}, free: 0.5, floor: 5, critical: 3,
			want: []want{{"c1", storage.ReasonFreeFloor}, {"c0", storage.ReasonCriticalFloor}, {"s0", storage.ReasonCriticalFloor}}},
		{name: "quota counts snapshots", uploaded: []string{"s0", "c2"}, free: 20, floor: 5, critical: 2, quota: 4.5,
			want: []want{{"s0", storage.ReasonQuota}, {"c2", storage.ReasonQuota}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := storagetest.NewCard(t, 1<<30)
			s, _ := newStore(t, card, storage.StoreConfig{})
			names := map[string]string{}
			for i := range 3 {
				names[items[2*i]] = sealClip(t, s, t0.Add(time.Duration(2*i)*time.Minute), 10+uint64(i), 10).Name
			}
			size := int(s.Status().Bytes / 3)
			dir := filepath.Join(card.Dir(), storage.SnapshotsDir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				base := t0.Add(time.Duration(2*i+1)*time.Minute).UTC().Format("20060102-150405") + "-f7"
				names[items[2*i+1]] = storage.SnapshotsDir + "/" + base
				write(t, filepath.Join(dir, base+".jpg"), fakeJPEG(size-400, byte(i)))
				write(t, filepath.Join(dir, base+".manifest"), make([]byte, 400))
			}
			for _, u := range tc.uploaded {
				if u[0] == 'c' {
					if err := s.MarkUploaded(names[u]); err != nil {
						t.Fatal(err)
					}
				} else {
					write(t, filepath.Join(card.Dir(), names[u]+".uploaded"), nil)
				}
			}
			b := func(k float64) uint64 { return uint64(k * float64(size)) }
			card.SetCapacity(card.Used() + b(tc.free))
			var deleted []storage.Deletion
			s2, _ := newStore(t, card, storage.StoreConfig{
				Retention: storage.Retention{FreeFloor: b(tc.floor), CriticalFloor: b(tc.critical), Quota: b(tc.quota)},
				OnDelete:  func(d storage.Deletion) { deleted = append(deleted, d) },
			})
			got, err := s2.Enforce()
			if err != nil || got != len(tc.want) || len(deleted) != len(tc.want) {
				t.Fatalf("Enforce = %d, %v; deleted %+v; want %v", got, err, deleted, tc.want)
			}
			for i, w := range tc.want {
				d := deleted[i]
				if d.Name != names[w.item] || d.Reason != w.reason || d.Uploaded != slices.Contains(tc.uploaded, w.item) ||
					d.Snapshot != (w.item[0] == 's') || d.Size <= 0 {
					t.Errorf("deletion %d = %+v, want %s (%s) for %s", i, d, w.item, names[w.item], w.reason)
				}
			}
			// What was deleted is gone with its sidecars; the rest is there.
			for _, it := range items {
				gone := slices.ContainsFunc(tc.want, func(w want) bool { return w.item == it })
				var files []string
				if it[0] == 's' {
					files = []string{names[it] + ".jpg", names[it] + ".manifest"}
				} else {
					files = []string{"clips/" + names[it] + ".mp4", "clips/" + names[it] + ".json"}
				}
				for _, f := range files {
					if _, err := os.Stat(filepath.Join(card.Dir(), f)); (err == nil) == gone {
						t.Errorf("%s (%s): exists %v, deleted %v", it, f, err == nil, gone)
					}
				}
			}
		})
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
