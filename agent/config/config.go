package config

import (
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/camagent/camagent/board"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
)

// Config is the whole configuration of the agent. Each part gets the section it
// needs; the zero value is not valid: start from Default.
type Config struct {
	// Board names the board profile: one of Boards().
	Board string `toml:"board"`
	// ShutdownTimeout bounds the drain at shutdown (seal the open clip, flush
	// the manifest, disconnect): 1s..60s.
	ShutdownTimeout Duration       `toml:"shutdown_timeout"`
	Log             LogConfig      `toml:"log"`
	Control         ControlConfig  `toml:"control"`
	Capture         CaptureConfig  `toml:"capture"`
	Storage         StorageConfig  `toml:"storage"`
	Identity        IdentityConfig `toml:"identity"`
	// Motion is the motion detector's [motion] section; its keys and limits
	// are documented on motion.Config.
	Motion motion.Config `toml:"motion"`
	Upload UploadConfig  `toml:"upload"`
	Time   TimeConfig    `toml:"time"`
	MQTT   MQTTConfig    `toml:"mqtt"`
	Live   LiveConfig    `toml:"live"`

	// MemoryMB is the agent's memory budget in MiB; 0 takes the board
	// profile's (package agent/budget sizes the buffers from it).
	MemoryMB int `toml:"memory_mb"`
}

// TimeConfig is the [time] section: how the agent knows its clock is right
// (board/timesync).
type TimeConfig struct {
	// Enable runs the time part: it reads the kernel's NTP state and, when
	// no NTP client on the system keeps the clock, asks Servers itself.
	Enable bool `toml:"enable"`
	// Servers are SNTP servers, asked in order: host, host:port (UDP) or
	// tcp://host:port (NTP packets over TCP, for the QEMU camera).
	Servers []string `toml:"servers"`
}

// MQTTConfig is the [mqtt] section: signed events and state to a broker,
// signed commands from it (package uplink/mqtt).
type MQTTConfig struct {
	// Broker is the broker's URL (tls://HOST:PORT, mutual TLS with the
	// device certificate); "" turns MQTT off.
	Broker string `toml:"broker"`
	// CA is the PEM file of the CA the broker's certificate chains to;
	// ServerName overrides the name checked on it.
	CA         string `toml:"ca"`
	ServerName string `toml:"server_name"`
	// KeepAlive is the MQTT keep-alive (5s..1h).
	KeepAlive Duration `toml:"keep_alive"`
	// QueueSize bounds the messages kept for the broker (100..1000000);
	// past it the oldest are dropped and counted.
	QueueSize int `toml:"queue_size"`
	// Store is the directory (persistent partition) for the queue, the
	// event sequence numbers and the command replay cache.
	Store string `toml:"store"`
	// StartDelay is the longest random wait before connecting after start
	// or after losing the broker (0s..1h).
	StartDelay Duration `toml:"start_delay"`
	// StateInterval is how often the state (uptime, SD free, fps, upload
	// backlog) is published: 0s for never, else 10s..24h.
	StateInterval Duration `toml:"state_interval"`
	// Local is [mqtt.local]: an optional Home Assistant broker on the LAN.
	Local MQTTLocalConfig `toml:"local"`
}

// MQTTLocalConfig is [mqtt.local]: plain JSON with Home Assistant MQTT
// discovery to a broker on the owner's LAN (package
// uplink/mqtt/homeassistant). It publishes only; it takes no commands.
type MQTTLocalConfig struct {
	// Broker is tcp://HOST:1883 or tls://HOST:8883; "" turns it off.
	Broker string `toml:"broker"`
	// Username and PasswordFile (a file holding the password, so that it is
	// never in the config or its dumps) log in; empty: anonymous.
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	// CA is the PEM file of the CA of a tls:// broker's certificate.
	CA string `toml:"ca"`
	// Name is the device name Home Assistant shows ("" : the device ID);
	// Prefix its discovery prefix.
	Name   string `toml:"name"`
	Prefix string `toml:"prefix"`
}

// UploadConfig is the [upload] section: where sealed, signed clips go.
type UploadConfig struct {
	// URL is the ingest's base URL (https://...); "" keeps clips on the card.
	URL string `toml:"url"`
	// CA is the PEM file of the CA the ingest's certificate chains to.
	CA string `toml:"ca"`
	// ServerName overrides the name checked on the ingest's certificate.
	ServerName string `toml:"server_name"`
	// BandwidthKBps caps the upload in KiB/s (0: no cap).
	BandwidthKBps int `toml:"bandwidth_kbps"`
	// StartDelay is the longest random wait before the first attempt after
	// start or an outage, so cameras do not all reconnect at once.
	StartDelay Duration `toml:"start_delay"`
}

