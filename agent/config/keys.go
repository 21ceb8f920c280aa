package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/camagent/camagent/board"
	"github.com/camagent/camagent/board/timesync"
	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/synth"
)

// field describes one key of the configuration file, once: its name, its
// TOML type, its allowed values, its default and the comment the example
// file shows above it. The unknown-key and type checks (checkKeys), the
// range checks (Validate), Default and the example file (exampleText) all
// read this table; TestExampleFile checks camagent.example.toml against it.
type field struct {
	key  string
	kind kind
	// lo, hi is the range of a kindInt or kindNumber, in messages about a
	// value that does not fit the Go type at all.
	lo, hi int64
	// doc is the example file's comment above the key (or table header), one
	// line per line, "" for none. "{range}" stands for the allowed range,
	// "{range:other.key}" for another key's, and "{values}" for the allowed
	// values, " | " between them.
	doc string
	// gap puts a blank line before the key's comment in the example file.
	gap bool
	// rangeText is what "{range}" stands for; values, the allowed values.
	rangeText string
	values    func() []string

	// setDefault writes the key's default into a Config; nil for keys whose
	// defaults belong to another package (motion.DefaultConfig) and tables.
	setDefault func(*Config)
	// check adds the problems of the key's value in c; nil for none.
	check func(p *problems, c Config)
	// value is the key's value in c as TOML, for the example file; nil for
	// tables and for keys the example does not set.
	value func(c Config) string
}

