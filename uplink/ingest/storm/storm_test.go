package storm_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/camagent/camagent/uplink/ingest/ingesttest"
	"github.com/camagent/camagent/uplink/ingest/storm"
	"github.com/camagent/camagent/uplink/upload"
)

// cloudEnv names the directory of the cloud when the test binary runs as
// the storm's cloud process.
const cloudEnv = "CAMAGENT_STORM_CLOUD"

// workerEnv names the configuration file when the test binary runs as one
// of the storm's camera worker processes.
const workerEnv = "CAMAGENT_STORM_WORKER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(cloudEnv); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := storm.ServeCloud(ctx, dir, os.Stdin, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if file := os.Getenv(workerEnv); file != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := storm.ServeCameras(ctx, file, os.Stdin, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// envInt reads a positive integer setting from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// TestStorm is the reconnect storm (package doc): N cameras (1,000, or
// CAMAGENT_STORM_N; make storm runs 13,000) connected and uploading, the
// cloud down for an outage, then back; once with the uploader's full-jitter
// backoff and once without jitter. Times are the uploader's defaults
// divided by CAMAGENT_STORM_SCALE (20: a 2 s base becomes 100 ms, the 5 min
// cap 15 s, a 60 s outage 3 s; 60 under -race). It writes the report (text and PNG) to
// CAMAGENT_STORM_OUT, or the test's temporary directory.
//
// It fails if any camera's item is lost, if anything is stored or served
// under a wrong device or account, if the faulty lookup never mixed up an
// answer (the test would prove nothing) or if the ingest did not detect
// every mix-up. It asserts no time: the figures are the report.
func TestStorm(t *testing.T) {
	n := envInt(t, "CAMAGENT_STORM_N", 1000)
	if testing.Short() || raceOn {
		n = min(n, 100)
		t.Logf("%d cameras (-short or -race; make unit runs 1,000 without -race)", n)
	}
	scaleDef := 20
	if raceOn {
		scaleDef = 60 // shorter waits: the race detector's run is a check of the logic, not of the figures
	}
	scale := time.Duration(envInt(t, "CAMAGENT_STORM_SCALE", scaleDef))
	outage := time.Duration(envInt(t, "CAMAGENT_STORM_OUTAGE_S", 60)) * time.Second / scale
	backoff := upload.Backoff{Base: upload.DefaultBackoffBase / scale, Cap: upload.DefaultBackoffCap / scale}
	out := os.Getenv("CAMAGENT_STORM_OUT")
	if out == "" {
		out = t.TempDir()
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	t0 := time.Now()
	fleet, err := storm.NewFleet(filepath.Join(t.TempDir(), "ca"), n, max(1, n/4))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d cameras: keys and certificates made in %v", n, time.Since(t0).Round(time.Millisecond))

	var results []*storm.Result
	for k, noJitter := range []bool{true, false} {
		name := map[bool]string{true: "no jitter", false: "full jitter"}[noJitter]
		t.Logf("run %d: %s, outage %v, backoff base %v cap %v", k+1, name, outage, backoff.Base, backoff.Cap)
		res, err := storm.Run(ctx, storm.Config{
			Fleet: fleet, Dir: ingesttest.TempDir(t), IP: fmt.Sprintf("127.0.%d.1", 10+k),
			StartCloud: func(dir string) *exec.Cmd {
				cmd := exec.Command(exe, "-test.run=^$")
				cmd.Env = append(os.Environ(), cloudEnv+"="+dir)
				return cmd
			},
			StartWorker: func(file string) *exec.Cmd {
				cmd := exec.Command(exe, "-test.run=^$")
				cmd.Env = append(os.Environ(), workerEnv+"="+file)
				return cmd
			},
			Workers: envInt(t, "CAMAGENT_STORM_WORKERS", max(2, (n+2499)/2500)),
			Outage:  outage, Backoff: backoff, NoJitter: noJitter, Seed: uint64(k), RetryAfterDiv: int(scale),
			Progress: func(s string) { t.Log(name + ": " + s) },
		})
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
		check(t, name, res)
	}
	note := "the uploader's default times"
	if scale != 1 {
		note = fmt.Sprintf("times are the uploader's defaults divided by %d", scale)
	}
	text := storm.Report(results, note)
	t.Log("\n" + text)
	if err := os.WriteFile(filepath.Join(out, "storm.txt"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := storm.WritePNG(filepath.Join(out, "storm.png"), results); err != nil {
		t.Fatal(err)
	}
	t.Logf("report in %s (storm.txt, storm.png)", out)
}

func check(t *testing.T, name string, r *storm.Result) {
	t.Helper()
	c := &r.Check
	for _, e := range c.Errors {
		t.Errorf("%s: %s", name, e)
	}
	if r.Lost != 0 || c.StoredMissing != 0 {
		t.Errorf("%s: %d cameras' items did not get through, %d items missing from the store", name, r.Lost, c.StoredMissing)
	}
	if c.WrongStored() != 0 || c.WrongServed() != 0 {
		t.Errorf("%s: wrong attributions: %d stored, %d served", name, c.WrongStored(), c.WrongServed())
	}
	if want := 2 * r.Devices; c.Stored != want || c.Served != 2*want {
		t.Errorf("%s: %d items stored and %d objects served and shown, want %d and %d", name, c.Stored, c.Served, want, 2*want)
	}
	if c.StrangerRefused != c.Strangers || c.ServeErrors != 0 {
		t.Errorf("%s: strangers refused %d of %d; %d reads failed", name, c.StrangerRefused, c.Strangers, c.ServeErrors)
	}
	if r.Cloud.LookupFaults == 0 {
		t.Errorf("%s: the faulty owner lookup never mixed up an answer: the run proves nothing", name)
	}
	m := &r.MQTT
	for _, e := range m.Errors {
		t.Errorf("%s: MQTT: %s", name, e)
	}
	if m.Lost != 0 || m.Repeats != 0 || m.Wrong != 0 || m.Stored != m.EventsSent || m.EventsSent != 3*r.Devices {
		t.Errorf("%s: MQTT events: %d sent, %d stored once, %d lost, %d stored twice, %d wrong attributions", name,
			m.EventsSent, m.Stored, m.Lost, m.Repeats, m.Wrong)
	}
	if len(m.Back) != r.Devices || m.ReceiverDropped != 0 {
		t.Errorf("%s: MQTT: %d of %d cameras back; the receiver dropped %d", name, len(m.Back), r.Devices, m.ReceiverDropped)
	}
	if r.Cloud.Ingest.LookupMixups != r.Cloud.LookupFaults {
		t.Errorf("%s: the ingest detected %d mixed-up lookups, the cache handed out %d", name, r.Cloud.Ingest.LookupMixups, r.Cloud.LookupFaults)
	}
}
