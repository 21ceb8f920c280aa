package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
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
			c.roFlag = func(string) (bool, error) { return false, nil }
			c.writeProbe = func(string) error { return nil }
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

// TestProbeReadOnlyAfterError: a card the kernel turned read-only after an
// error is read-only whatever the mount table spells — "emergency_ro" beside
// "rw" (ext4 on newer kernels), only the statfs flag, or only a refused
// write.
func TestProbeReadOnlyAfterError(t *testing.T) {
	table := filepath.Join(t.TempDir(), "mounts")
	const emergency = "/dev/vda /mnt/sd ext4 rw,relatime,emergency_ro 0 0\n/dev/vdb /mnt/plain ext4 rw,relatime 0 0\n"
	if err := os.WriteFile(table, []byte(emergency), 0o644); err != nil {
		t.Fatal(err)
	}
	okFS := func(string) (uint64, uint64, error) { return 50 << 20, 64 << 20, nil }
	rw := func(string) (bool, error) { return false, nil }
	writes := func(string) error { return nil }
	tests := []struct {
		name   string
		mount  string
		roFlag func(string) (bool, error)
		probe  func(string) error
		want   string
	}{
		{"emergency_ro option", "/mnt/sd", rw, writes, StateReadOnly},
		{"statfs ST_RDONLY", "/mnt/plain", func(string) (bool, error) { return true, nil }, writes, StateReadOnly},
		{"write refused EROFS", "/mnt/plain", rw, func(string) error { return syscall.EROFS }, StateReadOnly},
		{"write fails EIO", "/mnt/plain", rw, func(string) error { return syscall.EIO }, StateIOError},
		{"all say writable", "/mnt/plain", rw, writes, StateWritable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCard(tc.mount, WithStatFS(okFS), WithReadOnlyFlag(tc.roFlag), WithWriteProbe(tc.probe))
			c.MountTable = table
			h := c.Probe()
			if h.State != tc.want {
				t.Fatalf("Probe = %+v, want %s", h, tc.want)
			}
			if (h.State == StateWritable) != (h.Err == nil) {
				t.Errorf("Err = %v for state %s", h.Err, h.State)
			}
		})
	}
}

// TestProbeWriteSchedule: the write probe runs at most every
// WriteProbeEvery (it costs a write on the card), and its failure is
// remembered until the next one.
func TestProbeWriteSchedule(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, "mounts")
	if err := os.WriteFile(table, []byte("/dev/vda /mnt/sd ext4 rw 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	probes := 0
	var fail error
	c := NewCard("/mnt/sd", WithStatFS(func(string) (uint64, uint64, error) { return 50 << 20, 64 << 20, nil }),
		WithReadOnlyFlag(func(string) (bool, error) { return false, nil }),
		WithWriteProbe(func(string) error { probes++; return fail }))
	c.MountTable, c.Now = table, func() time.Time { return now }
	for range 3 {
		if h := c.Probe(); h.State != StateWritable {
			t.Fatalf("Probe = %+v", h)
		}
	}
	if probes != 1 {
		t.Errorf("%d write probes in one interval, want 1", probes)
	}
	fail = syscall.EROFS
	now = now.Add(c.WriteProbeEvery)
	if h := c.Probe(); h.State != StateReadOnly || probes != 2 {
		t.Fatalf("after the interval: Probe = %+v after %d probes, want read-only after 2", h, probes)
	}
	now = now.Add(time.Second)
	if h := c.Probe(); h.State != StateReadOnly || probes != 2 {
		t.Errorf("within the next interval: Probe = %+v after %d probes, want the remembered read-only", h, probes)
	}
}

// TestProbeWriteReal runs the real write probe and statfs flags on a
// temporary folder: writable, and nothing left behind.
func TestProbeWriteReal(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("statfs is Linux only")
	}
	dir := t.TempDir()
	mount := filepath.Join(dir, "sd")
	if err := os.Mkdir(mount, 0o755); err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(dir, "mounts")
	if err := os.WriteFile(table, []byte("/dev/vda "+mount+" ext4 rw 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewCard(mount)
	c.MountTable, c.MinFree = table, 0
	if h := c.Probe(); h.State != StateWritable {
		t.Fatalf("Probe = %+v", h)
	}
	if ents, _ := os.ReadDir(mount); len(ents) != 0 {
		t.Errorf("the write probe left %v", ents)
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

// FuzzRunRecord reads the run record (camagent/state.json) as a card from
// elsewhere, or damaged, may hold it: an error or a record, never a panic,
// and a record that saves and loads back the same.
func FuzzRunRecord(f *testing.F) {
	f.Add([]byte(`{"boot_id":"b1","version":"v1","started":"2026-01-01T00:00:00Z","clean_shutdown":true,"frames":42}`))
	f.Add([]byte(`{garbage`))
	f.Add([]byte(`{"frames":-1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := NewCard(t.TempDir())
		if err := os.MkdirAll(c.Dir(), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c.Dir(), "state.json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		rec, ok, err := c.LoadRunRecord()
		if err != nil || !ok {
			return
		}
		if err := c.SaveRunRecord(rec); err != nil {
			t.Fatal(err)
		}
		again, ok, err := c.LoadRunRecord()
		if err != nil || !ok || !again.Started.Equal(rec.Started) || again.BootID != rec.BootID || again.Frames != rec.Frames {
			t.Errorf("saved %+v, loaded %+v %v %v", rec, again, ok, err)
		}
	})
}

// FuzzFindMount reads mount tables as the kernel could write them (escapes,
// odd fields, long lines): a mount or none, never a panic, and a mount point
// found is the one asked for.
func FuzzFindMount(f *testing.F) {
	f.Add([]byte(mounts), "/mnt/ro card")
	f.Add([]byte("/dev/vda /mnt/sd ext4 rw,emergency_ro 0 0\n"), "/mnt/sd")
	f.Add([]byte("/dev/vda /mnt/\\04 x\n"), "/mnt/\\04")
	f.Fuzz(func(t *testing.T, table []byte, dir string) {
		m, ok, err := findMount(bytes.NewReader(table), dir)
		if err != nil || !ok {
			return
		}
		if m.device == "" || m.fstype == "" {
			t.Errorf("mount of %q with an empty device or type: %+v", dir, m)
		}
		if m.readOnly != (m.roOption != "") {
			t.Errorf("read-only %v but option %q", m.readOnly, m.roOption)
		}
	})
}