// schema lists every key of the file, in the order of the example file.
func schema() []field {
	return append([]field{
		oneOf("board", func(c *Config) *string { return &c.Board }, "generic-uvc", Boards,
			"Board profile: {values}.").withGap(),
		dur("shutdown_timeout", func(c *Config) *time.Duration { return &c.ShutdownTimeout.Duration },
			10*time.Second, MinShutdownTimeout, MaxShutdownTimeout,
			"How long shutdown may take to seal the open clip, flush the manifest and\n"+
				`disconnect, as a duration ("10s", "1m"): {range}.`).withGap(),
		integer("memory_mb", func(c *Config) *int { return &c.MemoryMB }, 0, 0, board.MaxMemoryBudget>>20,
			"The agent's memory budget in MiB ({range}; 0 = the board profile's, at least\n"+
				"16 otherwise): frame pools, queues, pre-roll and live view are sized to it and\n"+
				"the Go memory limit is set from it; when it is tight the recorder queue, the\n"+
				"GC target, clip_fps, pre_roll and live viewers are lowered, in that order.").
			withCheck(func(p *problems, c Config) {
				if n := c.MemoryMB; n != 0 && n < board.MinMemoryBudget>>20 {
					p.addKey("memory_mb", "%d is below %d (or 0 for the board's budget)", n, board.MinMemoryBudget>>20)
				}
			}).withGap(),

		table("log", ""),
		oneOf("log.level", func(c *Config) *string { return &c.Log.Level }, "info", LogLevels,
			"{values}. Environment: "+EnvLogLevel+"."),
		oneOf("log.format", func(c *Config) *string { return &c.Log.Format }, "text", LogFormats,
			"{values}. Environment: "+EnvLogFormat+"."),
		integer("log.ring_lines", func(c *Config) *int { return &c.Log.RingLines }, 4000, MinRingLines, MaxRingLines,
			"Recent log lines kept in memory for `camagent ctl log`: {range}."),

		table("control", ""),
		pathKey("control.socket", func(c *Config) *string { return &c.Control.Socket }, "/run/camagent.sock", checkSocket,
			"The local control socket (root only) for `camagent ctl` and `camagent shell`:\n"+
				"an absolute path of at most "+strconv.Itoa(MaxSocketPath)+" bytes. Environment: "+EnvControlSocket+"."),

		table("capture", ""),
		oneOf("capture.source", func(c *Config) *string { return &c.Capture.Source }, "v4l2", Sources,
			"Where frames come from: v4l2 (the camera) | synthetic (a generated scene with\n"+
				"known motion, for development without a camera) | y4m (replay a recorded\n"+
				"YUV4MPEG2 file, e.g. from `ffmpeg -i in.mp4 -pix_fmt yuv420p out.y4m`)."),
		oneOf("capture.scene", func(c *Config) *string { return &c.Capture.Scene }, "objects", sceneNames,
			"The synthetic scene: {values}."),
		pathKey("capture.file", func(c *Config) *string { return &c.Capture.File }, "", checkAbs,
			"The Y4M file to replay (absolute path; required when source = \"y4m\"), and\n"+
				"whether to start over when it ends.").
			onlyIf(func(c Config) bool { return c.Capture.Source == "y4m" || c.Capture.File != "" }),
		boolean("capture.loop", func(c *Config) *bool { return &c.Capture.Loop }, true, ""),
		pathKey("capture.device", func(c *Config) *string { return &c.Capture.Device }, "/dev/video0", checkAbs,
			"The V4L2 capture device, an absolute path. Environment:\n"+EnvCaptureDevice+"."),
		stringList("capture.formats", func(c *Config) *[]string { return &c.Capture.Formats },
			[]string{"MJPEG", "YUYV", "NV12", "GREY"}, checkFormats,
			"Pixel formats to ask the device for, most wanted first; the first one the\n"+
				"device offers is used. Each one of "+strings.Join(capture.FormatNames(), ", ")+", at least\n"+
				"one, none twice."),
		integer("capture.width", func(c *Config) *int { return &c.Capture.Width }, 640, MinWidth, MaxWidth,
			"Frame size to ask for (the driver may choose a close one): width {range},\n"+
				"height {range:capture.height}."),
		integer("capture.height", func(c *Config) *int { return &c.Capture.Height }, 480, MinHeight, MaxHeight, ""),
		number("capture.fps", func(c *Config) *float64 { return &c.Capture.FPS }, 25, MinFPS, MaxFPS,
			"Frame rate to ask for: {range} (25, 29.97, ...)."),
		integer("capture.buffers", func(c *Config) *int { return &c.Capture.Buffers }, 4, MinBuffers, MaxBuffers,
			"Number of V4L2 buffers: {range}. More absorbs longer stalls and costs memory."),
		table("capture.controls", "V4L2 controls to set when the device opens, by the name the driver gives\n"+
			"(`v4l2-ctl -l`), as integers; at most "+strconv.Itoa(MaxControls)+". None by default, for example:\n"+
			"  brightness = 128\n"+
			"  \"Horizontal Movement\" = 6   # vivid (the QEMU camera): Move Right Fast\n"+
			"  \"OSD Text Mode\" = 2         # vivid: no clock drawn on the frames").
			withCheck(func(p *problems, c Config) { checkControls(p, "capture.controls", c.Capture.Controls) }).withGap(),

		table("storage", ""),
		pathKey("storage.mount", func(c *Config) *string { return &c.Storage.Mount }, "/mnt/sd", checkAbs,
			"Where the SD card is mounted, an absolute path."),
		dur("storage.pre_roll", func(c *Config) *time.Duration { return &c.Storage.PreRoll.Duration },
			5*time.Second, 0, time.Minute,
			"Clip recording. How much video before an event a clip starts with ({range}),\n"+
				"and the memory that pre-roll may use, in MiB ({range:storage.pre_roll_mb}).").withGap(),
		integer("storage.pre_roll_mb", func(c *Config) *int { return &c.Storage.PreRollMB }, 4, 1, 256, ""),
		dur("storage.post_roll", func(c *Config) *time.Duration { return &c.Storage.PostRoll.Duration },
			5*time.Second, 0, 10*time.Minute,
			"How long a clip goes on after motion ends ({range}; an event within it\n"+
				"extends the clip), and the longest clip before an event is split ({range:storage.max_clip})."),
		dur("storage.max_clip", func(c *Config) *time.Duration { return &c.Storage.MaxClip.Duration },
			5*time.Minute, time.Second, 4*time.Hour, ""),
		number("storage.clip_fps", func(c *Config) *float64 { return &c.Storage.ClipFPS }, 10, 1, 60,
			"Raw camera frames are JPEG-encoded at clip_fps ({range}) with jpeg_quality\n"+
				"({range:storage.jpeg_quality}); MJPEG and H.264 cameras are recorded as they come."),
		integer("storage.jpeg_quality", func(c *Config) *int { return &c.Storage.JPEGQuality }, 75, 1, 100, ""),
		dur("storage.fragment", func(c *Config) *time.Duration { return &c.Storage.Fragment.Duration },
			2*time.Second, time.Second, 10*time.Second,
			"Fragment length ({range}): each is written and synced in one go, so it is the\n"+
				"most a power cut can lose."),
		integer("storage.free_floor_mb", func(c *Config) *int { return &c.Storage.FreeFloorMB }, 0, 0, 1<<30,
			"Retention, in MiB (0 = the default): the oldest uploaded clips are deleted to\n"+
				"keep free_floor_mb free (default 10% of the card, at most 1 GiB); clips not\n"+
				"yet uploaded only to keep critical_floor_mb free (default 3%, at most 256\n"+
				"MiB); quota_mb caps the clips' total (default none)."),
		integer("storage.critical_floor_mb", func(c *Config) *int { return &c.Storage.CriticalFloorMB }, 0, 0, 1<<30, "").
			withCheck(func(p *problems, c Config) {
				if st := c.Storage; st.FreeFloorMB > 0 && st.CriticalFloorMB > st.FreeFloorMB {
					p.addKey("storage.critical_floor_mb", "%d is above storage.free_floor_mb (%d)", st.CriticalFloorMB, st.FreeFloorMB)
				}
			}),
		integer("storage.quota_mb", func(c *Config) *int { return &c.Storage.QuotaMB }, 0, 0, 1<<30, ""),

		table("identity", ""),
		pathKey("identity.key", func(c *Config) *string { return &c.Identity.Key }, "/var/lib/camagent/device.key", checkAbs,
			"The device's private key (ECDSA P-256, created at first start, mode 0600) on\n"+
				"a persistent partition; the certificate, owner binding and manifest sequence\n"+
				"state are kept beside it. It is never printed or sent anywhere."),
		pathKey("identity.cloud_key", func(c *Config) *string { return &c.Identity.CloudKey }, "", checkAbs,
			"The cloud's pairing public key (PEM), which owner bindings are checked\n"+
				"against; empty until the device is provisioned.").
			onlyIf(func(c Config) bool { return c.Identity.CloudKey != "" }),

		// The [motion] keys' defaults and checks are capture/motion's
		// (motion.DefaultConfig, motion.Config.Validate); only their names,
		// types and documentation are here.
		table("motion", "").withCheck(func(p *problems, c Config) {
			if err := c.Motion.Validate(); err != nil {
				p.addKey("motion", "%s", strings.TrimPrefix(err.Error(), "motion: invalid config: "))
			}
		}),
		integer("motion.grid_width", func(c *Config) *int { return &c.Motion.GridWidth }, 0, 16, 1024,
			"Motion detection runs on luma over an analysis grid grid_width cells wide\n"+
				"({range}), after a 3x3 blur (blur). The knobs are named as in Motion and\n"+
				"Frigate; `camagent detect -input FILE.y4m -config THIS_FILE` runs the same\n"+
				"detector offline to tune them on recorded footage.").motions(),
		boolean("motion.blur", func(c *Config) *bool { return &c.Motion.Blur }, false, "").motions(),
		integer("motion.threshold", func(c *Config) *int { return &c.Motion.Threshold }, 0, 1, 255,
			"The smallest luma difference ({range}) that counts as change; on noisy\n"+
				"pictures the threshold rises to noise_k ({range:motion.noise_k}) times the measured noise.").motions(),
		number("motion.noise_k", func(c *Config) *float64 { return &c.Motion.NoiseK }, 0, 0, 50, "").motions(),
		number("motion.learn_rate", func(c *Config) *float64 { return &c.Motion.LearnRate }, 0, 0, 1,
			"Background learning: the running average's weight of a new frame (Frigate's\n"+
				"frame_alpha), and how long a changed area must stay still before it becomes\n"+
				"background (a parked car; 0 turns it off).").motions(),
		dur("motion.still_time", func(c *Config) *time.Duration { return &c.Motion.StillTime }, 0, 0, 0, "").motions(),
		integer("motion.shake", func(c *Config) *int { return &c.Motion.Shake }, 0, 0, 2,
			"Camera shake tolerated, in grid cells ({range}).").motions(),
		number("motion.min_area_percent", func(c *Config) *float64 { return &c.Motion.MinAreaPercent }, 0, 0, 100,
			"The smallest motion region that counts, in percent of the picture ({range}).\n"+
				"Every area in [motion] and every motion score the agent shows (status,\n"+
				"shell, log, manifests) is in percent of the analysed picture.").motions(),
		str("motion.despeckle", func(c *Config) *string { return &c.Motion.Despeckle }, "",
			"Motion's despeckle_filter: e/E erode, d/D dilate, a final l keeps only the\n"+
				"largest region; \"\" turns it off.").motions(),
		number("motion.light_change_percent", func(c *Config) *float64 { return &c.Motion.LightChangePercent }, 0, 0, 100,
			"A part of the picture changing at once, in percent (0..100], is a light\n"+
				"change: it is compensated and only what it does not explain counts as\n"+
				"motion; above lightning_percent the background is learned again (no motion meanwhile).").motions(),
		number("motion.lightning_percent", func(c *Config) *float64 { return &c.Motion.LightningPercent }, 0, 0, 100, "").motions(),
		integer("motion.min_motion_frames", func(c *Config) *int { return &c.Motion.MinMotionFrames }, 0, 1, 1000,
			"Consecutive frames with motion that start an event ({range}), time without\n"+
				"motion that ends it, and a pause after an event before a new one may start.").motions(),
		dur("motion.event_gap", func(c *Config) *time.Duration { return &c.Motion.EventGap }, 0, 0, 0, "").motions(),
		dur("motion.cooldown", func(c *Config) *time.Duration { return &c.Motion.Cooldown }, 0, 0, 0, "").motions(),

		{key: "motion.zones", kind: kindTables,
			doc: "Zones, in frame-relative coordinates ((0,0) top left, (1,1) bottom right):\n" +
				"with any include zone only its inside counts; an exclude zone never counts.\n" +
				"None by default; for example, to ignore swaying trees in the top right:\n" +
				"  [[motion.zones]]\n" +
				"  polygon = [[0.6, 0.0], [1.0, 0.0], [1.0, 0.4], [0.6, 0.4]]\n" +
				"  exclude = true"},
		{key: "motion.zones.polygon", kind: kindPoints},
		{key: "motion.zones.exclude", kind: kindBool},

		table("upload", ""),
		str("upload.url", func(c *Config) *string { return &c.Upload.URL }, "",
			"The ingest's base URL (https://, mutual TLS with the device certificate that\n"+
				"`camagent provision` installs beside the key); \"\" keeps clips on the card.").
			withCheck(func(p *problems, c Config) {
				if u := c.Upload.URL; u != "" && !strings.HasPrefix(u, "https://") {
					p.addKey("upload.url", "%s is not an https:// URL", quote(u))
				}
			}),
		pathKey("upload.ca", func(c *Config) *string { return &c.Upload.CA }, "", checkAbs,
			"The CA (PEM) the ingest's certificate chains to; required with url.").
			onlyIf(func(c Config) bool { return c.Upload.URL != "" }),
		str("upload.server_name", func(c *Config) *string { return &c.Upload.ServerName }, "",
			"Overrides the name checked on the ingest's certificate (\"\" = from url)."),
		integer("upload.bandwidth_kbps", func(c *Config) *int { return &c.Upload.BandwidthKBps }, 0, 0, 1<<30,
			"Upload bandwidth cap in KiB/s (0 = none)."),
		dur("upload.start_delay", func(c *Config) *time.Duration { return &c.Upload.StartDelay.Duration },
			30*time.Second, 0, time.Hour,
			"The longest random wait before the first attempt after start or an outage,\n"+
				"so that a fleet does not reconnect all at once ({range})."),
		table("time", "How the agent knows its clock is right: manifests and events say whether\n"+
			"the clock was trusted when they were signed."),
		boolean("time.enable", func(c *Config) *bool { return &c.Time.Enable }, true,
			"Run the time part: it reads the kernel's NTP state (adjtimex) and, when no\n"+
				"NTP client on the system keeps the clock, asks servers itself."),
		stringList("time.servers", func(c *Config) *[]string { return &c.Time.Servers }, []string{},
			func(p *problems, key string, v []string) {
				for _, srv := range v {
					if err := timesync.CheckServer(srv); err != nil {
						p.addKey(key, "%s", strings.TrimPrefix(err.Error(), "timesync: "))
					}
				}
			},
			"SNTP servers, asked in order: host, host:port (UDP) or tcp://host:port\n"+
				"(NTP packets over TCP, as the QEMU camera reaches its host); [] = none."),
		table("mqtt", ""),
		str("mqtt.broker", func(c *Config) *string { return &c.MQTT.Broker }, "",
			"The MQTT broker (tls://HOST:PORT, mutual TLS with the device certificate\n"+
				"beside the key): signed events and state go out, owner-signed commands come\n"+
				"in. \"\" turns MQTT off.").
			withCheck(func(p *problems, c Config) {
				if b := c.MQTT.Broker; b != "" {
					u, err := url.Parse(b)
					switch {
					case err != nil || u.Hostname() == "" || u.Port() == "":
						p.addKey("mqtt.broker", "%s is not a tls://HOST:PORT URL", quote(b))
					case u.Scheme != "tls" && u.Scheme != "ssl" && u.Scheme != "mqtts":
						p.addKey("mqtt.broker", "%s is not a tls:// URL (mutual TLS only)", quote(b))
					}
				}
			}),
		pathKey("mqtt.ca", func(c *Config) *string { return &c.MQTT.CA }, "", checkAbs,
			"The CA (PEM) the broker's certificate chains to; required with broker.").
			onlyIf(func(c Config) bool { return c.MQTT.Broker != "" }),
		str("mqtt.server_name", func(c *Config) *string { return &c.MQTT.ServerName }, "",
			"Overrides the name checked on the broker's certificate (\"\" = from broker)."),
		dur("mqtt.keep_alive", func(c *Config) *time.Duration { return &c.MQTT.KeepAlive.Duration },
			60*time.Second, 5*time.Second, time.Hour, "MQTT keep-alive ({range})."),
		integer("mqtt.queue_size", func(c *Config) *int { return &c.MQTT.QueueSize }, 10000, 100, 1_000_000,
			"Messages kept for the broker while it is away ({range}); past that the\n"+
				"oldest are dropped and counted."),
		pathKey("mqtt.store", func(c *Config) *string { return &c.MQTT.Store }, "/var/lib/camagent/mqtt", checkAbs,
			"Where the queue, the event sequence numbers and the command replay cache\n"+
				"live: a persistent partition (not the SD card), like the key."),
		dur("mqtt.start_delay", func(c *Config) *time.Duration { return &c.MQTT.StartDelay.Duration },
			30*time.Second, 0, time.Hour,
			"The longest random wait before connecting after start or after losing the\n"+
				"broker, so that a fleet does not reconnect at once ({range})."),
		dur("mqtt.state_interval", func(c *Config) *time.Duration { return &c.MQTT.StateInterval.Duration },
			5*time.Minute, 10*time.Second, 24*time.Hour,
			"How often the state (uptime, SD free, capture fps, upload backlog) is\n"+
				"published; \"0s\" for never, else {range}.").
			onlyIf(func(c Config) bool { return c.MQTT.StateInterval.Duration != 0 }),
		table("mqtt.local", "Optional: a second broker on your LAN (Home Assistant's) that gets plain\n"+
			"JSON with MQTT discovery: a motion binary_sensor, SD free and upload backlog\n"+
			"sensors, and the last snapshot as an image. Unsigned, publish-only: it never\n"+
			"takes commands."),
		str("mqtt.local.broker", func(c *Config) *string { return &c.MQTT.Local.Broker }, "",
			"tcp://HOST:1883 or tls://HOST:8883; \"\" turns it off.").
			withCheck(func(p *problems, c Config) {
				l := c.MQTT.Local
				if l.Broker == "" {
					return
				}
				u, err := url.Parse(l.Broker)
				switch {
				case err != nil || u.Hostname() == "" || u.Port() == "":
					p.addKey("mqtt.local.broker", "%s is not a tcp:// or tls:// HOST:PORT URL", quote(l.Broker))
				case u.Scheme == "tls" || u.Scheme == "ssl" || u.Scheme == "mqtts":
					p.add(checkAbs("mqtt.local.ca", l.CA))
				case u.Scheme != "tcp" && u.Scheme != "mqtt":
					p.addKey("mqtt.local.broker", "%s is not a tcp:// or tls:// URL", quote(l.Broker))
				}
			}),
		str("mqtt.local.username", func(c *Config) *string { return &c.MQTT.Local.Username }, "",
			"Login (empty: anonymous); the password is read from password_file."),
		pathKey("mqtt.local.password_file", func(c *Config) *string { return &c.MQTT.Local.PasswordFile }, "", checkAbs,
			"A file holding the password, so that it is never in the config or its dumps.").
			onlyIf(func(c Config) bool { return c.MQTT.Local.PasswordFile != "" }),
		str("mqtt.local.ca", func(c *Config) *string { return &c.MQTT.Local.CA }, "",
			"The CA (PEM) of a tls:// broker's certificate."),
		str("mqtt.local.name", func(c *Config) *string { return &c.MQTT.Local.Name }, "",
			"The name Home Assistant shows (\"\" = the device ID).").
			withCheck(func(p *problems, c Config) {
				if n := c.MQTT.Local.Name; len(n) > 64 || strings.IndexFunc(n, func(r rune) bool { return r < 0x20 }) >= 0 {
					p.addKey("mqtt.local.name", "must be at most 64 bytes without control characters")
				}
			}),
		str("mqtt.local.prefix", func(c *Config) *string { return &c.MQTT.Local.Prefix }, "homeassistant",
			"Home Assistant's discovery prefix.").
			withCheck(func(p *problems, c Config) {
				if x := c.MQTT.Local.Prefix; x == "" || len(x) > 64 || strings.ContainsAny(x, "+#") {
					p.addKey("mqtt.local.prefix", "%s: want 1..64 bytes without + or #", quote(x))
				}
			}),
	}, liveKeys()...)
}