// LogConfig is the [log] section.
type LogConfig struct {
	// Level is one of debug, info, warn, error.
	Level string `toml:"level"`
	// Format is text or json.
	Format string `toml:"format"`
	// RingLines is how many recent lines the in-memory log ring keeps for
	// `camagent ctl log`: 100..100000.
	RingLines int `toml:"ring_lines"`
}

// ControlConfig is the [control] section.
type ControlConfig struct {
	// Socket is the control socket's absolute path, at most MaxSocketPath bytes.
	Socket string `toml:"socket"`
}

// CaptureConfig is the [capture] section.
type CaptureConfig struct {
	// Source is where frames come from: one of Sources(). "v4l2" is the
	// camera; "synthetic" draws a scene with known motion (Scene) and "y4m"
	// replays a recorded file (File), for development and tests.
	Source string `toml:"source"`
	// Scene names the synthetic scene (capture/synth), used when Source is
	// "synthetic".
	Scene string `toml:"scene"`
	// File is the Y4M file to replay when Source is "y4m"; Loop replays it
	// from the start when it ends.
	File string `toml:"file"`
	Loop bool   `toml:"loop"`
	// Device is the V4L2 device's absolute path.
	Device string `toml:"device"`
	// Formats is the pixel formats to ask the device for, most wanted first;
	// each one of capture.FormatNames(), no duplicates, at least one.
	Formats []string `toml:"formats"`
	// Width and Height ask for a frame size (16..7680 by 16..4320); the driver
	// may choose a close one.
	Width  int `toml:"width"`
	Height int `toml:"height"`
	// FPS asks for a frame rate: 1..120.
	FPS float64 `toml:"fps"`
	// Buffers is the number of V4L2 buffers: 2..32.
	Buffers int `toml:"buffers"`
	// Controls sets V4L2 controls by name when the device opens (at most
	// MaxControls; names 1..31 printable ASCII bytes). Whether the device has
	// a control is only known when it opens.
	Controls map[string]int32 `toml:"controls"`
}

// StorageConfig is the [storage] section.
type StorageConfig struct {
	// Mount is the SD card's mount point, an absolute path.
	Mount string `toml:"mount"`
	// PreRoll is how much video before an event a clip starts with (0..60s),
	// kept in memory in at most PreRollMB MiB (1..256).
	PreRoll   Duration `toml:"pre_roll"`
	PreRollMB int      `toml:"pre_roll_mb"`
	// PostRoll is how long a clip goes on after motion ends (0..10m); an
	// event inside it extends the clip. MaxClip splits longer events (1s..4h).
	PostRoll Duration `toml:"post_roll"`
	MaxClip  Duration `toml:"max_clip"`
	// ClipFPS is the frame rate raw frames are JPEG-encoded at (1..60), with
	// JPEGQuality (1..100). Fragment is the clip fragment length (1s..10s):
	// what a power cut can lose at most.
	ClipFPS     float64  `toml:"clip_fps"`
	JPEGQuality int      `toml:"jpeg_quality"`
	Fragment    Duration `toml:"fragment"`
	// Retention, in MiB (0 means the default): keep FreeFloorMB free by
	// deleting the oldest uploaded clips, go below it down to CriticalFloorMB
	// before deleting clips not yet uploaded, and keep the clips under QuotaMB.
	FreeFloorMB     int `toml:"free_floor_mb"`
	CriticalFloorMB int `toml:"critical_floor_mb"`
	QuotaMB         int `toml:"quota_mb"`
}

// IdentityConfig is the [identity] section: the device's key.
type IdentityConfig struct {
	// Key is the device's private key file (created at first start, mode
	// 0600) on a persistent partition; its certificate, owner binding and
	// manifest sequence state live beside it.
	Key string `toml:"key"`
	// CloudKey is the cloud's pairing public key (PEM) that owner bindings
	// are verified with; "" while the device has not been provisioned.
	CloudKey string `toml:"cloud_key"`
}

// Section names, as Changed reports them.
const (
	SectionBoard           = "board"
	SectionShutdownTimeout = "shutdown_timeout"
	SectionMemory          = "memory_mb"
	SectionLog             = "log"
	SectionControl         = "control"
	SectionCapture         = "capture"
	SectionStorage         = "storage"
	SectionIdentity        = "identity"
	SectionMotion          = "motion"
	SectionUpload          = "upload"
	SectionTime            = "time"
	SectionMQTT            = "mqtt"
)

