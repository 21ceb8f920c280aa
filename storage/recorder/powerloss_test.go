package recorder

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
)

// The power-loss test runs the recorder in child processes (this test
// binary again, with these variables set) and kills each with SIGKILL at a
// random moment.
const (
	envChild = "CAMAGENT_POWERLOSS_CHILD" // the card's mount point
	envRun   = "CAMAGENT_POWERLOSS_RUN"   // the child's number
	envRuns  = "CAMAGENT_POWERLOSS_RUNS"  // how many children (default 100)
	envSeed  = "CAMAGENT_POWERLOSS_SEED"  // the random seed (default: the time)
)

// A child records 8 s at 10 fps of small raw frames (JPEG-encoded).
const (
	childFrames = 80
	childWidth  = 96
	childHeight = 64
)

// TestPowerLoss kills recording children at least 100 times, each starting
// with the recovery of what the last one left, then checks that every clip a
// child sealed is still there, unchanged, and that every clip on the card
// probes cleanly (the recovered ones up to their last whole fragment).
func TestPowerLoss(t *testing.T) {
	if mount := os.Getenv(envChild); mount != "" {
		powerLossChild(t, mount)
		return
	}
	if testing.Short() {
		t.Skip("-short")
	}
	runs := 100
	if v := os.Getenv(envRuns); v != "" {
		runs, _ = strconv.Atoi(v)
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envSeed); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("%d runs, seed %d (set %s to repeat)", runs, seed, envSeed)
	rng := rand.New(rand.NewPCG(seed, 1))

	dir := t.TempDir()
	mount := filepath.Join(dir, "sd")
	os.Mkdir(mount, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "mounts"), []byte("/dev/sd "+mount+" vfat rw 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	killed, completed := 0, 0
	for run := range runs {
		// Lines: one per frame taken, one per clip sealed; about 85 in all.
		// Some runs are left to finish.
		kill := rng.IntN(100)
		cmd := exec.Command(os.Args[0], "-test.run=^TestPowerLoss$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChild+"="+mount, envRun+"="+strconv.Itoa(run))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		lines := 0
		for lines < kill && sc.Scan() {
			lines++
		}
		if lines == kill {
			cmd.Process.Signal(syscall.SIGKILL)
		}
		io.Copy(io.Discard, out)
		err = cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
			completed++
		case errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signaled():
			killed++
		default:
			t.Fatalf("run %d: %v: %s", run, err, stderr.String())
		}
	}
	t.Logf("%d runs killed, %d finished", killed, completed)
	if killed < runs/2 {
		t.Errorf("only %d of %d runs were killed", killed, runs)
	}

	// Recover what the last child left, then check every clip.
	card := storage.NewCard(mount, storage.WithStatFS(func(string) (uint64, uint64, error) { return 1 << 40, 1 << 40, nil }))
	card.MountTable = filepath.Join(dir, "mounts")
	store, err := storage.NewStore(storage.StoreConfig{Card: card})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Recover(); err != nil {
		t.Fatal(err)
	}
	clips, err := store.Clips()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]storage.ClipInfo{}
	recovered := 0
	for _, c := range clips {
		byName[c.Name] = c
		if c.State != storage.ClipSealed {
			t.Errorf("clip %s is %s after recovery", c.Name, c.State)
			continue
		}
		r := scanFile(t, c.Path)
		if r.Stop != nil || r.Trailing != 0 || r.Samples() != c.Frames || r.InitSize == 0 {
			t.Errorf("clip %s: stop %v, trailing %d, %d samples, metadata says %d", c.Name, r.Stop, r.Trailing, r.Samples(), c.Frames)
		}
		if c.Recovered {
			recovered++
			if recovered <= 20 { // ffprobe is slow; Scan checked them all
				p := ffprobe(t, c.Path)
				checkProbe(t, p, "mjpeg", childWidth, childHeight, c.Frames, c.Duration)
			}
		}
	}
	// Every clip a child saw sealed is there, unchanged.
	logged := 0
	data, _ := os.ReadFile(filepath.Join(mount, "sealed.log"))
	for _, line := range strings.Split(string(data), "\n") {
		name, sum, ok := strings.Cut(line, " ")
		if !ok || len(sum) != 64 {
			continue // the last line of a killed child may be cut
		}
		logged++
		c, found := byName[name]
		if !found {
			t.Errorf("sealed clip %s was lost", name)
			continue
		}
		if got := fileSHA256(t, c.Path); got != sum {
			t.Errorf("sealed clip %s changed: %s, was %s", name, got, sum)
		}
	}
	t.Logf("%d clips on the card, %d seen sealed by the children, %d recovered after a kill", len(clips), logged, recovered)
	if logged == 0 || (runs >= 20 && recovered == 0) {
		t.Errorf("the kills never hit: %d logged, %d recovered", logged, recovered)
	}
	if err := filepath.WalkDir(store.Dir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, storage.ExtPart) || strings.Contains(d.Name(), ".tmp")) {
			t.Errorf("left on the card: %s", p)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// powerLossChild records one run of synthetic frames: clips of at most 2 s
// in fragments of 0.5 s. It prints a line per frame taken and per clip
// sealed, and appends each sealed clip's hash to sealed.log.
func powerLossChild(t *testing.T, mount string) {
	run, _ := strconv.Atoi(os.Getenv(envRun))
	card := storage.NewCard(mount, storage.WithStatFS(func(string) (uint64, uint64, error) { return 1 << 40, 1 << 40, nil }))
	card.MountTable = filepath.Join(filepath.Dir(mount), "mounts")
	logf, err := os.OpenFile(filepath.Join(mount, "sealed.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	store, err := storage.NewStore(storage.StoreConfig{Card: card, OnComplete: func(c storage.ClipInfo) {
		fmt.Fprintf(logf, "%s %s\n", c.Name, fileSHA256(t, c.Path))
		logf.Sync()
		fmt.Println("sealed", c.Name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	f := capture.Format{Pixel: capture.FormatYUYV, Width: childWidth, Height: childHeight, FPS: 10}
	src := &source{n: childFrames, interval: 100 * time.Millisecond, format: f, fill: rawScene(f),
		hook: func(i int) { fmt.Println("frame", i) }}
	rec, err := New(Config{Store: store, Queue: &shifted{src, time.Duration(run) * time.Minute}, Lossless: true,
		PreRoll: 500 * time.Millisecond, PostRoll: 500 * time.Millisecond, MaxClip: 2 * time.Second,
		FragmentDuration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := base.Add(time.Duration(run) * time.Minute)
	rec.Notify(Event{ID: 1, Start: start.Add(500 * time.Millisecond), End: start.Add(6500 * time.Millisecond)})
	if err := rec.Run(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}

// shifted moves a source's frames later by d, so each child's clips get
// names of their own.
type shifted struct {
	src *source
	d   time.Duration
}

func (s *shifted) Next(ctx context.Context) (*capture.Frame, error) {
	f, err := s.src.Next(ctx)
	if err == nil {
		f.Time = f.Time.Add(s.d)
	}
	return f, err
}

func fileSHA256(t testing.TB, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Error(err)
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