func table(name, doc string) field { return field{key: name, kind: kindTable, doc: doc} }

func str(name string, ptr func(*Config) *string, def, doc string) field {
	return field{key: name, kind: kindString, doc: doc,
		setDefault: func(c *Config) { *ptr(c) = def },
		value:      func(c Config) string { return strconv.Quote(*ptr(&c)) },
	}
}

// oneOf is a string key that must be one of values().
func oneOf(name string, ptr func(*Config) *string, def string, values func() []string, doc string) field {
	f := str(name, ptr, def, doc)
	f.values = values
	f.check = func(p *problems, c Config) { p.add(checkOneOf(name, *ptr(&c), values())) }
	return f
}

// pathKey is a string key checked by check (checkAbs, checkSocket).
func pathKey(name string, ptr func(*Config) *string, def string, check func(key, v string) *Error, doc string) field {
	f := str(name, ptr, def, doc)
	f.check = func(p *problems, c Config) { p.add(check(name, *ptr(&c))) }
	return f
}

func boolean(name string, ptr func(*Config) *bool, def bool, doc string) field {
	return field{key: name, kind: kindBool, doc: doc,
		setDefault: func(c *Config) { *ptr(c) = def },
		value:      func(c Config) string { return strconv.FormatBool(*ptr(&c)) },
	}
}

