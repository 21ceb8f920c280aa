package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/logring"
	"github.com/camagent/camagent/agent/shell"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/jpegframe"
	"github.com/camagent/camagent/uplink/identity"
)

// DefaultVendorKeyPath is where the vendor's service public key (PEM), which
// unlocks the serial shell, is installed with the firmware. The owner's key,
// from the owner binding verified with identity.cloud_key, unlocks too.
const DefaultVendorKeyPath = "/etc/camagent/vendor.pub"

// Limits of the shell's routes.
const (
	maxPublicKeyFile  = 16 << 10
	shellCertMax      = 64 << 10
	defaultSnapWait   = 5 * time.Second
	snapshotQuality   = 85
	maxConfigKey      = 128
	maxConfigValue    = 1024
	snapshotQueueName = "shell-snapshot"
)

// logSource is the agent's log ring (*logring.Ring).
type logSource interface {
	Tail(n int) []logring.Line
	Since(seq uint64, max int) ([]logring.Line, <-chan struct{})
}

// frameSource is the capture hub (*capture.Hub).
type frameSource interface {
	Subscribe(name string, depth int) *capture.Queue
	Unsubscribe(q *capture.Queue)
}

// clipStore is the SD card's clip store (*storage.Store).
type clipStore interface {
	Clips() ([]storage.ClipInfo, error)
	Status() storage.StoreStatus
}

// eventSource is the recent motion events (*shell.EventRing).
type eventSource interface {
	Recent(n int) []shell.Event
}

// motionSource is the detector's per-frame results (*shell.MotionFeed).
type motionSource interface {
	Since(seq uint64, n int) ([]shell.MotionSample, uint64, <-chan struct{})
}

// motionSample converts a detector result for a shell.MotionFeed, with its
// boxes in buf, so that feeding every frame allocates nothing.
func motionSample(r *motion.Result, buf *[shell.MaxBoxes]shell.Box) shell.MotionSample {
	n := 0
	for _, b := range r.Boxes[:min(len(r.Boxes), len(buf))] {
		buf[n] = shell.Box{X: b.X, Y: b.Y, W: b.W, H: b.H}
		n++
	}
	return shell.MotionSample{Frame: r.Frame, Time: r.Time, Motion: r.Motion, Score: r.Score, Noise: r.Noise,
		Threshold: r.Threshold, Light: r.Light, Recalibrated: r.Recalibrated, Boxes: buf[:n]}
}

// shellEvent converts a motion event for a shell.EventRing.
func shellEvent(e *motion.Event) shell.Event {
	out := shell.Event{ID: e.ID, Start: e.Start, End: e.End, PeakScore: e.PeakScore, PeakTime: e.PeakTime}
	for _, b := range e.Boxes {
		out.Boxes = append(out.Boxes, shell.Box{X: b.X, Y: b.Y, W: b.W, H: b.H})
	}
	return out
}

// pipeEvents serves the shell the events the motion part keeps.
type pipeEvents struct{ d *daemon }

func (p pipeEvents) Recent(n int) []shell.Event {
	p.d.pipe.mu.Lock()
	defer p.d.pipe.mu.Unlock()
	evs := p.d.pipe.events
	if n < len(evs) {
		evs = evs[len(evs)-n:]
	}
	out := make([]shell.Event, len(evs))
	for i := range evs {
		out[i] = shellEvent(&evs[i])
	}
	return out
}

// deviceActions are the privileged actions on the device. Each returns a
// message for the technician, or an error wrapping errors.ErrUnsupported when
// the board does not allow it.
type deviceActions interface {
	Reboot(ctx context.Context) (string, error)
	FormatSD(ctx context.Context) (string, error)
	FactoryReset(ctx context.Context) (string, error)
}

// shellConfig is what the shell's routes take from the daemon. Log, Card,
// Config and Actions are required; a nil Events, Motion, Clips or Hub (or a
// Clips that returns nil) makes its commands say that the part is not
// running.
type shellConfig struct {
	Logger *slog.Logger
	Now    func() time.Time
	Log    logSource
	Hub    frameSource
	// Card returns the SD card as currently configured.
	Card func() *storage.Card
	// Config returns the running config and where it came from.
	Config func() (config.Config, config.Source)
	// CaptureState says what the camera is doing, for error messages.
	CaptureState func() string
	Events       eventSource
	Motion       motionSource
	// Clips returns the clip store while it runs, nil otherwise.
	Clips func() clipStore
	// KeyPath is the device key; VendorKeyPath and PairingKeyPath the public
	// keys of the vendor's service key and of the cloud's pairing key.
	KeyPath, VendorKeyPath, PairingKeyPath string
	Actions                                deviceActions
	// Unlock tunes the unlock protocol (clock, randomness, TTLs); its
	// DeviceID and TrustedKeys are filled in from the paths above.
	Unlock shell.UnlockConfig
	// SnapshotWait bounds the wait for a frame (default 5 s).
	SnapshotWait time.Duration
}

// shellServer serves the shell's routes.
type shellServer struct {
	cfg    shellConfig
	log    *slog.Logger
	unlock *shell.Unlocker
}

