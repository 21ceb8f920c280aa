package storm

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camagent/camagent/uplink/ingest/devca"
)

// The cameras' MQTT clients run in worker processes (Config.Workers of
// them, each owning a contiguous share of the fleet), so that the camera
// side's memory and goroutines (about 13 per client) are spread over
// several runtimes instead of one 3.6 GB process, and the cloud side
// (ingest, receiver, mosquitto) is measured on its own. A worker is the
// caller's binary re-executed (Config.StartWorker), configured by a JSON
// file, and driven over its stdin/stdout with one text line per command
// and one per answer:
//
//	publish F L   raise motion events F..L on every camera -> "ok"
//	status T      T: Unix ns (0: any time) -> "C D A": cameras connected
//	              at or after T, cameras with an empty outbox, connection
//	              attempts so far
//	back T        -> "K d1 .. dK": each camera connected at or after T, its
//	              LastConnected - T in ns
//	mem           -> "B G": heap and stacks in use and goroutines, above
//	              the worker's own before it made its clients
//	quit (or EOF) stop every client and exit
//
// The parent owns every worker: it kills the ones still running when it
// stops them, and a worker dies with its parent (Pdeathsig) besides.

// workerFile is a worker's configuration file name in the run's directory.
const workerFile = "worker-%d.json"

// workerConfig is what a worker reads.
type workerConfig struct {
	CADir      string         `json:"ca_dir"`
	Dir        string         `json:"dir"` // the run's directory (cameras/<index> are the outboxes)
	Broker     string         `json:"broker"`
	NoJitter   bool           `json:"no_jitter"`
	BackoffNum int64          `json:"backoff_num"` // the time scale: Backoff.Base
	Devices    []workerDevice `json:"devices"`
}

type workerDevice struct {
	Index   int    `json:"index"`
	ID      string `json:"id"`
	Account string `json:"account"`
	Key     []byte `json:"key"` // PKCS#8: the storm's own throwaway test keys
	Cert    []byte `json:"cert"`
}

// workerSet is the running workers.
type workerSet struct {
	ws   []*worker
	once sync.Once
}

type worker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
	mu  sync.Mutex
}

// startWorkers writes the workers' configurations and starts them; it
// returns when every worker has made and started its clients.
func startWorkers(ctx context.Context, cfg Config, broker string) (*workerSet, error) {
	devs := cfg.Fleet.Devices
	k := min(cfg.Workers, len(devs))
	set := &workerSet{}
	for w := range k {
		lo, hi := w*len(devs)/k, (w+1)*len(devs)/k
		wc := workerConfig{CADir: cfg.Fleet.CADir, Dir: cfg.Dir, Broker: broker, NoJitter: cfg.NoJitter,
			BackoffNum: int64(cfg.Backoff.Base)}
		for _, d := range devs[lo:hi] {
			der, err := x509.MarshalPKCS8PrivateKey(d.Key)
			if err != nil {
				set.stop()
				return nil, fmt.Errorf("storm: worker %d: %w", w, err)
			}
			wc.Devices = append(wc.Devices, workerDevice{Index: d.Index, ID: d.ID, Account: d.Account, Key: der, Cert: d.Cert.Certificate[0]})
		}
		b, err := json.Marshal(wc)
		if err != nil {
			set.stop()
			return nil, err
		}
		file := filepath.Join(cfg.Dir, fmt.Sprintf(workerFile, w))
		if err := os.WriteFile(file, b, 0o600); err != nil {
			set.stop()
			return nil, fmt.Errorf("storm: %w", err)
		}
		wk, err := startWorker(cfg, w, file)
		if err != nil {
			set.stop()
			return nil, err
		}
		set.ws = append(set.ws, wk)
	}
	// Each worker says "ready" once its clients run.
	for w, wk := range set.ws {
		line, err := wk.out.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			set.stop()
			log, _ := os.ReadFile(filepath.Join(cfg.Dir, fmt.Sprintf("worker-%d.log", w)))
			return nil, fmt.Errorf("storm: worker %d did not start: %v %q: %s", w, err, line, log)
		}
		if ctx.Err() != nil {
			set.stop()
			return nil, ctx.Err()
		}
	}
	return set, nil
}

func startWorker(cfg Config, w int, file string) (*worker, error) {
	logf, err := os.Create(filepath.Join(cfg.Dir, fmt.Sprintf("worker-%d.log", w)))
	if err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	defer logf.Close() // the child has its own copy
	cmd := cfg.StartWorker(file)
	cmd.Stderr = logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // dies with the parent, whatever happens to it
	in, out, err := startPiped(cmd)
	if err != nil {
		return nil, fmt.Errorf("storm: start worker %d: %w", w, err)
	}
	return &worker{cmd: cmd, in: in, out: out}, nil
}