func integer(name string, ptr func(*Config) *int, def, lo, hi int, doc string) field {
	return field{key: name, kind: kindInt, lo: int64(lo), hi: int64(hi), doc: doc, rangeText: rangeOf(lo, hi),
		setDefault: func(c *Config) { *ptr(c) = def },
		check:      func(p *problems, c Config) { p.add(checkRange(name, *ptr(&c), lo, hi)) },
		value:      func(c Config) string { return strconv.Itoa(*ptr(&c)) },
	}
}

// number is a float key; its range is whole numbers.
func number(name string, ptr func(*Config) *float64, def float64, lo, hi int, doc string) field {
	return field{key: name, kind: kindNumber, lo: int64(lo), hi: int64(hi), doc: doc, rangeText: rangeOf(lo, hi),
		setDefault: func(c *Config) { *ptr(c) = def },
		check: func(p *problems, c Config) {
			if f := *ptr(&c); !(f >= float64(lo) && f <= float64(hi)) {
				p.addKey(name, "%s is out of range %d..%d", formatFloat(f), lo, hi)
			}
		},
		value: func(c Config) string {
			s := strconv.FormatFloat(*ptr(&c), 'f', -1, 64)
			if !strings.ContainsAny(s, ".eEnN") {
				s += ".0"
			}
			return s
		},
	}
}

