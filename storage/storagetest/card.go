package storagetest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/camagent/camagent/storage"
)

// Card is a fake SD card.
type Card struct {
	*storage.Card
	table    string
	capacity atomic.Uint64
}

// NewCard mounts a fake card of capacity bytes at a new temporary folder,
// writable. Its free space is the capacity less the files on it; a capacity
// of 0 means a card that is never full (1 TiB free, without counting the
// files: for benchmarks).
func NewCard(t testing.TB, capacity uint64) *Card {
	t.Helper()
	root := t.TempDir()
	mount := filepath.Join(root, "sd")
	if err := os.Mkdir(mount, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &Card{table: filepath.Join(root, "mounts")}
	c.capacity.Store(capacity)
	c.Card = storage.NewCard(mount, storage.WithStatFS(c.statfs))
	c.Card.MountTable = c.table
	c.Card.MinFree = 4 << 10
	c.SetState(storage.StateWritable)
	return c
}

// SetState mounts the card writable or read-only, or unmounts it
// (storage.StateMissing), by rewriting its mount table.
func (c *Card) SetState(state string) {
	line := ""
	switch state {
	case storage.StateWritable:
		line = fmt.Sprintf("/dev/mmcblk0p1 %s vfat rw,relatime 0 0\n", c.Mount)
	case storage.StateReadOnly:
		line = fmt.Sprintf("/dev/mmcblk0p1 %s vfat ro,relatime 0 0\n", c.Mount)
	case storage.StateMissing:
	default:
		panic("storagetest: no such state " + state)
	}
	data := "/dev/root / ext4 rw 0 0\n" + line
	tmp := c.table + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		panic(err)
	}
	if err := os.Rename(tmp, c.table); err != nil {
		panic(err)
	}
}

// SetCapacity changes the card's size.
func (c *Card) SetCapacity(n uint64) { c.capacity.Store(n) }

// Used returns the bytes of the files on the card.
func (c *Card) Used() uint64 {
	var n uint64
	filepath.WalkDir(c.Mount, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += uint64(info.Size())
			}
		}
		return nil
	})
	return n
}

func (c *Card) statfs(string) (free, total uint64, err error) {
	total = c.capacity.Load()
	if total == 0 {
		return 1 << 40, 1 << 40, nil
	}
	used := c.Used()
	if used >= total {
		return 0, total, nil
	}
	return total - used, total, nil
}

// FailingFiles makes clip files whose writes and syncs fail with Err once
// Fail is set: an SD card that starts failing.
type FailingFiles struct {
	Err  error // default EIO
	fail atomic.Bool
	mu   sync.Mutex
	n    int
}

// Fail makes every write and sync of every file fail from now on, or work
// again.
func (f *FailingFiles) Fail(on bool) { f.fail.Store(on) }

// Created returns how many files were created.
func (f *FailingFiles) Created() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// Create is a storage.StoreConfig.CreateFile.
func (f *FailingFiles) Create(path string) (storage.File, error) {
	if f.fail.Load() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: f.err()}
	}
	file, err := storage.CreateFile(path)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
	return &failingFile{File: file, owner: f}, nil
}

func (f *FailingFiles) err() error {
	if f.Err != nil {
		return f.Err
	}
	return syscall.EIO
}

type failingFile struct {
	storage.File
	owner *FailingFiles
}

func (f *failingFile) Write(p []byte) (int, error) {
	if f.owner.fail.Load() {
		// A dying card takes part of the write.
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &fs.PathError{Op: "write", Path: "clip", Err: f.owner.err()}
	}
	return f.File.Write(p)
}

func (f *failingFile) Datasync() error {
	if f.owner.fail.Load() {
		return &fs.PathError{Op: "fdatasync", Path: "clip", Err: f.owner.err()}
	}
	return f.File.Datasync()
}

// ErrInjected is a failure tests inject into hooks.
var ErrInjected = errors.New("storagetest: injected failure")
