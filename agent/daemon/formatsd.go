package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/camagent/camagent/storage"
)

// boardActions are the board's privileged actions (reboot, format-sd,
// factory-reset) as the shell and signed commands use them: the board
// profile decides whether the agent may act at all (boardActions.allowed).
func (d *Daemon) boardActions(log *slog.Logger) *boardActions {
	cfg, _ := d.config()
	var keep []string
	keep = append(keep, filepath.Dir(cfg.Identity.Key))
	if cfg.MQTT.Store != "" {
		keep = append(keep, cfg.MQTT.Store)
	}
	return newBoardActions(boardActionsConfig{
		Board: cfg.Board, Logger: log, KeyPath: cfg.Identity.Key, Keep: keep,
		Card: func() *storage.Card {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.card
		},
		RestartStorage: func() { d.sup.Restart("storage"); d.sup.Restart("recorder") },
		StopRecording:  d.stopRecording,
		Reboot:         d.deps.Reboot, Euid: d.deps.Euid,
	})
}

// stopRecording stops the recorder part (it seals its open clip) and keeps
// it waiting until release; for format-sd.
func (d *Daemon) stopRecording(ctx context.Context) (release func(), err error) {
	parked, release := d.hold.hold()
	d.sup.Restart("recorder")
	t := time.NewTimer(formatHoldWait)
	defer t.Stop()
	select {
	case <-parked:
		return release, nil
	case <-t.C:
		err = fmt.Errorf("format-sd: the recorder did not stop within %s", formatHoldWait)
	case <-ctx.Done():
		err = ctx.Err()
	}
	release()
	return nil, err
}

// Reboot restarts the camera through the board (its init system stops
// the agent cleanly first); boards that do not let the agent act refuse.
func (h mqttHandler) Reboot(ctx context.Context) error {
	_, err := h.d.boardActions(h.d.log.With("part", "mqtt")).Reboot(ctx)
	return err
}

// formatHoldWait bounds the wait for the recorder to stop (it seals its
// clip) before format-sd erases the card.
const formatHoldWait = 30 * time.Second

// FormatSD stops recording cleanly (the recorder seals its open clip and
// waits), erases the agent's folder on the card (keeping the identity and
// the MQTT store when they live there), restarts the storage parts, and
// lets the recorder go again (boardActions.FormatSD, as the shell's).
func (h mqttHandler) FormatSD(ctx context.Context) error {
	msg, err := h.d.boardActions(h.d.log.With("part", "mqtt")).FormatSD(ctx)
	if err != nil {
		return err
	}
	h.d.log.Warn("format-sd by a signed command", "result", msg)
	return nil
}

// cardHold keeps the recorder part off the SD card while format-sd erases
// it. The zero value holds nothing.
type cardHold struct {
	mu      sync.Mutex
	release chan struct{} // non-nil while held; closed at release
	parked  chan struct{} // non-nil while held; closed when the recorder waits
}

// hold starts holding the card: the recorder waits at its next start
// (closing parked then) until release is called.
func (h *cardHold) hold() (parked <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rel, p := make(chan struct{}), make(chan struct{})
	h.release, h.parked = rel, p
	var once sync.Once
	return p, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			close(rel)
			if h.release == rel {
				h.release, h.parked = nil, nil
			}
		})
	}
}

// wait returns at once when nothing holds the card; otherwise it says the
// recorder is parked and waits for the release or ctx.
func (h *cardHold) wait(ctx context.Context) error {
	h.mu.Lock()
	rel, p := h.release, h.parked
	if p != nil {
		select {
		case <-p:
		default:
			close(p)
		}
	}
	h.mu.Unlock()
	if rel == nil {
		return nil
	}
	select {
	case <-rel:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// removeAllExcept removes dir and everything in it except the paths in keep
// (and the folders leading to them), which stay as they are.
func removeAllExcept(dir string, keep []string) error {
	var inside []string
	for _, k := range keep {
		if rel, err := filepath.Rel(dir, filepath.Clean(k)); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			inside = append(inside, filepath.Join(dir, rel))
		}
	}
	if len(inside) == 0 {
		return os.RemoveAll(dir)
	}
	var walk func(string) error
	walk = func(p string) error {
		if slices.Contains(inside, p) {
			return nil // kept whole
		}
		if !slices.ContainsFunc(inside, func(k string) bool { return strings.HasPrefix(k, p+string(filepath.Separator)) }) {
			return os.RemoveAll(p)
		}
		ents, err := os.ReadDir(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		var errs []error
		for _, e := range ents {
			errs = append(errs, walk(filepath.Join(p, e.Name())))
		}
		return errors.Join(errs...)
	}
	return walk(filepath.Clean(dir))
}