func dur(name string, ptr func(*Config) *time.Duration, def, lo, hi time.Duration, doc string) field {
	return field{key: name, kind: kindDuration, doc: doc, rangeText: durRangeOf(lo, hi),
		setDefault: func(c *Config) { *ptr(c) = def },
		check:      func(p *problems, c Config) { p.add(checkDuration(name, *ptr(&c), lo, hi)) },
		value:      func(c Config) string { return strconv.Quote(shortDuration(*ptr(&c))) },
	}
}

func stringList(name string, ptr func(*Config) *[]string, def []string, check func(p *problems, key string, v []string), doc string) field {
	return field{key: name, kind: kindStrings, doc: doc,
		setDefault: func(c *Config) { *ptr(c) = append([]string{}, def...) },
		check:      func(p *problems, c Config) { check(p, name, *ptr(&c)) },
		value: func(c Config) string {
			q := make([]string, len(*ptr(&c)))
			for i, s := range *ptr(&c) {
				q[i] = strconv.Quote(s)
			}
			return "[" + strings.Join(q, ", ") + "]"
		},
	}
}

// withGap puts a blank line before the key in the example file.
func (f field) withGap() field { f.gap = true; return f }

// withCheck adds a check to the key's own.
func (f field) withCheck(check func(p *problems, c Config)) field {
	own := f.check
	f.check = func(p *problems, c Config) {
		if own != nil {
			own(p, c)
		}
		check(p, c)
	}
	return f
}

