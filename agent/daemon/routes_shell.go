package daemon

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/camagent/camagent/agent/config"
	"github.com/camagent/camagent/agent/control"
	"github.com/camagent/camagent/agent/logring"
	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
	"github.com/camagent/camagent/storage"
	"github.com/camagent/camagent/storage/jpegframe"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/camagent/camagent/uplink/verify"
)

// DefaultVendorKeyPath is where the vendor's service public key (PEM), which
// unlocks the serial shell, is installed with the firmware. The owner's key,
// from the owner binding verified with identity.cloud_key, unlocks too.
const DefaultVendorKeyPath = "/etc/camagent/vendor.pub"

// Limits of the shell's routes.
const (
	defaultSnapWait   = 5 * time.Second
	snapshotQuality   = 85
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

// eventSource is the recent motion events (*EventRing).
type eventSource interface {
	Recent(n int) []control.Event
}

// motionSource is the detector's per-frame results (*MotionFeed).
type motionSource interface {
	Since(seq uint64, n int) ([]control.MotionSample, uint64, <-chan struct{})
}

// motionSample converts a detector result for a MotionFeed, with its
// boxes in buf, so that feeding every frame allocates nothing.
func motionSample(r *motion.Result, buf *[control.MaxBoxes]control.Box) control.MotionSample {
	n := 0
	for _, b := range r.Boxes[:min(len(r.Boxes), len(buf))] {
		buf[n] = control.Box{X: b.X, Y: b.Y, W: b.W, H: b.H}
		n++
	}
	return control.MotionSample{Frame: r.Frame, Time: r.Time, Motion: r.Motion, ScorePercent: control.Percent(r.Score), Noise: r.Noise,
		Threshold: r.Threshold, Light: r.Light, Recalibrated: r.Recalibrated, Boxes: buf[:n]}
}

// shellEvent converts a motion event for a EventRing.
func shellEvent(e *motion.Event) control.Event {
	out := control.Event{ID: e.ID, Start: e.Start, End: e.End, PeakPercent: control.Percent(e.PeakScore), PeakTime: e.PeakTime}
	for _, b := range e.Boxes {
		out.Boxes = append(out.Boxes, control.Box{X: b.X, Y: b.Y, W: b.W, H: b.H})
	}
	return out
}

// pipeEvents serves the shell the events the motion part keeps.
type pipeEvents struct{ d *Daemon }

func (p pipeEvents) Recent(n int) []control.Event {
	evs := p.d.motion.recent(n)
	out := make([]control.Event, len(evs))
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
	// Console keeps the log off the agent's console while a shell on it
	// shows the lines itself (nil: nothing to hold).
	Console interface{ Hold() (release func()) }
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
	Unlock control.UnlockConfig
	// SnapshotWait bounds the wait for a frame (default 5 s).
	SnapshotWait time.Duration
	// Credentials, if set, returns the Content Credentials signer that
	// snapshots are signed with (nil: unsigned).
	Credentials func() jpegSigner
}

// shellServer serves the shell's routes.
type shellServer struct {
	cfg    shellConfig
	log    *slog.Logger
	unlock *control.Unlocker
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
	s.unlock = control.NewUnlocker(uc)
	return s
}

// shellRoutes returns the control-socket routes `camagent shell` needs.
// Unlock sessions live as long as these routes (a restart of the control
// part locks every shell).
func (d *Daemon) shellRoutes() []control.Route { return d.shell().routes() }

// shell is a shell server on the daemon's parts (its unlock sessions are its
// own).
func (d *Daemon) shell() *shellServer {
	cfg, _ := d.config()
	card := func() *storage.Card {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.card
	}
	log := d.log.With("part", "shell")
	return newShellServer(shellConfig{
		Logger:       log,
		Now:          d.deps.Now,
		Log:          d.ring,
		Console:      d.console,
		Hub:          d.hub,
		Card:         card,
		Config:       d.config,
		CaptureState: func() string { return d.capture.Stats().State },
		Events:       pipeEvents{d},
		Motion:       d.motion.feed,
		Clips: func() clipStore {
			if store, _ := d.clipStore(); store != nil {
				return store
			}
			return nil
		},
		KeyPath:        cfg.Identity.Key,
		Credentials:    d.credentials,
		VendorKeyPath:  DefaultVendorKeyPath,
		PairingKeyPath: cfg.Identity.CloudKey,
		Actions:        d.boardActions(log),
	})
}

func (s *shellServer) routes() []control.Route {
	get := func(path string, h http.HandlerFunc) control.Route {
		return control.Route{Method: http.MethodGet, Path: path, Handler: h}
	}
	post := func(path string, h http.HandlerFunc) control.Route {
		return control.Route{Method: http.MethodPost, Path: path, Write: true, Handler: h}
	}
	return []control.Route{
		get(control.PathLog, s.serveLog),
		get(control.PathEvents, s.serveEvents),
		get(control.PathClips, s.serveClips),
		get(control.PathClipVerify, s.serveClipVerify),
		get(control.PathNet, s.serveNet),
		get(control.PathConfig, s.serveConfig),
		get(control.PathMotion, s.serveMotion),
		get(control.PathStorage, s.serveStorage),
		get(control.PathID, s.serveID),
		post(control.PathSnapshot, s.serveSnapshot),
		post(control.PathChallenge, s.serveChallenge),
		post(control.PathUnlock, s.serveUnlock),
		post(control.PathLock, s.serveLock),
		post(control.PathConfigSet, s.serveConfigSet),
		post(control.PathReboot, s.privileged("reboot", deviceActions.Reboot)),
		post(control.PathFormatSD, s.privileged("format-sd", deviceActions.FormatSD)),
		post(control.PathFactoryReset, s.privileged("factory-reset", deviceActions.FactoryReset)),
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
	n, ok := queryInt(w, r, "n", control.DefaultLogTail, 0, control.MaxShellLogLines)
	if !ok {
		return
	}
	after, ok := queryInt(w, r, "after", -1, 0, 1<<62)
	if !ok {
		return
	}
	waitMS, ok := queryInt(w, r, "wait", 0, 0, control.MaxWait.Milliseconds())
	if !ok {
		return
	}
	if r.URL.Query().Get("hold") == control.LogHoldConsole && s.cfg.Console != nil {
		release := s.cfg.Console.Hold()
		defer release()
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
	out := control.LogResponse{Lines: make([]control.LogLine, len(lines)), Last: last()}
	for i, l := range lines {
		out.Lines[i] = control.LogLine{Seq: l.Seq, Text: l.Text}
	}
	if len(lines) > 0 {
		out.Last = max(out.Last, lines[len(lines)-1].Seq)
	}
	control.WriteJSON(w, http.StatusOK, out)
}

func (s *shellServer) serveEvents(w http.ResponseWriter, r *http.Request) {
	n, ok := queryInt(w, r, "n", 20, 1, control.MaxEvents)
	if !ok {
		return
	}
	out := control.EventsResponse{Events: []control.Event{}}
	if s.cfg.Events != nil {
		out.Events = s.cfg.Events.Recent(int(n))
	}
	if store := s.clipStore(); store != nil && len(out.Events) > 0 {
		// A listing that failed part-way still links what it found.
		clips, _ := store.Clips()
		linkClips(out.Events, clips)
	}
	control.WriteJSON(w, http.StatusOK, out)
}

// linkClips names in each event without one the clip that shows it: the
// clips' event IDs come from their metadata (or, while a clip records, from
// the event that opened it). An event split by the maximum clip length is
// named by its first part.
func linkClips(events []control.Event, clips []storage.ClipInfo) {
	first := make(map[uint64]storage.ClipInfo, len(events))
	for _, e := range events {
		if e.Clip == "" {
			first[e.ID] = storage.ClipInfo{}
		}
	}
	if len(first) == 0 {
		return
	}
	for _, c := range clips {
		for _, id := range c.Events {
			cur, want := first[id]
			if want && (cur.Name == "" || c.Start.Before(cur.Start) || c.Start.Equal(cur.Start) && c.Part < cur.Part) {
				first[id] = c
			}
		}
	}
	for i := range events {
		if events[i].Clip == "" {
			events[i].Clip = first[events[i].ID].Name
		}
	}
}

const noClipStore = "clip store not running (no writable SD card, or the storage part has stopped; status says which)"

// clipStore returns the running clip store, or nil.
func (s *shellServer) clipStore() clipStore {
	if s.cfg.Clips == nil {
		return nil
	}
	return s.cfg.Clips()
}

// clipInfo converts the store's description of a clip to the shell's.
func clipInfo(c storage.ClipInfo) control.Clip {
	return control.Clip{Name: c.Name, Path: c.Path, State: string(c.State), Size: c.Size, Duration: c.Duration,
		Frames: c.Frames, Start: c.Start, EventTime: c.EventTime, Events: c.Events, Codec: c.Codec,
		Width: c.Width, Height: c.Height, SHA256: c.SHA256, Thumbnail: c.Thumbnail, Manifest: c.Manifest,
		PeakPercent: control.Percent(c.PeakScore), Recovered: c.Recovered}
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
			control.WriteJSON(w, http.StatusOK, control.ClipsResponse{Clips: []control.Clip{clipInfo(c)}})
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
	out := control.ClipsResponse{Clips: make([]control.Clip, len(clips))}
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
	v := &verify.Checker{Out: &buf}
	if key, err := s.loadKey(); err == nil {
		v.Pin = key.DeviceID()
	} else {
		fmt.Fprintf(&buf, "INFO device key: %v; the manifest's device ID is not pinned\n", err)
	}
	for _, g := range verify.SidecarGroups([]string{c.Path}, storage.ExtClip, storage.ExtThumbnail) {
		v.Group(g.Manifest, g.Files)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	control.WriteJSON(w, http.StatusOK, control.VerifyResponse{Lines: lines, OK: v.Failed() == 0 && v.Checks() > 0})
}

func (s *shellServer) serveNet(w http.ResponseWriter, _ *http.Request) {
	ifs, err := net.Interfaces()
	if err != nil {
		control.WriteError(w, http.StatusInternalServerError, "net: "+err.Error())
		return
	}
	out := control.NetResponse{Interfaces: make([]control.Interface, 0, len(ifs))}
	for _, i := range ifs {
		si := control.Interface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Flags: i.Flags.String(), MTU: i.MTU,
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

func (s *shellServer) serveConfig(w http.ResponseWriter, r *http.Request) {
	cfg, _ := s.cfg.Config()
	key := r.URL.Query().Get("key")
	if key == "" {
		data, err := config.Marshal(cfg)
		if err != nil {
			control.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		control.WriteJSON(w, http.StatusOK, control.ConfigResponse{TOML: string(data)})
		return
	}
	doc, err := config.Lookup(cfg, key)
	if errors.Is(err, config.ErrNoKey) {
		control.WriteError(w, http.StatusNotFound, fmt.Sprintf("config: no key %.80q (config get lists the config; Tab completes keys)", key))
		return
	}
	if err != nil {
		control.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	control.WriteJSON(w, http.StatusOK, control.ConfigResponse{Key: key, TOML: doc})
}

// checkSession answers 403 with the reason and returns false when session
// does not unlock.
func (s *shellServer) checkSession(w http.ResponseWriter, what, session string) (control.Session, bool) {
	sess, err := s.unlock.Check(session)
	if err != nil {
		s.log.Warn("shell: privileged command refused", "command", what, "err", err)
		control.WriteError(w, http.StatusForbidden, err.Error())
		return control.Session{}, false
	}
	return sess, true
}

// serveConfigSet changes one key of the config file (config.SetKey: read,
// set, checked, written atomically); the agent's watcher then reloads it.
func (s *shellServer) serveConfigSet(w http.ResponseWriter, r *http.Request) {
	var req control.ConfigSetRequest
	if !control.ReadJSON(w, r, &req) {
		return
	}
	sess, ok := s.checkSession(w, "config set", req.Session)
	if !ok {
		return
	}
	if err := config.CheckEdit(req.Key, req.Value); err != nil {
		control.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	running, src := s.cfg.Config()
	if src.Path == "" {
		control.WriteError(w, http.StatusConflict, "config set: the agent runs without a config file")
		return
	}
	e, err := config.SetKey(src.Path, running, req.Key, req.Value)
	if err != nil {
		code := http.StatusInternalServerError
		var ee *config.EditError
		if errors.As(err, &ee) {
			switch ee.Kind {
			case config.EditBadInput:
				code = http.StatusBadRequest
			case config.EditFileProblem:
				code = http.StatusConflict
			}
		}
		control.WriteError(w, code, err.Error())
		return
	}
	s.log.Info("shell: config set", "key", e.Key, "value", e.New, "path", e.Path, "by", sess.By)
	control.WriteJSON(w, http.StatusOK, control.ConfigSetResponse{Path: e.Path, Key: e.Key, Old: e.Old, New: e.New,
		Sections: e.Sections})
}

func (s *shellServer) serveMotion(w http.ResponseWriter, r *http.Request) {
	n, ok := queryInt(w, r, "n", 10, 0, control.MaxMotion)
	if !ok {
		return
	}
	after, ok := queryInt(w, r, "after", 0, 0, 1<<62)
	if !ok {
		return
	}
	waitMS, ok := queryInt(w, r, "wait", 0, 0, control.MaxWait.Milliseconds())
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
		samples = []control.MotionSample{}
	}
	control.WriteJSON(w, http.StatusOK, control.MotionResponse{Samples: samples, Last: last})
}

func (s *shellServer) serveStorage(w http.ResponseWriter, _ *http.Request) {
	card := s.cfg.Card()
	h := card.Probe()
	out := control.StorageResponse{Mount: card.Mount, State: h.State, Device: h.Device, FSType: h.FSType,
		FreeBytes: h.FreeBytes, TotalBytes: h.TotalBytes}
	if h.Err != nil {
		out.Error = h.Err.Error()
	}
	if store := s.clipStore(); store == nil {
		out.StoreMissing = noClipStore
	} else {
		st := store.Status()
		rec := st.LastRecovery
		out.Store = &control.StoreSummary{Clips: st.Clips, Uploaded: st.Uploaded, Bytes: st.Bytes, Recording: st.Recording,
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

// ownerBinding loads and verifies the owner binding.
func (s *shellServer) ownerBinding(deviceID string) (identity.OwnerBinding, error) {
	path := identity.BindingPath(s.cfg.KeyPath)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return identity.OwnerBinding{}, fmt.Errorf("%w (no owner binding at %s)", identity.ErrNotPaired, path)
	}
	pairing, err := identity.ReadPublicKeyFile(s.cfg.PairingKeyPath, "cloud pairing key (identity.cloud_key)")
	if err != nil {
		return identity.OwnerBinding{}, fmt.Errorf("owner binding cannot be verified: %w", err)
	}
	return identity.LoadOwnerBinding(path, pairing, deviceID)
}

// trustedKeys returns the keys that unlock: the vendor's service key and
// the owner's key from a verified owner binding.
func (s *shellServer) trustedKeys() ([]control.TrustedKey, error) {
	var keys []control.TrustedKey
	var errs []error
	if vk, err := identity.ReadPublicKeyFile(s.cfg.VendorKeyPath, "vendor key"); err == nil {
		keys = append(keys, control.TrustedKey{Name: "vendor key " + identity.Fingerprint(vk), Key: vk})
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
	keys = append(keys, control.TrustedKey{Name: "owner account " + b.OwnerAccount + " (" + identity.Fingerprint(ok) + ")", Key: ok})
	return keys, errors.Join(errs...)
}

// serveID answers with the device's identity. It reads the private key file
// only through keystore, which never hands out the private key: the answer
// holds the public key and what certifies it.
func (s *shellServer) serveID(w http.ResponseWriter, _ *http.Request) {
	out := control.IDResponse{KeyPath: s.cfg.KeyPath}
	key, err := s.loadKey()
	if err != nil {
		out.KeyError = err.Error()
	} else {
		out.DeviceID = key.DeviceID()
		if pemText, err := identity.PublicKeyPEM(key.Public()); err == nil {
			out.PublicKeyPEM = string(pemText)
		}
		out.Certificate = certInfo(identity.CertPath(s.cfg.KeyPath), key.Public())
		o := &control.OwnerInfo{Path: identity.BindingPath(s.cfg.KeyPath)}
		b, err := s.ownerBinding(key.DeviceID())
		switch {
		case errors.Is(err, identity.ErrNotPaired):
		case err != nil:
			o.Paired, o.Error = true, err.Error()
		default:
			o.Paired, o.Verified, o.Account, o.Issued = true, true, b.OwnerAccount, b.Issued
			if pub, err := identity.ParsePublicKey(b.OwnerKey); err == nil {
				o.OwnerKey = identity.Fingerprint(pub)
			}
		}
		out.Owner = o
	}
	if vk, err := identity.ReadPublicKeyFile(s.cfg.VendorKeyPath, "vendor key"); err == nil {
		out.VendorKey = identity.Fingerprint(vk) + " (" + s.cfg.VendorKeyPath + ")"
	} else {
		out.VendorKey = "none: " + err.Error()
	}
	control.WriteJSON(w, http.StatusOK, out)
}

// certInfo describes the device certificate at path, or nil when there is
// none.
func certInfo(path string, pub crypto.PublicKey) *control.CertInfo {
	c, ok := identity.DescribeCert(path, pub)
	if !ok {
		return nil
	}
	ci := &control.CertInfo{Path: c.Path, Subject: c.Subject, Issuer: c.Issuer, NotBefore: c.NotBefore,
		NotAfter: c.NotAfter, MatchesKey: c.MatchesKey}
	if c.Err != nil {
		ci.Error = c.Err.Error()
	}
	return ci
}

// serveSnapshot saves the next frame as a JPEG under camagent/snapshots/ on
// the card: raw frames (YUYV, NV12, GREY) are encoded, MJPEG frames saved as
// they are.
func (s *shellServer) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	resp, code, err := s.snapshot(r.Context())
	if err != nil {
		control.WriteError(w, code, err.Error())
		return
	}
	control.WriteJSON(w, http.StatusOK, resp)
}

// snapshot saves the next frame; on failure it returns the HTTP status that
// fits the error.
func (s *shellServer) snapshot(ctx context.Context) (control.SnapshotResponse, int, error) {
	fail := func(code int, format string, a ...any) (control.SnapshotResponse, int, error) {
		return control.SnapshotResponse{}, code, fmt.Errorf(format, a...)
	}
	card := s.cfg.Card()
	if h := card.Probe(); h.State != storage.StateWritable {
		msg := "snapshot: the SD card is " + h.State
		if h.Err != nil {
			msg += ": " + h.Err.Error()
		}
		return fail(http.StatusConflict, "%s", msg)
	}
	if s.cfg.Hub == nil {
		return fail(http.StatusServiceUnavailable, "snapshot: capture is not running")
	}
	q := s.cfg.Hub.Subscribe(snapshotQueueName, 1)
	defer s.cfg.Hub.Unsubscribe(q)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SnapshotWait)
	f, err := q.Next(ctx)
	cancel()
	if err != nil {
		return fail(http.StatusServiceUnavailable, "snapshot: no frame from the camera in %s (capture %s)",
			s.cfg.SnapshotWait, s.cfg.CaptureState())
	}
	var buf bytes.Buffer
	err = jpegframe.EncodeFrame(&buf, f.Format, f.Data, snapshotQuality)
	data := buf.Bytes()
	format, seq, at := f.Format, f.Seq, f.Time
	f.Release()
	if err != nil {
		return fail(http.StatusUnsupportedMediaType, "snapshot: %v", err)
	}
	if c := s.cfg.Credentials; c != nil {
		if cs := c(); cs != nil {
			if signed, err := cs.SignJPEG(data, at); err == nil {
				data = signed
			} else {
				s.log.Warn("snapshot: content credentials not added", "err", err)
			}
		}
	}
	dir := filepath.Join(card.Dir(), "snapshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(http.StatusInternalServerError, "snapshot: %v", err)
	}
	name := fmt.Sprintf("%s-f%d.jpg", s.cfg.Now().UTC().Format("20060102-150405"), seq)
	path := filepath.Join(dir, name)
	if err := storage.WriteFileAtomic(path, data, 0o644); err != nil {
		return fail(http.StatusInternalServerError, "snapshot: %v", err)
	}
	s.log.Info("snapshot", "path", path, "bytes", len(data))
	return control.SnapshotResponse{Path: path, Bytes: len(data), Width: format.Width,
		Height: format.Height, Format: format.Pixel.String(), Frame: seq, Time: at}, http.StatusOK, nil
}

func (s *shellServer) serveChallenge(w http.ResponseWriter, _ *http.Request) {
	c, err := s.unlock.Challenge()
	if err != nil {
		control.WriteError(w, http.StatusServiceUnavailable, "unlock: "+err.Error())
		return
	}
	out := control.ChallengeResponse{Challenge: c.String(), DeviceID: c.DeviceID, Expires: c.Expires,
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
	var req control.UnlockRequest
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
	control.WriteJSON(w, http.StatusOK, control.UnlockResponse{Session: sess.Token, Expires: sess.Expires,
		TTLSeconds: sess.Expires.Sub(s.cfg.Now()).Seconds(), By: sess.By})
}

func (s *shellServer) serveLock(w http.ResponseWriter, r *http.Request) {
	var req control.SessionRequest
	if !control.ReadJSON(w, r, &req) {
		return
	}
	msg := "locked"
	if !s.unlock.Lock(req.Session) {
		msg = "no such session (already locked)"
	} else {
		s.log.Info("shell: locked")
	}
	control.WriteJSON(w, http.StatusOK, control.ActionResponse{Message: msg})
}

// privileged serves an action that needs an unlocked session.
func (s *shellServer) privileged(name string, act func(deviceActions, context.Context) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req control.SessionRequest
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
			control.WriteJSON(w, http.StatusOK, control.ActionResponse{Message: msg})
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
	// Keep are paths inside the agent's folder on the card that erasing
	// keeps (with their parents): the device identity and the MQTT store
	// when a board keeps them on the card (the QEMU camera does), so that a
	// format never loses the key, repeats a sequence number or forgets a
	// used command nonce.
	Keep []string
	// StopRecording, when set, stops the recorder cleanly (its open clip
	// sealed) before format-sd erases the card and keeps it stopped until
	// release is called.
	StopRecording func(ctx context.Context) (release func(), err error)
}

// boardActions are the privileged actions as a board allows them. Only the
// board profiles marked Firmware (board.Profile) may reboot or erase
// anything; elsewhere every action is refused, so that no shell can reboot
// or wipe a host.
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
	if prof, err := board.Lookup(b.cfg.Board); err != nil || !prof.Firmware {
		return fmt.Errorf("%s: %w on board %q (only the %s profiles let the agent act on the machine)",
			what, errors.ErrUnsupported, b.cfg.Board, strings.Join(board.FirmwareNames(), " and "))
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
func (b *boardActions) FormatSD(ctx context.Context) (string, error) {
	if err := b.allowed("format-sd"); err != nil {
		return "", err
	}
	if b.cfg.StopRecording != nil {
		release, err := b.cfg.StopRecording(ctx)
		if err != nil {
			return "", err
		}
		defer release()
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
	if err := removeAllExcept(dir, b.cfg.Keep); err != nil {
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