func newShellServer(cfg shellConfig) *shellServer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SnapshotWait <= 0 {
		cfg.SnapshotWait = defaultSnapWait
	}
	if cfg.CaptureState == nil {
		cfg.CaptureState = func() string { return "unknown" }
	}
	s := &shellServer{cfg: cfg, log: cfg.Logger}
	uc := cfg.Unlock
	if uc.Now == nil {
		uc.Now = cfg.Now
	}
	uc.DeviceID = s.deviceID
	uc.TrustedKeys = s.trustedKeys
	s.unlock = shell.NewUnlocker(uc)
	return s
}

// shellRoutes returns the control-socket routes `camagent shell` needs.
// Unlock sessions live as long as these routes (a restart of the control
// part locks every shell).
func (d *daemon) shellRoutes() []control.Route {
	cfg, _ := d.config()
	card := func() *storage.Card {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.card
	}
	log := d.log.With("part", "shell")
	return newShellServer(shellConfig{
		Logger:       log,
		Log:          d.ring,
		Hub:          d.hub,
		Card:         card,
		Config:       d.config,
		CaptureState: func() string { return d.capture.Stats().State },
		Events:       pipeEvents{d},
		Motion:       d.pipe.feed,
		Clips: func() clipStore {
			d.pipe.mu.Lock()
			defer d.pipe.mu.Unlock()
			if d.pipe.store == nil {
				return nil
			}
			return d.pipe.store
		},
		KeyPath:        cfg.Identity.Key,
		VendorKeyPath:  DefaultVendorKeyPath,
		PairingKeyPath: cfg.Identity.CloudKey,
		Actions: newBoardActions(boardActionsConfig{
			Board: cfg.Board, Logger: log, Card: card, KeyPath: cfg.Identity.Key,
			RestartStorage: func() { d.sup.Restart("storage"); d.sup.Restart("recorder") },
		}),
	}).routes()
}

func (s *shellServer) routes() []control.Route {
	get := func(path string, h http.HandlerFunc) control.Route {
		return control.Route{Method: http.MethodGet, Path: path, Handler: h}
	}
	post := func(path string, h http.HandlerFunc) control.Route {
		return control.Route{Method: http.MethodPost, Path: path, Write: true, Handler: h}
	}
	return []control.Route{
		get(shell.PathLog, s.serveLog),
		get(shell.PathEvents, s.serveEvents),
		get(shell.PathClips, s.serveClips),
		get(shell.PathClipVerify, s.serveClipVerify),
		get(shell.PathUploads, s.serveUploads),
		get(shell.PathNet, s.serveNet),
		get(shell.PathConfig, s.serveConfig),
		get(shell.PathMotion, s.serveMotion),
		get(shell.PathStorage, s.serveStorage),
		get(shell.PathID, s.serveID),
		post(shell.PathSnapshot, s.serveSnapshot),
		post(shell.PathChallenge, s.serveChallenge),
		post(shell.PathUnlock, s.serveUnlock),
		post(shell.PathLock, s.serveLock),
		post(shell.PathConfigSet, s.serveConfigSet),
		post(shell.PathReboot, s.privileged("reboot", deviceActions.Reboot)),
		post(shell.PathFormatSD, s.privileged("format-sd", deviceActions.FormatSD)),
		post(shell.PathFactoryReset, s.privileged("factory-reset", deviceActions.FactoryReset)),
	}
}

// queryInt parses the query parameter name: def when absent, else an
// integer in [lo, hi]. On failure it answers 400 and returns false.
func queryInt(w http.ResponseWriter, r *http.Request, name string, def, lo, hi int64) (int64, bool) {
	q := r.URL.Query().Get(name)
	if q == "" {
		return def, true
	}
	v, err := strconv.ParseInt(q, 10, 64)
	if err != nil || v < lo || v > hi {
		control.WriteError(w, http.StatusBadRequest, fmt.Sprintf("%s=%.20q: want an integer from %d to %d", name, q, lo, hi))
		return 0, false
	}
	return v, true
}

// waitNews blocks until ch closes, d passes or the request ends.
func waitNews(r *http.Request, ch <-chan struct{}, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-r.Context().Done():
	}
}

func (s *shellServer) serveLog(w http.ResponseWriter, r *http.Request) {
	n, ok := queryInt(w, r, "n", shell.DefaultLogTail, 0, shell.MaxLogLines)
	if !ok {
		return
	}
	after, ok := queryInt(w, r, "after", -1, 0, 1<<62)
	if !ok {
		return
	}
	waitMS, ok := queryInt(w, r, "wait", 0, 0, shell.MaxWait.Milliseconds())
	if !ok {
		return
	}
	last := func() uint64 {
		if t := s.cfg.Log.Tail(1); len(t) == 1 {
			return t[0].Seq
		}
		return 0
	}
	var lines []logring.Line
	if after < 0 {
		lines = s.cfg.Log.Tail(int(n))
	} else {
		var ch <-chan struct{}
		lines, ch = s.cfg.Log.Since(uint64(after), int(n))
		if len(lines) == 0 && n > 0 && uint64(after) <= last() {
			waitNews(r, ch, time.Duration(waitMS)*time.Millisecond)
			lines, _ = s.cfg.Log.Since(uint64(after), int(n))
		}
	}
	out := shell.LogResponse{Lines: make([]shell.LogLine, len(lines)), Last: last()}
	for i, l := range lines {
		out.Lines[i] = shell.LogLine{Seq: l.Seq, Text: l.Text}
	}
	if len(lines) > 0 {
		out.Last = max(out.Last, lines[len(lines)-1].Seq)
	}
	control.WriteJSON(w, http.StatusOK, out)
}