// onlyIf applies the key's check only when cond holds.
func (f field) onlyIf(cond func(Config) bool) field {
	check := f.check
	f.check = func(p *problems, c Config) {
		if cond(c) {
			check(p, c)
		}
	}
	return f
}

// motions marks a [motion] key: motion.DefaultConfig gives its default and
// motion.Config.Validate checks it.
func (f field) motions() field {
	f.setDefault, f.check = nil, nil
	if f.kind == kindDuration {
		f.rangeText = ""
	}
	return f
}

func rangeOf(lo, hi int) string { return fmt.Sprintf("%d..%d", lo, hi) }

func durRangeOf(lo, hi time.Duration) string { return shortDuration(lo) + ".." + shortDuration(hi) }

// shortDuration writes a duration as it is best typed: "0s", "10s", "60s", "5m", "4h".
func shortDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0 && d > time.Minute: // "60s" reads better than "1m"
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

func sceneNames() []string {
	var out []string
	for _, s := range synth.Scenes() {
		out = append(out, string(s))
	}
	return out
}

// exampleHeader opens the example file.
var exampleHeader = fmt.Sprintf(`# camagent configuration.
#
# Every key below is set to its default: a file that leaves a key out gets the
# same value, so keep only the lines you change. The agent refuses a file with
# an unknown key, a value of the wrong type or a value out of range, and says
# which key and what is allowed, e.g.
#
#   config: capture.fps: 500 is out of range %d..%d
#
# Order of precedence: these defaults, then this file, then the environment
# variables named below, then the checks. The running agent re-reads the file
# when it changes (write it to a temporary file and rename it over this one);
# a file it refuses is logged as "config rejected" and the running settings
# stay. The file may be at most %d KiB.
`, MinFPS, MaxFPS, MaxFileSize>>10)

