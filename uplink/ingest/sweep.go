package ingest

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of the staging sweep.
const (
	DefaultStagingMaxAge = 7 * 24 * time.Hour
	DefaultSweepEvery    = time.Hour
)

// SweepStaging removes abandoned partial objects from staging/: a staged
// object no stored manifest of its device declares any more (its items
// completed another way), and one declared but not written to for maxAge (the
// camera lost the clip, or gave up: if it comes back, it starts the object
// again at offset 0, which the ingest's answer tells it). An object a request
// is writing is never removed. It returns how many it removed.
func (s *Server) SweepStaging(maxAge time.Duration) (int, error) {
	ents, err := os.ReadDir(s.stagingDir)
	if err != nil {
		return 0, fmt.Errorf("ingest: sweep staging: %w", err)
	}
	now := s.now()
	n := 0
	var errs []error
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		k, err := s.sweepDevice(e.Name(), now, maxAge)
		n += k
		if err != nil {
			errs = append(errs, err)
		}
	}
	s.st.swept.Add(uint64(n))
	if n > 0 {
		s.log.Info("staging swept", "removed", n)
	}
	return n, errors.Join(errs...)
}

func (s *Server) sweepDevice(id string, now time.Time, maxAge time.Duration) (int, error) {
	d, err := s.lockDevice(id)
	if err != nil {
		return 0, err
	}
	defer d.mu.Unlock()
	ents, err := os.ReadDir(d.staging)
	if err != nil {
		return 0, fmt.Errorf("ingest: sweep staging of %s: %w", id, err)
	}
	n := 0
	for _, e := range ents {
		hexSum, ok := strings.CutSuffix(e.Name(), ".part")
		var sum [32]byte
		b, err := hex.DecodeString(hexSum)
		if !ok || err != nil || len(b) != len(sum) {
			continue
		}
		copy(sum[:], b)
		if d.busy[sum] {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		_, declared := d.pending[sum]
		if declared && now.Sub(info.ModTime()) < maxAge {
			continue
		}
		if err := os.Remove(filepath.Join(d.staging, e.Name())); err == nil {
			n++
			s.log.Info("abandoned partial object removed", "device", id, "sha256", hexSum[:16], "bytes", info.Size(),
				"declared", declared, "age", now.Sub(info.ModTime()).Round(time.Second))
		}
	}
	if n > 0 {
		_ = os.Remove(d.staging) // only when empty
	}
	return n, nil
}

// Run sweeps staging at start and every DefaultSweepEvery (Config.SweepEvery)
// until ctx ends; a failed sweep is logged and tried again next time.
func (s *Server) Run(ctx context.Context) error {
	for {
		if _, err := s.SweepStaging(s.stagingMaxAge); err != nil {
			s.log.Warn("staging sweep", "err", err)
		}
		t := time.NewTimer(s.sweepEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
