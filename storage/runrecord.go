package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
)

// RunRecord is camagent/state.json: what the agent's current or last run left
// on the card. A record whose CleanShutdown is false at start-up means the last
// run ended by power loss or a crash.
type RunRecord struct {
	BootID        string    `json:"boot_id"`
	Version       string    `json:"version"`
	Started       time.Time `json:"started"`
	Stopped       time.Time `json:"stopped,omitzero"`
	CleanShutdown bool      `json:"clean_shutdown"`
	Frames        uint64    `json:"frames"`
}

const runRecordName = "state.json"

// maxRunRecord bounds what LoadRunRecord reads from the card.
const maxRunRecord = 64 << 10

// LoadRunRecord reads the previous run's record; ok is false when there is none.
func (c *Card) LoadRunRecord() (rec RunRecord, ok bool, err error) {
	path := filepath.Join(c.Dir(), runRecordName)
	data, err := atomicfile.ReadFileMax(path, maxRunRecord)
	if errors.Is(err, fs.ErrNotExist) {
		return RunRecord{}, false, nil
	}
	if err != nil {
		return RunRecord{}, false, fmt.Errorf("storage: read run record: %w", err)
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return RunRecord{}, false, fmt.Errorf("storage: parse %s: %w", path, err)
	}
	return rec, true, nil
}

// SaveRunRecord writes the record crash-safe, creating the agent's folder.
func (c *Card) SaveRunRecord(rec RunRecord) error {
	if err := os.MkdirAll(c.Dir(), 0o755); err != nil {
		return fmt.Errorf("storage: create %s: %w", c.Dir(), err)
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("storage: encode run record: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(c.Dir(), runRecordName), append(data, '\n'), 0o644)
}