// exampleText writes the example file from the schema and Default:
// camagent.example.toml is exactly this text (TestExampleFile).
func exampleText() string {
	var b strings.Builder
	b.WriteString(exampleHeader)
	def := Default()
	fields := schema()
	var ranges []string // "{range:key}", its text, ...
	for _, f := range fields {
		if f.rangeText != "" {
			ranges = append(ranges, "{range:"+f.key+"}", f.rangeText)
		}
	}
	others := strings.NewReplacer(ranges...)
	for _, f := range fields {
		doc := others.Replace(strings.ReplaceAll(f.doc, "{range}", f.rangeText))
		if f.values != nil {
			doc = strings.ReplaceAll(doc, "{values}", strings.Join(f.values(), " | "))
		}
		if f.kind == kindTable || f.gap {
			b.WriteByte('\n')
		}
		if doc != "" {
			for line := range strings.SplitSeq(doc, "\n") {
				writeComment(&b, line)
			}
		}
		switch {
		case f.kind == kindTable:
			fmt.Fprintf(&b, "[%s]\n", f.key)
		case f.value != nil:
			fmt.Fprintf(&b, "%s = %s\n", f.key[strings.LastIndexByte(f.key, '.')+1:], f.value(def))
		}
	}
	return b.String()
}

// writeComment writes one line of a key's doc as comment lines of at most 80
// bytes, broken at spaces (a line the "{values}" made longer).
func writeComment(b *strings.Builder, line string) {
	const width = 80 - len("# ")
	for len(line) > width {
		cut := strings.LastIndexByte(line[:width+1], ' ')
		if cut <= 0 {
			break
		}
		b.WriteString("# " + line[:cut] + "\n")
		line = line[cut+1:]
	}
	b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
}
