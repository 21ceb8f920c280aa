package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watcher defaults.
const (
	DefaultDebounce = 200 * time.Millisecond
	DefaultPoll     = 30 * time.Second
)

// Watcher follows the configuration file while the agent runs and hands each
// valid new version to the daemon.
//
// It watches the file's directory, not the file, so that it sees a file
// replaced by rename (editors, provisioning tools), deleted and created
// again, or swapped through a Kubernetes-style "..data" symlink. After a burst
// of events it waits for Debounce of quiet, reads the file, and does nothing
// when its SHA-256 is the running file's. A valid new file is passed to apply;
// an invalid one is logged once as "config rejected" (error level, with the
// path and the one-line error) and the running Config stays. A missing or
// empty file (an in-place write caught between truncate and write) is logged
// once and also keeps the running Config.
//
// Every Poll it also re-reads the file, and re-adds the directory watch when it
// was lost (the directory deleted and made again, a card remounted): that
// catches changes no event reports, such as a symlinked file edited in
// another directory.
type Watcher struct {
	// Debounce is how long the directory must stay quiet before the file is
	// read (DefaultDebounce when 0). Set it before Run.
	Debounce time.Duration
	// Poll is how often the file is re-read without an event (DefaultPoll
	// when 0, never when negative). Set it before Run.
	Poll time.Duration
	// Now is the clock for Source.Loaded (time.Now when nil). Set it before
	// Run.
	Now func() time.Time

	path   string
	dir    string
	name   string
	logger *slog.Logger
	getenv func(string) string

	mu  sync.Mutex
	cur Config
	src Source
	ok  bool // cur and src hold a config

	// Owned by Run's goroutine.
	seen string // the last state of the file acted on: a hash, or an error
	lost bool   // the directory watch failed or went away (and that was logged)
}

// NewWatcher returns a Watcher of the file at path. The logger (nil: none)
// should carry the component; getenv (nil: none) supplies the environment
// overrides, as for LoadWith.
func NewWatcher(path string, logger *slog.Logger, getenv func(string) string) *Watcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = filepath.Clean(path)
	}
	return &Watcher{
		path:   path,
		dir:    filepath.Dir(abs),
		name:   filepath.Base(abs),
		logger: logger,
		getenv: getenv,
	}
}

// SetCurrent tells the Watcher which configuration the daemon runs (the one it
// loaded at start). Run then applies a file only when its hash differs from
// src.Hash. Without it, Run applies the file it first reads.
func (w *Watcher) SetCurrent(c Config, src Source) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cur, w.src, w.ok = c.Clone(), src, true
}

// Current returns the configuration last applied (or set), and false when
// there is none yet.
func (w *Watcher) Current() (Config, Source, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur.Clone(), w.src, w.ok
}

// Run watches until ctx ends, calls apply (on Run's goroutine, one call at a
// time) with each valid new configuration, and returns nil once ctx ends and
// its watch is closed. It first reads the file once, so a change made before
// Run started is not missed. It returns an error only when it cannot watch at
// all. Call Run once.
func (w *Watcher) Run(ctx context.Context, apply func(Config, Source)) error {
	debounce := w.Debounce
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	poll := w.Poll
	if poll == 0 {
		poll = DefaultPoll
	}

	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("config: watch %s: %w", w.dir, err)
	}
	defer fw.Close()

	var pollC <-chan time.Time
	if poll > 0 {
		t := time.NewTicker(poll)
		defer t.Stop()
		pollC = t.C
	}
	settle := time.NewTimer(debounce)
	settle.Stop()
	defer settle.Stop()

	watching := w.watch(fw)
	w.reload(apply)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return fmt.Errorf("config: watch %s: closed", w.dir)
			}
			if ev.Name == w.dir && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				watching, w.lost = false, true
				w.logger.Warn("config directory gone; watching it again when it is back", "dir", w.dir)
			}
			if w.relevant(ev) {
				settle.Reset(debounce)
			}
		case err, ok := <-fw.Errors:
			if !ok {
				return fmt.Errorf("config: watch %s: closed", w.dir)
			}
			// An overflow may have hidden our file's events: read it anyway.
			w.logger.Warn("config watch error", "dir", w.dir, "err", err)
			settle.Reset(debounce)
		case <-settle.C:
			w.reload(apply)
		case <-pollC:
			if !watching {
				watching = w.watch(fw)
			}
			w.reload(apply)
		}
	}
}

// relevant reports whether an event may have changed the file: it names the
// file, or the "..data" symlink a Kubernetes volume swaps.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if filepath.Dir(ev.Name) != w.dir {
		return false
	}
	base := filepath.Base(ev.Name)
	return base == w.name || base == "..data"
}

// watch adds the directory watch. It logs when the watch fails after working
// (or at first), and when it works again.
func (w *Watcher) watch(fw *fsnotify.Watcher) bool {
	if err := fw.Add(w.dir); err != nil {
		if !w.lost {
			w.lost = true
			w.logger.Warn("config watch failed; reading the file every poll", "dir", w.dir, "err", err)
		}
		return false
	}
	if w.lost {
		w.lost = false
		w.logger.Info("config watch restored", "dir", w.dir)
	}
	return true
}

// reload reads the file and applies it when it is new and valid.
func (w *Watcher) reload(apply func(Config, Source)) {
	data, err := readFile(w.path)
	if err != nil {
		state := "error: " + err.Error()
		if state == w.seen {
			return
		}
		w.seen = state
		if errors.Is(err, fs.ErrNotExist) {
			w.logger.Warn("config file missing; keeping the running config", "path", w.path)
			return
		}
		w.logger.Error("config rejected", "path", w.path, "err", OneLine(err))
		return
	}
	h := hash(data)
	if h == w.seen {
		return
	}
	w.seen = h
	prev, src, ok := w.Current()
	if ok && h == src.Hash {
		return
	}
	if len(bytes.TrimSpace(data)) == 0 {
		w.logger.Warn("config file empty; keeping the running config", "path", w.path)
		return
	}
	c, err := build(data, "", w.getenv)
	if err != nil {
		w.logger.Error("config rejected", "path", w.path, "hash", h, "err", OneLine(err))
		return
	}
	now := w.Now
	if now == nil {
		now = time.Now
	}
	s := Source{Path: w.path, Hash: h, Loaded: now()}
	w.SetCurrent(c, s)
	// Said once the config is applied, so that a person (or a test) who sees
	// the line can count on the new values being in force.
	apply(c, s)
	if ok {
		w.logger.Info("config reloaded", "path", w.path, "hash", h, "changed", Changed(prev, c))
	} else {
		w.logger.Info("config loaded", "path", w.path, "hash", h)
	}
}