// ask sends a command line to the worker and returns its answer's fields.
func (wk *worker) ask(line string) ([]string, error) {
	wk.mu.Lock()
	defer wk.mu.Unlock()
	if _, err := io.WriteString(wk.in, line+"\n"); err != nil {
		return nil, fmt.Errorf("storm: worker %d: %s: %w", wk.cmd.Process.Pid, line, err)
	}
	b, err := wk.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("storm: worker %d: %s: %w", wk.cmd.Process.Pid, line, err)
	}
	f := strings.Fields(b)
	if len(f) > 0 && f[0] == "error" {
		return nil, fmt.Errorf("storm: worker %d: %s: %s", wk.cmd.Process.Pid, line, b)
	}
	return f, nil
}

// askAll asks every worker and returns their answers' fields as integers.
func (set *workerSet) askAll(line string) ([][]int64, error) {
	res := make([][]int64, len(set.ws))
	for w, wk := range set.ws {
		f, err := wk.ask(line)
		if err != nil {
			return nil, err
		}
		for _, s := range f {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("storm: worker %d: %s: %q", w, line, f)
			}
			res[w] = append(res[w], v)
		}
	}
	return res, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// publish raises motion events first..last on every camera.
func (set *workerSet) publish(first, last uint64) error {
	for _, wk := range set.ws {
		if _, err := wk.ask(fmt.Sprintf("publish %d %d", first, last)); err != nil {
			return err
		}
	}
	return nil
}

// status is, over every worker, the cameras connected at or after t, those
// with an empty outbox and the connection attempts so far. A worker that
// does not answer counts as nothing connected (the caller's wait times
// out and says so).
func (set *workerSet) status(t time.Time) (connected, drained int, attempts int64) {
	res, err := set.askAll(fmt.Sprintf("status %d", unixNano(t)))
	if err != nil {
		return 0, 0, 0
	}
	for _, r := range res {
		if len(r) == 3 {
			connected += int(r[0])
			drained += int(r[1])
			attempts += r[2]
		}
	}
	return connected, drained, attempts
}

func (set *workerSet) connectedSince(t time.Time) (connected, drained int) {
	c, d, _ := set.status(t)
	return c, d
}

func (set *workerSet) attempts() int64 {
	_, _, a := set.status(time.Time{})
	return a
}

// back is each camera's time from t to its last connection, for those
// connected at or after t.
func (set *workerSet) back(t time.Time) ([]time.Duration, error) {
	res, err := set.askAll(fmt.Sprintf("back %d", unixNano(t)))
	if err != nil {
		return nil, err
	}
	var out []time.Duration
	for w, r := range res {
		if len(r) == 0 || int(r[0]) != len(r)-1 {
			return nil, fmt.Errorf("storm: worker %d: back: malformed answer", w)
		}
		for _, v := range r[1:] {
			out = append(out, time.Duration(v))
		}
	}
	return out, nil
}

// mem is the workers' heap and stacks and goroutines above their start.
func (set *workerSet) mem() (bytes uint64, goroutines int64, err error) {
	res, err := set.askAll("mem")
	if err != nil {
		return 0, 0, err
	}
	for _, r := range res {
		if len(r) == 2 {
			bytes += uint64(max(r[0], 0))
			goroutines += r[1]
		}
	}
	return bytes, goroutines, nil
}

// pids are the workers' process IDs.
func (set *workerSet) pids() []int {
	var p []int
	for _, wk := range set.ws {
		p = append(p, wk.cmd.Process.Pid)
	}
	return p
}

// stop asks every worker to quit and waits for it, killing one that has
// not ended 30 s later. Safe to call more than once.
func (set *workerSet) stop() {
	set.once.Do(func() {
		for _, wk := range set.ws {
			wk.mu.Lock()
			_, _ = io.WriteString(wk.in, "quit\n")
			_ = wk.in.Close()
			wk.mu.Unlock()
		}
		for _, wk := range set.ws {
			done := make(chan struct{})
			go func() { _ = wk.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = wk.cmd.Process.Kill()
				<-done
			}
		}
	})
}