func (s *shellServer) serveEvents(w http.ResponseWriter, r *http.Request) {
	n, ok := queryInt(w, r, "n", 20, 1, shell.MaxEvents)
	if !ok {
		return
	}
	out := shell.EventsResponse{Events: []shell.Event{}}
	if s.cfg.Events != nil {
		out.Events = s.cfg.Events.Recent(int(n))
	}
	control.WriteJSON(w, http.StatusOK, out)
}

const noClipStore = "clip store not available in this build"

// clipStore returns the running clip store, or nil.
func (s *shellServer) clipStore() clipStore {
	if s.cfg.Clips == nil {
		return nil
	}
	return s.cfg.Clips()
}

// clipInfo converts the store's description of a clip to the shell's.
func clipInfo(c storage.ClipInfo) shell.Clip {
	return shell.Clip{Name: c.Name, Path: c.Path, State: string(c.State), Size: c.Size, Duration: c.Duration,
		Frames: c.Frames, Start: c.Start, EventTime: c.EventTime, Events: c.Events, Codec: c.Codec,
		Width: c.Width, Height: c.Height, SHA256: c.SHA256, Thumbnail: c.Thumbnail, Manifest: c.Manifest,
		PeakScore: c.PeakScore, Recovered: c.Recovered}
}

// findClip looks a clip up by name; on failure it answers and returns false.
func (s *shellServer) findClip(w http.ResponseWriter, name string) (storage.ClipInfo, bool) {
	store := s.clipStore()
	if store == nil {
		control.WriteError(w, http.StatusServiceUnavailable, noClipStore)
		return storage.ClipInfo{}, false
	}
	clips, err := store.Clips()
	if err != nil && len(clips) == 0 {
		control.WriteError(w, http.StatusServiceUnavailable, "clips: "+err.Error())
		return storage.ClipInfo{}, false
	}
	for _, c := range clips {
		if c.Name == name {
			return c, true
		}
	}
	control.WriteError(w, http.StatusNotFound, fmt.Sprintf("no clip named %.80q (clips lists them)", name))
	return storage.ClipInfo{}, false
}

func (s *shellServer) serveClips(w http.ResponseWriter, r *http.Request) {
	if name := r.URL.Query().Get("name"); name != "" {
		if c, ok := s.findClip(w, name); ok {
			control.WriteJSON(w, http.StatusOK, shell.ClipsResponse{Clips: []shell.Clip{clipInfo(c)}})
		}
		return
	}
	store := s.clipStore()
	if store == nil {
		control.WriteError(w, http.StatusServiceUnavailable, noClipStore)
		return
	}
	clips, err := store.Clips()
	if err != nil && len(clips) == 0 {
		control.WriteError(w, http.StatusServiceUnavailable, "clips: "+err.Error())
		return
	}
	out := shell.ClipsResponse{Clips: make([]shell.Clip, len(clips))}
	for i, c := range clips {
		out.Clips[i] = clipInfo(c)
	}
	control.WriteJSON(w, http.StatusOK, out)
}

// serveClipVerify checks a clip and its thumbnail against the signed
// manifest beside them, as `camagent verify` does, pinned to this device.
func (s *shellServer) serveClipVerify(w http.ResponseWriter, r *http.Request) {
	c, ok := s.findClip(w, r.URL.Query().Get("name"))
	if !ok {
		return
	}
	var buf bytes.Buffer
	v := &verifier{out: &buf}
	if key, err := s.loadKey(); err == nil {
		v.pin = key.DeviceID()
	} else {
		fmt.Fprintf(&buf, "INFO device key: %v; the manifest's device ID is not pinned\n", err)
	}
	for _, g := range sidecarGroups([]string{c.Path}) {
		v.group(g.manifest, g.files)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	control.WriteJSON(w, http.StatusOK, shell.VerifyResponse{Lines: lines, OK: v.failed == 0 && v.checks > 0})
}

func (s *shellServer) serveUploads(w http.ResponseWriter, _ *http.Request) {
	control.WriteError(w, http.StatusNotImplemented, "uploads: not available yet in this build (the upload queue is not part of the agent yet)")
}

func (s *shellServer) serveNet(w http.ResponseWriter, _ *http.Request) {
	ifs, err := net.Interfaces()
	if err != nil {
		control.WriteError(w, http.StatusInternalServerError, "net: "+err.Error())
		return
	}
	out := shell.NetResponse{Interfaces: make([]shell.Interface, 0, len(ifs))}
	for _, i := range ifs {
		si := shell.Interface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Flags: i.Flags.String(), MTU: i.MTU,
			MAC: i.HardwareAddr.String()}
		if addrs, err := i.Addrs(); err == nil {
			for _, a := range addrs {
				si.Addrs = append(si.Addrs, a.String())
			}
		}
		out.Interfaces = append(out.Interfaces, si)
	}
	control.WriteJSON(w, http.StatusOK, out)
}