// Limits and allowed values.
const (
	MinShutdownTimeout = time.Second
	MaxShutdownTimeout = 60 * time.Second
	MinRingLines       = 100
	MaxRingLines       = 100000
	// MaxSocketPath is the longest unix socket path Linux accepts (sun_path is
	// 108 bytes with its NUL).
	MaxSocketPath = 107
	MinWidth      = 16
	MaxWidth      = 7680
	MinHeight     = 16
	MaxHeight     = 4320
	MinFPS        = 1
	MaxFPS        = 120
	MinBuffers    = 2
	MaxBuffers    = 32
	// MaxControls bounds [capture.controls].
	MaxControls = 64
	// MaxControlName is the longest V4L2 control name (the name field is 32
	// bytes with its NUL).
	MaxControlName = 31
	// MaxFileSize bounds the configuration file.
	MaxFileSize = 64 << 10
)

// Boards lists the board profiles the agent knows.
func Boards() []string { return board.Names() }

// Sources lists the allowed values of capture.source.
func Sources() []string { return []string{"v4l2", "synthetic", "y4m"} }

// LogLevels lists the allowed values of log.level.
func LogLevels() []string { return []string{"debug", "info", "warn", "error"} }

// LogFormats lists the allowed values of log.format.
func LogFormats() []string { return []string{"text", "json"} }

// Default returns the configuration used for every key the file leaves out.
// Each call returns new slices and maps.
func Default() Config {
	c := Config{Capture: CaptureConfig{Controls: map[string]int32{}}, Motion: motion.DefaultConfig()}
	for _, f := range schema() {
		if f.setDefault != nil {
			f.setDefault(&c)
		}
	}
	return c
}

// Duration is a time.Duration written as text in the file: "10s", "1m30s".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration ("10s", "500ms", "1m").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as Go formats it ("10s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// SlogLevel returns Level as a slog.Level (info for an invalid level, which
// Validate refuses).
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// PixelFormats returns Formats as fourccs, in order, skipping names capture
// does not know (Validate refuses those).
func (c CaptureConfig) PixelFormats() []capture.PixelFormat {
	out := make([]capture.PixelFormat, 0, len(c.Formats))
	for _, n := range c.Formats {
		if f, err := capture.ParseFormat(n); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// Equal reports whether c and o hold the same settings (a nil and an empty
// Controls map are equal).
func (c Config) Equal(o Config) bool { return len(Changed(c, o)) == 0 }

// Changed returns the sections (Section* names, in that order) whose settings
// differ between prev and next, so that the daemon restarts only those parts.
func Changed(prev, next Config) []string {
	var out []string
	if prev.Board != next.Board {
		out = append(out, SectionBoard)
	}
	if prev.ShutdownTimeout != next.ShutdownTimeout {
		out = append(out, SectionShutdownTimeout)
	}
	if prev.MemoryMB != next.MemoryMB {
		out = append(out, SectionMemory)
	}
	if prev.Log != next.Log {
		out = append(out, SectionLog)
	}
	if prev.Control != next.Control {
		out = append(out, SectionControl)
	}
	if !prev.Capture.equal(next.Capture) {
		out = append(out, SectionCapture)
	}
	if prev.Storage != next.Storage {
		out = append(out, SectionStorage)
	}
	if prev.Identity != next.Identity {
		out = append(out, SectionIdentity)
	}
	if !reflect.DeepEqual(prev.Motion, next.Motion) {
		out = append(out, SectionMotion)
	}
	if prev.Upload != next.Upload {
		out = append(out, SectionUpload)
	}
	if prev.Time.Enable != next.Time.Enable || !slices.Equal(prev.Time.Servers, next.Time.Servers) {
		out = append(out, SectionTime)
	}
	if prev.MQTT != next.MQTT {
		out = append(out, SectionMQTT)
	}
	if !prev.Live.equal(next.Live) {
		out = append(out, SectionLive)
	}
	return out
}

// Clone returns a copy of c that shares no slice or map with it.
func (c Config) Clone() Config {
	c.Capture.Formats = slices.Clone(c.Capture.Formats)
	c.Time.Servers = slices.Clone(c.Time.Servers)
	c.Capture.Controls = maps.Clone(c.Capture.Controls)
	c.Motion.Zones = slices.Clone(c.Motion.Zones)
	c.Live.ICEServers = slices.Clone(c.Live.ICEServers)
	for i := range c.Motion.Zones {
		c.Motion.Zones[i].Polygon = slices.Clone(c.Motion.Zones[i].Polygon)
	}
	return c
}

func (c CaptureConfig) equal(o CaptureConfig) bool {
	return c.Source == o.Source && c.Scene == o.Scene && c.File == o.File && c.Loop == o.Loop &&
		c.Device == o.Device && slices.Equal(c.Formats, o.Formats) &&
		c.Width == o.Width && c.Height == o.Height && sameFloat(c.FPS, o.FPS) &&
		c.Buffers == o.Buffers && maps.Equal(c.Controls, o.Controls)
}

// sameFloat is == except that NaN equals NaN, so that Changed never reports a
// change between two copies of the same (invalid) value.
func sameFloat(a, b float64) bool { return a == b || (a != a && b != b) }