// ServeCameras is a worker process (see workers.go's comment): it reads
// its configuration from file, runs its cameras' MQTT clients and answers
// commands on in until "quit", EOF or the end of ctx.
func ServeCameras(ctx context.Context, file string, in io.Reader, out io.Writer) error {
	mem0, gor0 := clientMemory()
	var wc workerConfig
	if err := readChildConfig(file, &wc); err != nil {
		return fmt.Errorf("storm: worker: %w", err)
	}
	ca, _, err := devca.Open(wc.CADir, nil)
	if err != nil {
		return fmt.Errorf("storm: worker: %w", err)
	}
	f := &Fleet{CADir: wc.CADir, CA: ca}
	for _, wd := range wc.Devices {
		k, err := x509.ParsePKCS8PrivateKey(wd.Key)
		if err != nil {
			return fmt.Errorf("storm: worker: device %d: %w", wd.Index, err)
		}
		key, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return fmt.Errorf("storm: worker: device %d: not an ECDSA key", wd.Index)
		}
		leaf, err := x509.ParseCertificate(wd.Cert)
		if err != nil {
			return fmt.Errorf("storm: worker: device %d: %w", wd.Index, err)
		}
		f.Devices = append(f.Devices, &Device{Index: wd.Index, Key: key, ID: wd.ID, Account: wd.Account,
			Cert: tls.Certificate{Certificate: [][]byte{wd.Cert}, PrivateKey: key, Leaf: leaf}})
	}
	if wc.BackoffNum <= 0 {
		return errors.New("storm: worker: no time scale")
	}
	cfg := Config{Fleet: f, Dir: wc.Dir, NoJitter: wc.NoJitter}
	base := time.Duration(wc.BackoffNum)
	scale := func(d time.Duration) time.Duration { return scaleTime(d, base) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cams, err := startCameras(ctx, cfg, wc.Broker, scale)
	if err != nil {
		return err
	}
	defer cams.stop()
	w := bufio.NewWriter(out)
	say := func(s string) error {
		_, _ = w.WriteString(s)
		_ = w.WriteByte('\n')
		return w.Flush()
	}
	if err := say("ready"); err != nil {
		return err
	}
	lines := make(chan string)
	go scanLines(ctx, in, lines) // ends at EOF; the process exits after quit anyway
	for {
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case line, ok = <-lines:
		}
		if !ok {
			return nil
		}
		fs := strings.Fields(line)
		if len(fs) == 0 {
			continue
		}
		arg := func(i int) int64 {
			if i >= len(fs) {
				return -1
			}
			v, err := strconv.ParseInt(fs[i], 10, 64)
			if err != nil {
				return -1
			}
			return v
		}
		since := func() time.Time {
			if v := arg(1); v > 0 {
				return time.Unix(0, v)
			}
			return time.Time{}
		}
		var ans string
		switch fs[0] {
		case "quit":
			return nil
		case "publish":
			a, z := arg(1), arg(2)
			if a <= 0 || z < a {
				ans = "error bad range"
				break
			}
			cams.publish(uint64(a), uint64(z))
			ans = "ok"
		case "status":
			c, d := cams.connectedSince(since())
			ans = fmt.Sprintf("%d %d %d", c, d, cams.attempts())
		case "back":
			t := since()
			var sb strings.Builder
			k := 0
			for _, c := range cams.clients {
				if st := c.Status(); st.Connected && !st.LastConnected.Before(t) {
					fmt.Fprintf(&sb, " %d", st.LastConnected.Sub(t))
					k++
				}
			}
			ans = strconv.Itoa(k) + sb.String()
		case "mem":
			m, g := clientMemory()
			ans = fmt.Sprintf("%d %d", int64(m)-int64(mem0), g-gor0)
		default:
			ans = "error unknown command " + strconv.Quote(fs[0])
		}
		if err := say(ans); err != nil {
			return err
		}
	}
}

// readChildConfig reads the JSON configuration file a child process (the
// cloud or a camera worker) was started with into v.
func readChildConfig(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// startPiped starts a child process (the cloud or a camera worker) that the
// parent drives with one line per command on its stdin and reads one line
// per answer from its stdout.
func startPiped(cmd *exec.Cmd) (io.WriteCloser, *bufio.Reader, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	return in, bufio.NewReaderSize(out, 1<<20), nil
}

// scanLines is the child's side: it sends each line of in to lines until
// EOF or ctx ends, then closes lines.
func scanLines(ctx context.Context, in io.Reader, lines chan<- string) {
	defer close(lines)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		select {
		case lines <- sc.Text():
		case <-ctx.Done():
			return
		}
	}
}