// configTree returns c as a TOML tree.
func configTree(c config.Config) (map[string]any, error) {
	data, err := config.Marshal(c)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return nil, fmt.Errorf("config: decode: %w", err)
	}
	return raw, nil
}

// lookupKey finds a dotted key in a TOML tree.
func lookupKey(tree map[string]any, key string) (any, bool) {
	var v any = tree
	for part := range strings.SplitSeq(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

// keyDocument returns the TOML document holding only key = v.
func keyDocument(key string, v any) (string, error) {
	parts := strings.Split(key, ".")
	doc := map[string]any{parts[len(parts)-1]: v}
	for i := len(parts) - 2; i >= 0; i-- {
		doc = map[string]any{parts[i]: doc}
	}
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("config: encode %s: %w", key, err)
	}
	return strings.TrimSpace(b.String()), nil
}

// valueText is a value's TOML text on one line.
func valueText(v any) string {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(map[string]any{"v": v}); err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSpace(b.String())
	if rest, ok := strings.CutPrefix(s, "v = "); ok && !strings.Contains(rest, "\n") {
		return rest
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func (s *shellServer) serveConfig(w http.ResponseWriter, r *http.Request) {
	cfg, _ := s.cfg.Config()
	tree, err := configTree(cfg)
	if err != nil {
		control.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	key := r.URL.Query().Get("key")
	if key == "" {
		data, err := config.Marshal(cfg)
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		control.WriteJSON(w, http.StatusOK, shell.ConfigResponse{TOML: string(data)})
		return
	}
	v, ok := lookupKey(tree, key)
	if !ok {
		control.WriteError(w, http.StatusNotFound, fmt.Sprintf("config: no key %.80q (config get lists the config; Tab completes keys)", key))
		return
	}
	doc, err := keyDocument(key, v)
	if err != nil {
		control.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	control.WriteJSON(w, http.StatusOK, shell.ConfigResponse{Key: key, TOML: doc})
}

// checkSession answers 403 with the reason and returns false when session
// does not unlock.
func (s *shellServer) checkSession(w http.ResponseWriter, what, session string) (shell.Session, bool) {
	sess, err := s.unlock.Check(session)
	if err != nil {
		s.log.Warn("shell: privileged command refused", "command", what, "err", err)
		control.WriteError(w, http.StatusForbidden, err.Error())
		return shell.Session{}, false
	}
	return sess, true
}

// hasControl reports control characters, which no key or value may hold.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r != '\t' && unicode.IsControl(r) })
}

// parseValue reads a value typed after config set: a TOML value (25, 2.5,
// true, "text", ["a", "b"]) or, when it is not one, the text itself as a
// string (debug, 10s, /dev/video1).
func parseValue(text string) any {
	var doc map[string]any
	if _, err := toml.Decode("v = "+text, &doc); err == nil && len(doc) == 1 {
		if v, ok := doc["v"]; ok {
			return v
		}
	}
	return text
}

// setKey sets a dotted key in a TOML tree, creating tables on the way.
func setKey(tree map[string]any, key string, v any) error {
	parts := strings.Split(key, ".")
	m := tree
	for i, p := range parts[:len(parts)-1] {
		next, ok := m[p]
		if !ok {
			sub := map[string]any{}
			m[p] = sub
			m = sub
			continue
		}
		if m, ok = next.(map[string]any); !ok {
			return fmt.Errorf("config: %s is a value, not a table", strings.Join(parts[:i+1], "."))
		}
	}
	m[parts[len(parts)-1]] = v
	return nil
}

// serveConfigSet changes one key of the config file: the file is read, the
// key set, the result checked with config.Parse (which names the key and what
// it allows) and written atomically; the agent's watcher then reloads it.
// The file is rewritten from its parsed form, so its comments are lost.
func (s *shellServer) serveConfigSet(w http.ResponseWriter, r *http.Request) {
	var req shell.ConfigSetRequest
	if !control.ReadJSON(w, r, &req) {
		return
	}
	sess, ok := s.checkSession(w, "config set", req.Session)
	if !ok {
		return
	}
	switch {
	case req.Key == "" || len(req.Key) > maxConfigKey || hasControl(req.Key) || slices.Contains(strings.Split(req.Key, "."), ""):
		control.WriteError(w, http.StatusBadRequest, fmt.Sprintf("config set: bad key %.80q", req.Key))
		return
	case len(req.Value) > maxConfigValue || hasControl(req.Value):
		control.WriteError(w, http.StatusBadRequest, fmt.Sprintf("config set: the value must be at most %d bytes without control characters", maxConfigValue))
		return
	}
	running, src := s.cfg.Config()
	if src.Path == "" {
		control.WriteError(w, http.StatusConflict, "config set: the agent runs without a config file")
		return
	}
	path := src.Path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	data, mode, err := readConfigFile(path)
	if err != nil {
		control.WriteError(w, http.StatusConflict, "config set: "+err.Error())
		return
	}
	before, err := config.Parse(data)
	if err != nil {
		control.WriteError(w, http.StatusConflict, "config set: the file on disk is invalid now, fix it by hand: "+config.OneLine(err))
		return
	}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		control.WriteError(w, http.StatusConflict, "config set: "+err.Error())
		return
	}
	if tree == nil {
		tree = map[string]any{}
	}
	old := "(not set)"
	if rt, err := configTree(running); err == nil {
		if v, ok := lookupKey(rt, req.Key); ok {
			old = valueText(v)
		}
	}
	value := parseValue(req.Value)
	if err := setKey(tree, req.Key, value); err != nil {
		control.WriteError(w, http.StatusBadRequest, "config set: "+err.Error())
		return
	}
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(tree); err != nil {
		control.WriteError(w, http.StatusBadRequest, "config set: "+err.Error())
		return
	}
	after, err := config.Parse(b.Bytes())
	if err != nil {
		control.WriteError(w, http.StatusBadRequest, "config set refused: "+config.OneLine(err))
		return
	}
	out := shell.ConfigSetResponse{Path: path, Key: req.Key, Old: old, New: valueText(value),
		Sections: config.Changed(before, after)}
	if out.Sections == nil {
		out.Sections = []string{}
	}
	if len(out.Sections) > 0 {
		if err := storage.WriteFileAtomic(path, b.Bytes(), mode); err != nil {
			control.WriteError(w, http.StatusInternalServerError, "config set: "+err.Error())
			return
		}
	}
	s.log.Info("shell: config set", "key", req.Key, "value", valueText(value), "path", path, "by", sess.By)
	control.WriteJSON(w, http.StatusOK, out)
}

// readConfigFile reads the config file and its permissions.
func readConfigFile(path string) ([]byte, os.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, config.MaxFileSize+1))
	if err != nil {
		return nil, 0, err
	}
	if len(data) > config.MaxFileSize {
		return nil, 0, fmt.Errorf("%s is over %d bytes", path, config.MaxFileSize)
	}
	return data, fi.Mode().Perm(), nil
}

func (s *shellServer) serveMotion(w http.ResponseWriter, r *http.Request) {
	n, ok := queryInt(w, r, "n", 10, 0, shell.MaxMotion)
	if !ok {
		return
	}
	after, ok := queryInt(w, r, "after", 0, 0, 1<<62)
	if !ok {
		return
	}
	waitMS, ok := queryInt(w, r, "wait", 0, 0, shell.MaxWait.Milliseconds())
	if !ok {
		return
	}
	if s.cfg.Motion == nil {
		control.WriteError(w, http.StatusServiceUnavailable, "motion detection not running")
		return
	}
	samples, last, ch := s.cfg.Motion.Since(uint64(after), int(n))
	if len(samples) == 0 && n > 0 && uint64(after) <= last {
		waitNews(r, ch, time.Duration(waitMS)*time.Millisecond)
		samples, last, _ = s.cfg.Motion.Since(uint64(after), int(n))
	}
	if samples == nil {
		samples = []shell.MotionSample{}
	}
	control.WriteJSON(w, http.StatusOK, shell.MotionResponse{Samples: samples, Last: last})
}

func (s *shellServer) serveStorage(w http.ResponseWriter, _ *http.Request) {
	card := s.cfg.Card()
	h := card.Probe()
	out := shell.StorageResponse{Mount: card.Mount, State: h.State, Device: h.Device, FSType: h.FSType,
		FreeBytes: h.FreeBytes, TotalBytes: h.TotalBytes}
	if h.Err != nil {
		out.Error = h.Err.Error()
	}
	if store := s.clipStore(); store == nil {
		out.StoreMissing = noClipStore
	} else {
		st := store.Status()
		rec := st.LastRecovery
		out.Store = &shell.StoreSummary{Clips: st.Clips, Uploaded: st.Uploaded, Bytes: st.Bytes, Recording: st.Recording,
			Sealed: st.Sealed, Deleted: st.Deleted, BytesWritten: st.BytesWritten,
			RecoveryAt: rec.At, RecoverySealed: rec.Sealed, RecoveryCutBytes: rec.CutBytes, RecoveryRemoved: rec.Removed,
			RecoveryCompleted: rec.Completed, RecoveryOrphans: rec.Orphans, RecoveryFailed: rec.Failed}
		if st.Error != "" && out.Error == "" {
			out.Error = st.Error
		}
	}
	control.WriteJSON(w, http.StatusOK, out)
}

// loadKey opens the device key without creating one: the shell only reads.
func (s *shellServer) loadKey() (*identity.DeviceKey, error) {
	if _, err := os.Stat(s.cfg.KeyPath); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no device key at %s (camagent provision creates it)", s.cfg.KeyPath)
	}
	k, _, err := identity.OpenDeviceKey(s.cfg.KeyPath)
	return k, err
}

