package atomicfile_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/camagent/camagent/storage/atomicfile"
)

func TestWriteFileReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	for i, content := range []string{"first", "second, longer than the first", "3"} {
		perm := os.FileMode(0o600)
		if i == 1 {
			perm = 0o644
		}
		if err := atomicfile.WriteFile(path, []byte(content), perm); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("write %d: read back %q, %v; want %q", i, got, err, content)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != perm {
			t.Errorf("write %d: mode %v, want %v", i, st.Mode().Perm(), perm)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only key.pem (no temporary files left)", names)
	}
}

func TestWriteFileRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	if err := atomicfile.WriteFile("plain", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile("plain"); err != nil || string(b) != "x" {
		t.Fatalf("read back %q, %v", b, err)
	}
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	// The directory does not exist: the error names the path and nothing is
	// created.
	missing := filepath.Join(dir, "no", "such", "file")
	err := atomicfile.WriteFile(missing, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), missing) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("write into a missing directory: %v; want a not-exist error naming %s", err, missing)
	}
	// The target is a non-empty directory: the rename fails, the old
	// content stays and the temporary file is removed.
	target := filepath.Join(dir, "taken")
	if err := os.MkdirAll(filepath.Join(target, "inside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.WriteFile(target, []byte("x"), 0o644); err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "taken" {
		t.Errorf("after a failed write the directory holds %d entries, want only the old target", len(entries))
	}
}

func TestSyncDir(t *testing.T) {
	if err := atomicfile.SyncDir(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.SyncDir(filepath.Join(t.TempDir(), "gone")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("sync of a missing directory: %v, want a not-exist error", err)
	}
}

func TestReadFileMax(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max     int64
		wantErr error
	}{
		{max: 100},
		{max: 10},
		{max: 9, wantErr: atomicfile.ErrTooLarge},
		{max: 0, wantErr: atomicfile.ErrTooLarge},
	} {
		b, err := atomicfile.ReadFileMax(path, tc.max)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("max %d: %v; want %v naming the path", tc.max, err, tc.wantErr)
			}
			continue
		}
		if err != nil || string(b) != "0123456789" {
			t.Errorf("max %d: %q, %v", tc.max, b, err)
		}
	}
	if _, err := atomicfile.ReadFileMax(filepath.Join(dir, "missing"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want a not-exist error", err)
	}
}

func TestReadMaxReaderError(t *testing.T) {
	boom := errors.New("boom")
	_, err := atomicfile.ReadMax(iotest.ErrReader(boom), "body", 10)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "body") {
		t.Fatalf("%v; want the reader's error naming body", err)
	}
	// It stops after max+1 bytes even when the reader has more.
	r := bytes.NewReader(make([]byte, 1<<20))
	if _, err := atomicfile.ReadMax(r, "big", 16); !errors.Is(err, atomicfile.ErrTooLarge) {
		t.Fatalf("%v, want ErrTooLarge", err)
	}
	if r.Len() != 1<<20-17 {
		t.Errorf("read %d bytes, want 17", 1<<20-r.Len())
	}
}
