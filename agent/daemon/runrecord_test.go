package daemon

import (
	"github.com/camagent/camagent/agent/outputtest"
	"os"
	"path/filepath"
	"testing"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/storage"
)

// TestRunRecordKept: the agent's folder removed from the card while it
// runs takes state.json with it; the storage watch writes it again (not
// clean, this run's boot ID), so a power cut afterwards is still seen as an
// unclean end at the next start. A record that is there is left alone.
func TestRunRecordKept(t *testing.T) {
	dir := t.TempDir()
	card := filepath.Join(dir, "sd")
	if err := os.Mkdir(card, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Storage.Mount = card
	d := New(cfg, config.Source{}, Deps{ProcRoot: dir, NoBoard: true, Console: &outputtest.Output{}})
	c := storage.NewCard(card)
	if !d.startRunRecord(c) {
		t.Fatal("run record not written at start")
	}
	path := filepath.Join(c.Dir(), "state.json")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	d.keepRunRecord(c)
	if after, err := os.Stat(path); err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("a present run record was rewritten (%v)", err)
	}

	if err := os.RemoveAll(c.Dir()); err != nil {
		t.Fatal(err)
	}
	d.keepRunRecord(c)
	rec, ok, err := c.LoadRunRecord()
	if err != nil || !ok || rec.CleanShutdown || rec.BootID != d.bootID {
		t.Fatalf("after the folder was removed: record %+v, %v, %v; want this run's, not clean", rec, ok, err)
	}
}