func (s *shellServer) deviceID() (string, error) {
	k, err := s.loadKey()
	if err != nil {
		return "", err
	}
	return k.DeviceID(), nil
}

// readPublicKey reads a PEM public key file.
func readPublicKey(path, what string) (crypto.PublicKey, error) {
	if path == "" {
		return nil, fmt.Errorf("no %s configured", what)
	}
	b, err := readLimited(path, maxPublicKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s at %s", what, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	k, err := identity.ParsePublicKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return k, nil
}

// keyFingerprint names a public key by the SHA-256 of its SubjectPublicKeyInfo.
func keyFingerprint(pub crypto.PublicKey) string {
	der, err := identity.PublicKeyDER(pub)
	if err != nil {
		return "(not a P-256 key)"
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// ownerBinding loads and verifies the owner binding.
func (s *shellServer) ownerBinding(deviceID string) (identity.OwnerBinding, error) {
	path := identity.BindingPath(s.cfg.KeyPath)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return identity.OwnerBinding{}, fmt.Errorf("%w (no owner binding at %s)", identity.ErrNotPaired, path)
	}
	pairing, err := readPublicKey(s.cfg.PairingKeyPath, "cloud pairing key (identity.cloud_key)")
	if err != nil {
		return identity.OwnerBinding{}, fmt.Errorf("owner binding cannot be verified: %w", err)
	}
	return identity.LoadOwnerBinding(path, pairing, deviceID)
}

// trustedKeys returns the keys that unlock: the vendor's service key and
// the owner's key from a verified owner binding.
func (s *shellServer) trustedKeys() ([]shell.TrustedKey, error) {
	var keys []shell.TrustedKey
	var errs []error
	if vk, err := readPublicKey(s.cfg.VendorKeyPath, "vendor key"); err == nil {
		keys = append(keys, shell.TrustedKey{Name: "vendor key " + keyFingerprint(vk), Key: vk})
	} else {
		errs = append(errs, err)
	}
	id, err := s.deviceID()
	if err != nil {
		return keys, errors.Join(append(errs, err)...)
	}
	b, err := s.ownerBinding(id)
	if err != nil {
		return keys, errors.Join(append(errs, err)...)
	}
	ok, err := identity.ParsePublicKey(b.OwnerKey)
	if err != nil {
		return keys, errors.Join(append(errs, err)...)
	}
	keys = append(keys, shell.TrustedKey{Name: "owner account " + b.OwnerAccount + " (" + keyFingerprint(ok) + ")", Key: ok})
	return keys, errors.Join(errs...)
}

// serveID answers with the device's identity. It reads the private key file
// only through keystore, which never hands out the private key: the answer
// holds the public key and what certifies it.
func (s *shellServer) serveID(w http.ResponseWriter, _ *http.Request) {
	out := shell.IDResponse{KeyPath: s.cfg.KeyPath}
	key, err := s.loadKey()
	if err != nil {
		out.KeyError = err.Error()
	} else {
		out.DeviceID = key.DeviceID()
		if pemText, err := identity.PublicKeyPEM(key.Public()); err == nil {
			out.PublicKeyPEM = string(pemText)
		}
		out.Certificate = certInfo(identity.CertPath(s.cfg.KeyPath), key.Public())
		o := &shell.OwnerInfo{Path: identity.BindingPath(s.cfg.KeyPath)}
		b, err := s.ownerBinding(key.DeviceID())
		switch {
		case errors.Is(err, identity.ErrNotPaired):
		case err != nil:
			o.Paired, o.Error = true, err.Error()
		default:
			o.Paired, o.Verified, o.Account, o.Issued = true, true, b.OwnerAccount, b.Issued
			if pub, err := identity.ParsePublicKey(b.OwnerKey); err == nil {
				o.OwnerKey = keyFingerprint(pub)
			}
		}
		out.Owner = o
	}
	if vk, err := readPublicKey(s.cfg.VendorKeyPath, "vendor key"); err == nil {
		out.VendorKey = keyFingerprint(vk) + " (" + s.cfg.VendorKeyPath + ")"
	} else {
		out.VendorKey = "none: " + err.Error()
	}
	control.WriteJSON(w, http.StatusOK, out)
}

// certInfo describes the device certificate at path, or nil when there is
// none.
func certInfo(path string, pub crypto.PublicKey) *shell.CertInfo {
	data, err := readLimited(path, shellCertMax)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	ci := &shell.CertInfo{Path: path}
	if err != nil {
		ci.Error = err.Error()
		return ci
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "CERTIFICATE" {
		ci.Error = "no CERTIFICATE PEM block"
		return ci
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		ci.Error = err.Error()
		return ci
	}
	ci.Subject, ci.Issuer = cert.Subject.String(), cert.Issuer.String()
	ci.NotBefore, ci.NotAfter = cert.NotBefore, cert.NotAfter
	if der, err := identity.PublicKeyDER(pub); err == nil {
		ci.MatchesKey = bytes.Equal(der, cert.RawSubjectPublicKeyInfo)
	}
	return ci
}

// serveSnapshot saves the next frame as a JPEG under camagent/snapshots/ on
// the card: raw frames (YUYV, NV12, GREY) are encoded, MJPEG frames saved as
// they are.
func (s *shellServer) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	card := s.cfg.Card()
	if h := card.Probe(); h.State != storage.StateWritable {
		msg := "snapshot: the SD card is " + h.State
		if h.Err != nil {
			msg += ": " + h.Err.Error()
		}
		control.WriteError(w, http.StatusConflict, msg)
		return
	}
	if s.cfg.Hub == nil {
		control.WriteError(w, http.StatusServiceUnavailable, "snapshot: capture is not running")
		return
	}
	q := s.cfg.Hub.Subscribe(snapshotQueueName, 1)
	defer s.cfg.Hub.Unsubscribe(q)
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.SnapshotWait)
	f, err := q.Next(ctx)
	cancel()
	if err != nil {
		control.WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf("snapshot: no frame from the camera in %s (capture %s)",
			s.cfg.SnapshotWait, s.cfg.CaptureState()))
		return
	}
	data, err := snapshotJPEG(f)
	format, seq, at := f.Format, f.Seq, f.Time
	f.Release()
	if err != nil {
		control.WriteError(w, http.StatusUnsupportedMediaType, "snapshot: "+err.Error())
		return
	}
	dir := filepath.Join(card.Dir(), "snapshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		control.WriteError(w, http.StatusInternalServerError, "snapshot: "+err.Error())
		return
	}
	name := fmt.Sprintf("%s-f%d.jpg", s.cfg.Now().UTC().Format("20060102-150405"), seq)
	path := filepath.Join(dir, name)
	if err := storage.WriteFileAtomic(path, data, 0o644); err != nil {
		control.WriteError(w, http.StatusInternalServerError, "snapshot: "+err.Error())
		return
	}
	s.log.Info("shell: snapshot", "path", path, "bytes", len(data))
	control.WriteJSON(w, http.StatusOK, shell.SnapshotResponse{Path: path, Bytes: len(data), Width: format.Width,
		Height: format.Height, Format: format.Pixel.String(), Frame: seq, Time: at})
}

