package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// errPowerCut stands for the power going out: the write never happened.
var errPowerCut = errors.New("power cut")

// crashAtChainRename makes the sealer's next chain advance fail before the
// rename that would replace manifest.chain: the sidecar is published, the
// chain still names the manifest before it.
func crashAtChainRename(t *testing.T, s *Sealer) {
	t.Helper()
	s.chain.write = func(path string, _ []byte, _ os.FileMode) error {
		if filepath.Base(path) != ChainFile {
			t.Fatalf("crash injected at %s, want %s", path, ChainFile)
		}
		return errPowerCut
	}
}

func mustSeal(t *testing.T, s *Sealer, path string) Manifest {
	t.Helper()
	m, err := s.Seal(path, sampleManifest())
	if err != nil {
		t.Fatalf("seal %s: %v", filepath.Base(path), err)
	}
	return m
}

func readCOSE(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSealerCrashAtChainRename is issue 9's first defect: a crash after a
// clip's manifest is written but before manifest.chain advances must not
// fork the chain. After the restart the next manifest names the one written
// just before the crash, whether the catch-up happens when the sealer opens
// on the clip store (the newest manifest there) or when the store's recovery
// hands the clip back to be sealed (Adopt of its sidecar); on the code before
// the fix (sealer opened before the store existed, a recovered clip's
// manifest kept without advancing the chain) manifest 3 named manifest 1.
func TestSealerCrashAtChainRename(t *testing.T) {
	for _, tc := range []struct {
		name string
		// restart opens the sealer again after the crash and catches up the
		// way the agent does.
		restart func(t *testing.T, stateDir, card, crashed string, key *Sealer) *Sealer
	}{
		{"catch-up at open on the clip store", func(t *testing.T, stateDir, card, _ string, old *Sealer) *Sealer {
			s, err := OpenSealer(SealerConfig{StateDir: stateDir, Key: old.key, Published: card})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"catch-up at the recovery of the clip", func(t *testing.T, stateDir, _, crashed string, old *Sealer) *Sealer {
			s, err := OpenSealer(SealerConfig{StateDir: stateDir, Key: old.key})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok, err := s.Adopt(crashed); !ok || err != nil {
				t.Fatalf("adopt the recovered clip's manifest: ok %v, %v", ok, err)
			}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stateDir, card := filepath.Join(dir, "identity"), filepath.Join(dir, "sd", "2026", "05", "14")
			for _, d := range []string{stateDir, card} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			s, err := OpenSealer(SealerConfig{StateDir: stateDir, Key: newKey(t), Published: filepath.Join(dir, "sd")})
			if err != nil {
				t.Fatal(err)
			}
			first := filepath.Join(card, "120000-e1"+SidecarSuffix)
			second := filepath.Join(card, "120100-e2"+SidecarSuffix)
			third := filepath.Join(card, "120200-e3"+SidecarSuffix)
			m1 := mustSeal(t, s, first)

			crashAtChainRename(t, s)
			if _, err := s.Seal(second, sampleManifest()); !errors.Is(err, errPowerCut) {
				t.Fatalf("seal at the crash = %v, want the power cut", err)
			}
			m2, err := Verify(readCOSE(t, second), s.key.Public())
			if err != nil {
				t.Fatalf("the manifest written before the crash: %v", err)
			}
			if s.ChainSeq() != m1.Seq {
				t.Fatalf("chain at seq %d after the crash, want still %d", s.ChainSeq(), m1.Seq)
			}

			s = tc.restart(t, stateDir, filepath.Join(dir, "sd"), second, s)
			m3 := mustSeal(t, s, third)
			if m3.Prev == m2.Prev {
				t.Fatalf("chain forked: manifests %d and %d both name %x", m2.Seq, m3.Seq, m3.Prev)
			}
			if want := Hash(readCOSE(t, second)); m3.Prev != want {
				t.Errorf("manifest %d names %x, want manifest %d (%x)", m3.Seq, m3.Prev, m2.Seq, want)
			}
			if !(m1.Seq < m2.Seq && m2.Seq < m3.Seq) {
				t.Errorf("sequence %d, %d, %d does not increase", m1.Seq, m2.Seq, m3.Seq)
			}
			if s.ChainSeq() != m3.Seq {
				t.Errorf("chain at %d, want %d", s.ChainSeq(), m3.Seq)
			}
		})
	}
}

// TestSealerAdoptIgnoresOthers: a sidecar another device signed, or a
// damaged one, neither steers the chain nor stops the catch-up.
func TestSealerAdoptIgnoresOthers(t *testing.T) {
	dir := t.TempDir()
	other, err := OpenSealer(SealerConfig{StateDir: filepath.Join(dir, "other"), Key: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "other"), 0o700)
	os.MkdirAll(filepath.Join(dir, "sd"), 0o700)
	mustSeal(t, other, filepath.Join(dir, "sd", "a"+SidecarSuffix))
	write(t, filepath.Join(dir, "sd", "b"+SidecarSuffix), []byte("not a manifest"))
	s, err := OpenSealer(SealerConfig{StateDir: dir, Key: newKey(t), Published: filepath.Join(dir, "sd")})
	if err != nil {
		t.Fatal(err)
	}
	if s.ChainSeq() != 0 {
		t.Errorf("chain adopted another device's manifest (seq %d)", s.ChainSeq())
	}
	for _, name := range []string{"a", "b", "none"} {
		if _, ok, err := s.Adopt(filepath.Join(dir, "sd", name+SidecarSuffix)); ok || err != nil {
			t.Errorf("adopt %s = %v, %v; want not ours", name, ok, err)
		}
	}
	m := mustSeal(t, s, filepath.Join(dir, "sd", "c"+SidecarSuffix))
	if m.Seq != 1 || m.Prev != ([32]byte{}) {
		t.Errorf("first manifest = seq %d prev %x", m.Seq, m.Prev)
	}
}
