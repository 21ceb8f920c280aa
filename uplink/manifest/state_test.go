package manifest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/camagent/camagent/storage/atomicfile"
)

func TestSequencer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seq")
	s, err := openSequencer(path, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 10; want++ {
		if n, err := s.Next(); err != nil || n != want {
			t.Fatalf("Next = %d, %v; want %d", n, err, want)
		}
	}
	// 10 numbers in blocks of 4: the durable bound is 13 (reserved 1..4,
	// 5..8, 9..12), so a restart skips 11 and 12 and goes on at 13.
	s2, err := openSequencer(path, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s2.Next(); n != 13 {
		t.Fatalf("after restart Next = %d, want 13", n)
	}
	// A floor above the bound wins; one below does not.
	if s3, _ := openSequencer(path, 1000, 4); mustNext(t, s3) != 1000 {
		t.Fatal("floor ignored")
	}
	if s4, _ := openSequencer(path, 2, 4); mustNext(t, s4) != 1004 {
		t.Fatal("floor below the bound used")
	}
}

func mustNext(t *testing.T, s *Sequencer) uint64 {
	t.Helper()
	n, err := s.Next()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSequencerConcurrent(t *testing.T) {
	s, err := openSequencer(filepath.Join(t.TempDir(), "seq"), 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[uint64]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				n, err := s.Next()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[n] {
					t.Errorf("%d handed out twice", n)
				}
				seen[n] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != 200 {
		t.Fatalf("%d numbers", len(seen))
	}
}

func TestSequencerWriteFailureHandsOutNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	s, err := openSequencer(filepath.Join(dir, "seq"), 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Next(); err == nil {
		t.Fatalf("Next = %d without a durable reservation", n)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if n := mustNext(t, s); n != 1 {
		t.Fatalf("Next = %d", n)
	}
}

func TestSequencerExhausted(t *testing.T) {
	s, err := openSequencer(filepath.Join(t.TempDir(), "seq"), math.MaxUint64-2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Next(); !errors.Is(err, ErrExhausted) {
		t.Fatalf("err = %v", err)
	}
}

func TestCorruptState(t *testing.T) {
	good := func(body string) string {
		path := filepath.Join(t.TempDir(), "s")
		if err := writeState(path, body); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(path)
		return string(b)
	}
	seqLine := good("camagent-seq v1 bound=65")
	chainLine := good("camagent-chain v1 seq=3 last=" + strings.Repeat("ab", 32))
	for _, tc := range []struct {
		name, content string
		seq, chain    bool // which opener must refuse it
	}{
		{"empty", "", true, true},
		{"garbage", "hello\n", true, true},
		{"flipped digit", strings.Replace(seqLine, "65", "66", 1), true, true},
		{"no newline", strings.TrimSuffix(seqLine, "\n"), true, true},
		{"truncated", seqLine[:10], true, true},
		{"chain file as seq", chainLine, true, false},
		{"seq file as chain", seqLine, false, true},
		{"bound 0", good("camagent-seq v1 bound=0"), true, true},
		{"short hash", good("camagent-chain v1 seq=3 last=abcd"), true, true},
		{"huge", strings.Repeat("x", 10000), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, serr := OpenSequencer(path, 0)
			_, cerr := OpenChain(path, nil)
			if tc.seq != errors.Is(serr, ErrCorruptState) {
				t.Errorf("OpenSequencer: %v", serr)
			}
			if tc.chain != errors.Is(cerr, ErrCorruptState) {
				t.Errorf("OpenChain: %v", cerr)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Error("corrupt state was rewritten")
			}
		})
	}
}

func TestChain(t *testing.T) {
	key := newKey(t)
	path := filepath.Join(t.TempDir(), "chain")
	c, err := OpenChain(path, &key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if c.Last() != ([32]byte{}) || c.Seq() != 0 {
		t.Fatal("new chain not empty")
	}
	sign := func(seq uint64, prev [32]byte) []byte {
		m := sampleManifest()
		m.Seq, m.Prev = seq, prev
		return mustSign(t, m, key)
	}
	m1 := sign(1, [32]byte{})
	m5 := sign(5, Hash(m1))
	m5b := sign(5, Hash(m1)) // same seq, another signature
	m9bad := sign(9, [32]byte{1})
	m9 := sign(9, Hash(m5))
	stranger := func() []byte { // links correctly, but another key signed it
		m := sampleManifest()
		m.Seq, m.Prev = 9, Hash(m5)
		return mustSign(t, m, newKey(t))
	}()
	unsigned := func() []byte { // links correctly, signature broken
		b := bytes.Clone(m9)
		b[bytes.Index(b, []byte("5f1c0a3e"))] ^= 1
		return b
	}()

	steps := []struct {
		name    string
		cose    []byte
		want    error
		seq     uint64
		lastOf  []byte
		persist bool
	}{
		{"first", m1, nil, 1, m1, true},
		{"forward", m5, nil, 5, m5, true},
		{"same again", m5, nil, 5, m5, false},
		{"older", m1, nil, 5, m5, false},
		{"same seq, other bytes", m5b, ErrChainConflict, 5, m5, false},
		{"does not link", m9bad, ErrChainConflict, 5, m5, false},
		{"garbage", []byte("x"), ErrMalformed, 5, m5, false},
		{"another device's", stranger, ErrKeyMismatch, 5, m5, false},
		{"bad signature", unsigned, ErrBadSignature, 5, m5, false},
		{"links", m9, nil, 9, m9, true},
	}
	for _, st := range steps {
		err := c.Advance(st.cose)
		if !errors.Is(err, st.want) || (st.want == nil) != (err == nil) {
			t.Fatalf("%s: Advance = %v, want %v", st.name, err, st.want)
		}
		if c.Seq() != st.seq || c.Last() != Hash(st.lastOf) {
			t.Fatalf("%s: chain at %d", st.name, c.Seq())
		}
		re, err := OpenChain(path, &key.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if re.Seq() != st.seq || re.Last() != Hash(st.lastOf) {
			t.Fatalf("%s: reopened chain at %d", st.name, re.Seq())
		}
	}
	// An empty chain adopts whatever it is given (recovery after losing
	// the chain file).
	fresh, _ := OpenChain(filepath.Join(t.TempDir(), "chain"), &key.PublicKey)
	if err := fresh.Advance(m9); err != nil || fresh.Last() != Hash(m9) {
		t.Fatalf("adopt: %v", err)
	}
}

// The power-loss test runs a child (this test binary again) that seals
// manifests by the package doc's protocol, and SIGKILLs it at random moments.
const (
	childEnv    = "CAMAGENT_MANIFEST_CHILD"
	childDirEnv = "CAMAGENT_MANIFEST_DIR"
	killRuns    = 30
	childBlock  = 4  // small, so kills land around reservations too
	maxLines    = 40 // progress lines the parent reads before a kill, at most
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "" {
		os.Exit(m.Run())
	}
	if err := sealChild(os.Getenv(childDirEnv)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// sealChild reconciles the chain with the newest sidecar, then seals
// manifests forever. Each sequence number is appended to used.log (O_APPEND,
// fsync) before it is used; each step is announced on stdout, so the
// parent's kill lands after a random one, including between publishing a
// sidecar and advancing the chain.
func sealChild(dir string) error {
	key, err := readTestKey()
	if err != nil {
		return err
	}
	seq, err := openSequencer(filepath.Join(dir, "seq"), 0, childBlock)
	if err != nil {
		return err
	}
	chain, err := OpenChain(filepath.Join(dir, "chain"), &key.PublicKey)
	if err != nil {
		return err
	}
	sidecars := filepath.Join(dir, "sidecars")
	if newest, ok, err := newestSidecar(sidecars); err != nil {
		return err
	} else if ok {
		if err := chain.Advance(newest); err != nil {
			return err
		}
	}
	used, err := os.OpenFile(filepath.Join(dir, "used.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	phase := func(n uint64, what string) {
		fmt.Fprintf(out, "%d %s\n", n, what)
		out.Flush()
	}
	for {
		n, err := seq.Next()
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(used, "%d\n", n); err != nil {
			return err
		}
		if err := used.Sync(); err != nil {
			return err
		}
		phase(n, "numbered")
		m := sampleManifest()
		m.Seq, m.Prev = n, chain.Last()
		cose, err := Sign(m, key)
		if err != nil {
			return err
		}
		phase(n, "signed")
		if err := atomicfile.WriteFile(filepath.Join(sidecars, fmt.Sprintf("%020d%s", n, SidecarSuffix)), cose, 0o644); err != nil {
			return err
		}
		phase(n, "published")
		if err := chain.Advance(cose); err != nil {
			return err
		}
		phase(n, "advanced")
	}
}

func readTestKey() (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile("testdata/device.key")
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(*ecdsa.PrivateKey), nil
}

// sidecarNames lists the complete sidecars (not temporary files), oldest first.
func sidecarNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") && strings.HasSuffix(e.Name(), SidecarSuffix) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names) // zero-padded sequence numbers
	return names, nil
}

func newestSidecar(dir string) ([]byte, bool, error) {
	names, err := sidecarNames(dir)
	if err != nil || len(names) == 0 {
		return nil, false, err
	}
	b, err := os.ReadFile(filepath.Join(dir, names[len(names)-1]))
	return b, err == nil, err
}

// killChild starts the child, reads a random number (0..maxLines) of its
// progress lines, then SIGKILLs it wherever it is.
func killChild(t *testing.T, dir string, rng *rand.Rand) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDirEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for range rng.IntN(maxLines + 1) {
		if !sc.Scan() {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, stderr.String())
	}
}

// TestSIGKILL: a sealer killed at random moments, 30 times, never hands out
// a sequence number twice and never breaks or forks the manifest chain.
func TestSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sidecars"), 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := readTestKey()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for range killRuns {
		killChild(t, dir, rng)
	}

	// Numbers: strictly increasing across all runs, so none was reused.
	b, err := os.ReadFile(filepath.Join(dir, "used.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	lines = lines[:len(lines)-1] // "" after the last newline, or a line cut by the kill (never fsynced as used)
	var prevN uint64
	for i, l := range lines {
		n, err := strconv.ParseUint(l, 10, 64)
		if err != nil {
			t.Fatalf("used.log line %d: %q", i, l)
		}
		if n <= prevN {
			t.Fatalf("used.log line %d: %d after %d: a number was handed out twice", i, n, prevN)
		}
		prevN = n
	}

	// Chain: every published manifest verifies and links to the one before.
	names, err := sidecarNames(filepath.Join(dir, "sidecars"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < killRuns/2 {
		t.Fatalf("only %d manifests in %d runs", len(names), killRuns)
	}
	var prev []byte
	var prevSeq uint64
	gaps := 0
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, "sidecars", name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Verify(b, &key.PublicKey)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := [32]byte{}
		if prev != nil {
			want = Hash(prev)
		}
		if m.Prev != want {
			t.Fatalf("%s (seq %d): prev does not name seq %d", name, m.Seq, prevSeq)
		}
		if m.Seq <= prevSeq {
			t.Fatalf("%s: seq %d after %d", name, m.Seq, prevSeq)
		}
		if m.Seq != prevSeq+1 {
			gaps++
		}
		prev, prevSeq = b, m.Seq
	}
	t.Logf("%d kills: %d numbers used, %d manifests, %d sequence gaps (skipped numbers), chain intact",
		killRuns, len(lines), len(names), gaps)
}
