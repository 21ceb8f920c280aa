package storage

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

const mounts = `sysfs /sys sysfs rw,nosuid 0 0
/dev/root / ext4 rw,relatime 0 0
/dev/vda /mnt/sd vfat rw,relatime,fmask=0022 0 0
/dev/vdb /mnt/ro\040card ext4 ro,relatime 0 0
/dev/vdc /mnt/twice ext4 ro 0 0
/dev/vdd /mnt/twice ext4 rw 0 0
`

func TestProbe(t *testing.T) {
	table := filepath.Join(t.TempDir(), "mounts")
	if err := os.WriteFile(table, []byte(mounts), 0o644); err != nil {
		t.Fatal(err)
	}
	okFS := func(string) (uint64, uint64, error) { return 50 << 20, 64 << 20, nil }
	fullFS := func(string) (uint64, uint64, error) { return 1000, 64 << 20, nil }
	badFS := func(string) (uint64, uint64, error) { return 0, 0, errors.New("EIO") }
	tests := []struct {
		name   string
		mount  string
		table  string
		statfs func(string) (uint64, uint64, error)
		want   string
		device string
	}{
		{"writable", "/mnt/sd", table, okFS, StateWritable, "/dev/vda"},
		{"trailing slash", "/mnt/sd/", table, okFS, StateWritable, "/dev/vda"},
		{"read-only with escaped space", "/mnt/ro card", table, okFS, StateReadOnly, "/dev/vdb"},
		{"last mount wins", "/mnt/twice", table, okFS, StateWritable, "/dev/vdd"},
		{"not mounted", "/mnt/none", table, okFS, StateMissing, ""},
		{"parent mounted is not enough", "/mnt", table, okFS, StateMissing, ""},
		{"full", "/mnt/sd", table, fullFS, StateFull, "/dev/vda"},
		{"statfs fails", "/mnt/sd", table, badFS, StateMissing, "/dev/vda"},
		{"no mount table", "/mnt/sd", filepath.Join(t.TempDir(), "nope"), okFS, StateMissing, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCard(tc.mount)
			c.MountTable, c.statfs = tc.table, tc.statfs
			h := c.Probe()
			if h.State != tc.want || h.Device != tc.device {
				t.Errorf("Probe = %+v, want state %s device %q", h, tc.want, tc.device)
			}
			if (h.State == StateWritable) != (h.Err == nil) {
				t.Errorf("Err = %v for state %s", h.Err, h.State)
			}
		})
	}
}

func TestRunRecord(t *testing.T) {
	c := NewCard(t.TempDir())
	if _, ok, err := c.LoadRunRecord(); ok || err != nil {
		t.Fatalf("empty card: ok=%v err=%v", ok, err)
	}
	rec := RunRecord{BootID: "b1", Version: "v1", Started: time.Unix(100, 0).UTC(), Frames: 42}
	if err := c.SaveRunRecord(rec); err != nil {
		t.Fatal(err)
	}
	rec.CleanShutdown, rec.Stopped = true, time.Unix(200, 0).UTC()
	if err := c.SaveRunRecord(rec); err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.LoadRunRecord()
	if err != nil || !ok || got != rec {
		t.Errorf("LoadRunRecord = %+v %v %v, want %+v", got, ok, err, rec)
	}
	entries, _ := os.ReadDir(c.Dir())
	if len(entries) != 1 {
		t.Errorf("card folder holds %d entries, want only state.json (no temp files left)", len(entries))
	}
	if err := os.WriteFile(filepath.Join(c.Dir(), "state.json"), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.LoadRunRecord(); err == nil {
		t.Error("corrupt record: no error")
	}
}

func TestWriteFileAtomicFailsCleanly(t *testing.T) {
	err := WriteFileAtomic(filepath.Join(t.TempDir(), "missing", "x"), []byte("x"), 0o644)
	if err == nil {
		t.Fatal("write into a missing folder succeeded")
	}
}