// snapshotJPEG returns a frame as JPEG bytes (a copy: the frame goes back to
// its pool).
func snapshotJPEG(f *capture.Frame) ([]byte, error) {
	switch f.Pixel {
	case capture.FormatMJPEG:
		if len(f.Data) < 4 || f.Data[0] != 0xff || f.Data[1] != 0xd8 {
			return nil, errors.New("the MJPEG frame does not start with a JPEG header")
		}
		return bytes.Clone(f.Data), nil
	case capture.FormatH264:
		return nil, errors.New("the camera sends H.264; a snapshot needs a raw or MJPEG stream")
	}
	var p jpegframe.Picture
	if err := p.Load(f.Format, f.Data); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := p.Encode(&b, snapshotQuality); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (s *shellServer) serveChallenge(w http.ResponseWriter, _ *http.Request) {
	c, err := s.unlock.Challenge()
	if err != nil {
		control.WriteError(w, http.StatusServiceUnavailable, "unlock: "+err.Error())
		return
	}
	out := shell.ChallengeResponse{Challenge: c.String(), DeviceID: c.DeviceID, Expires: c.Expires,
		TTLSeconds: c.Expires.Sub(s.cfg.Now()).Seconds(), Keys: []string{}}
	keys, kerr := s.trustedKeys()
	for _, k := range keys {
		out.Keys = append(out.Keys, k.Name)
	}
	if kerr != nil {
		out.KeysProblem = strings.ReplaceAll(kerr.Error(), "\n", "; ")
	}
	s.log.Info("shell: unlock challenge issued", "expires", c.Expires)
	control.WriteJSON(w, http.StatusOK, out)
}

func (s *shellServer) serveUnlock(w http.ResponseWriter, r *http.Request) {
	var req shell.UnlockRequest
	if !control.ReadJSON(w, r, &req) {
		return
	}
	sess, err := s.unlock.Unlock(req.Response)
	if err != nil {
		s.log.Warn("shell: unlock refused", "err", strings.ReplaceAll(err.Error(), "\n", "; "))
		control.WriteError(w, http.StatusForbidden, strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	s.log.Warn("shell: unlocked", "by", sess.By, "until", sess.Expires)
	control.WriteJSON(w, http.StatusOK, shell.UnlockResponse{Session: sess.Token, Expires: sess.Expires,
		TTLSeconds: sess.Expires.Sub(s.cfg.Now()).Seconds(), By: sess.By})
}

func (s *shellServer) serveLock(w http.ResponseWriter, r *http.Request) {
	var req shell.SessionRequest
	if !control.ReadJSON(w, r, &req) {
		return
	}
	msg := "locked"
	if !s.unlock.Lock(req.Session) {
		msg = "no such session (already locked)"
	} else {
		s.log.Info("shell: locked")
	}
	control.WriteJSON(w, http.StatusOK, shell.ActionResponse{Message: msg})
}

// privileged serves an action that needs an unlocked session.
func (s *shellServer) privileged(name string, act func(deviceActions, context.Context) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req shell.SessionRequest
		if !control.ReadJSON(w, r, &req) {
			return
		}
		sess, ok := s.checkSession(w, name, req.Session)
		if !ok {
			return
		}
		s.log.Warn("shell: "+name, "by", sess.By)
		msg, err := act(s.cfg.Actions, r.Context())
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			control.WriteError(w, http.StatusNotImplemented, err.Error())
		case err != nil:
			s.log.Error("shell: "+name+" failed", "err", err)
			control.WriteError(w, http.StatusInternalServerError, err.Error())
		default:
			control.WriteJSON(w, http.StatusOK, shell.ActionResponse{Message: msg})
		}
	}
}

// boardActionsConfig configures the board's privileged actions.
type boardActionsConfig struct {
	Board  string
	Logger *slog.Logger
	Card   func() *storage.Card
	// KeyPath is the device key; factory-reset removes the owner binding
	// beside it and keeps the key and certificate (the device's identity).
	KeyPath string
	// RestartStorage restarts the parts that write on the card, after
	// format-sd erased it.
	RestartStorage func()
	// Reboot asks the init system for a clean reboot; nil runs the
	// `reboot` command found in PATH.
	Reboot func(ctx context.Context) error
	// Euid is the effective user ID (default os.Geteuid).
	Euid func() int
}

// boardActions are the privileged actions as a board allows them. Only the
// board profiles of devices that the agent runs as firmware (qemu-virt,
// raspberry-pi) may reboot or erase anything; on generic-uvc, the profile a
// developer's machine runs, every action is refused, so that no shell can
// reboot or wipe a host.
type boardActions struct{ cfg boardActionsConfig }

func newBoardActions(cfg boardActionsConfig) *boardActions {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Euid == nil {
		cfg.Euid = os.Geteuid
	}
	if cfg.Reboot == nil {
		cfg.Reboot = rebootThroughInit
	}
	if cfg.RestartStorage == nil {
		cfg.RestartStorage = func() {}
	}
	return &boardActions{cfg: cfg}
}

// allowed reports whether the board lets the agent act on the device.
func (b *boardActions) allowed(what string) error {
	switch b.cfg.Board {
	case "qemu-virt", "raspberry-pi":
	default:
		return fmt.Errorf("%s: %w on board %q (only the qemu-virt and raspberry-pi profiles let the agent act on the machine)",
			what, errors.ErrUnsupported, b.cfg.Board)
	}
	if b.cfg.Euid() != 0 {
		return fmt.Errorf("%s: %w: the agent does not run as root", what, errors.ErrUnsupported)
	}
	return nil
}

// rebootThroughInit runs the init system's reboot command, which stops the
// agent (and everything else) cleanly and unmounts the SD card before the
// machine restarts; busybox's signals PID 1, systemd's queues reboot.target.
func rebootThroughInit(ctx context.Context) error {
	path, err := exec.LookPath("reboot")
	if err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path).CombinedOutput(); err != nil {
		return fmt.Errorf("reboot: %s: %w: %s", path, err, bytes.TrimSpace(out))
	}
	return nil
}

// Reboot restarts the machine through its init system.
func (b *boardActions) Reboot(ctx context.Context) (string, error) {
	if err := b.allowed("reboot"); err != nil {
		return "", err
	}
	if err := b.cfg.Reboot(ctx); err != nil {
		return "", err
	}
	return "rebooting: the init system stops camagent cleanly first", nil
}

// FormatSD erases the agent's folder on the SD card (clips, snapshots, run
// record) and restarts the storage part. It does not run mkfs: the card's
// file system is the board's.
func (b *boardActions) FormatSD(context.Context) (string, error) {
	if err := b.allowed("format-sd"); err != nil {
		return "", err
	}
	n, size, err := b.eraseCard()
	if err != nil {
		return "", err
	}
	b.cfg.RestartStorage()
	return fmt.Sprintf("erased %s: %d files, %d bytes; storage restarted", b.cfg.Card().Dir(), n, size), nil
}

// eraseCard removes the agent's folder on the card.
func (b *boardActions) eraseCard() (files int, size int64, err error) {
	card := b.cfg.Card()
	h := card.Probe()
	if h.State != storage.StateWritable && h.State != storage.StateFull {
		return 0, 0, fmt.Errorf("erase SD card: it is %s: %v", h.State, h.Err)
	}
	dir := card.Dir()
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files++
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return 0, 0, fmt.Errorf("erase SD card: %w", err)
	}
	if err := storage.SyncDir(card.Mount); err != nil {
		return 0, 0, fmt.Errorf("erase SD card: %w", err)
	}
	b.cfg.Logger.Warn("shell: SD card erased", "dir", dir, "files", files, "bytes", size)
	return files, size, nil
}

// FactoryReset removes the owner binding (the device is unpaired; its key and
// certificate stay: they are its identity), erases the agent's data on the
// SD card, and reboots. The config file is left as it is.
func (b *boardActions) FactoryReset(ctx context.Context) (string, error) {
	if err := b.allowed("factory-reset"); err != nil {
		return "", err
	}
	var done []string
	binding := identity.BindingPath(b.cfg.KeyPath)
	switch err := os.Remove(binding); {
	case err == nil:
		done = append(done, "owner binding removed")
		_ = storage.SyncDir(filepath.Dir(binding))
	case errors.Is(err, fs.ErrNotExist):
		done = append(done, "was not paired")
	default:
		return "", fmt.Errorf("factory-reset: %w", err)
	}
	if n, _, err := b.eraseCard(); err != nil {
		done = append(done, "SD card not erased: "+err.Error())
	} else {
		done = append(done, fmt.Sprintf("SD card erased (%d files)", n))
	}
	if err := b.cfg.Reboot(ctx); err != nil {
		return "", fmt.Errorf("factory-reset: %s; but %w", strings.Join(done, ", "), err)
	}
	done = append(done, "rebooting")
	return "factory reset: " + strings.Join(done, ", "), nil
}
