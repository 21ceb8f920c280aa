package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/capture/motion"
)

// custom is testdata/custom.toml as a Config.
func custom() Config {
	c := Default()
	c.Board = "qemu-virt"
	c.ShutdownTimeout = Duration{30 * time.Second}
	c.Log = LogConfig{Level: "debug", Format: "json", RingLines: 100000}
	c.Control.Socket = "/tmp/camagent/ctl.sock"
	c.Capture = CaptureConfig{
		Source:  "v4l2",
		Scene:   "objects",
		Loop:    true,
		Device:  "/dev/video2",
		Formats: []string{"YUYV", "H264"},
		Width:   1280,
		Height:  720,
		FPS:     29.97,
		Buffers: 8,
		Controls: map[string]int32{
			"brightness": 128, "Horizontal Movement": 6, "OSD Text Mode": 2, "contrast": -5,
		},
	}
	c.Storage.Mount = "/media/card"
	return c
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type parseCase struct {
	name string
	in   string
	want func(*Config) // applied to Default(); nil when err is set
	err  string        // the whole error text, lines joined by "\n"
}

func parseCases(t testing.TB) []parseCase {
	long := "/" + strings.Repeat("s", MaxSocketPath) // 108 bytes
	var many strings.Builder
	many.WriteString("[capture.controls]\n")
	for i := range MaxControls + 1 {
		many.WriteString("c" + strings.Repeat("x", i) + " = 1\n")
	}
	return []parseCase{
		// Valid.
		{name: "empty", in: "", want: func(*Config) {}},
		{name: "comments only", in: "# nothing\n\n  # set\n", want: func(*Config) {}},
		{name: "custom", in: readTestdata(t, "custom.toml"), want: func(c *Config) { *c = custom() }},
		{name: "one key keeps the others", in: "[capture]\nwidth = 1280\n", want: func(c *Config) { c.Capture.Width = 1280 }},
		{name: "dotted keys", in: "log.level = \"warn\"\ncapture.controls.gain = 3\n", want: func(c *Config) {
			c.Log.Level = "warn"
			c.Capture.Controls["gain"] = 3
		}},
		{name: "inline table", in: "log = { format = \"json\" }\n", want: func(c *Config) { c.Log.Format = "json" }},
		{name: "shorter formats replace the default", in: "[capture]\nformats = [\"GREY\"]\n", want: func(c *Config) { c.Capture.Formats = []string{"GREY"} }},
		{name: "synthetic source", in: "[capture]\nsource = \"synthetic\"\nscene = \"foliage\"\n", want: func(c *Config) { c.Capture.Source, c.Capture.Scene = "synthetic", "foliage" }},
		{name: "y4m source", in: "[capture]\nsource = \"y4m\"\nfile = \"/data/a.y4m\"\nloop = false\n", want: func(c *Config) {
			c.Capture.Source, c.Capture.File, c.Capture.Loop = "y4m", "/data/a.y4m", false
		}},
		{name: "exclude zone", in: "[[motion.zones]]\npolygon = [[0.6, 0], [1, 0], [1, 0.4]]\nexclude = true\n", want: func(c *Config) {
			c.Motion.Zones = []motion.Zone{{Polygon: [][2]float64{{0.6, 0}, {1, 0}, {1, 0.4}}, Exclude: true}}
		}},
		{name: "fps as float", in: "[capture]\nfps = 7.5\n", want: func(c *Config) { c.Capture.FPS = 7.5 }},
		{name: "ranges low", in: "shutdown_timeout = \"1s\"\n[log]\nring_lines = 100\n[capture]\nwidth = 16\nheight = 16\nfps = 1\nbuffers = 2\n", want: func(c *Config) {
			c.ShutdownTimeout = Duration{time.Second}
			c.Log.RingLines, c.Capture.Width, c.Capture.Height, c.Capture.FPS, c.Capture.Buffers = 100, 16, 16, 1, 2
		}},
		{name: "ranges high", in: "shutdown_timeout = \"1m\"\n[log]\nring_lines = 100000\n[capture]\nwidth = 7680\nheight = 4320\nfps = 120\nbuffers = 32\n", want: func(c *Config) {
			c.ShutdownTimeout = Duration{time.Minute}
			c.Log.RingLines, c.Capture.Width, c.Capture.Height, c.Capture.FPS, c.Capture.Buffers = 100000, 7680, 4320, 120, 32
		}},
		{name: "control int32 limits", in: "[capture.controls]\nlo = -2147483648\nhi = 2147483647\n", want: func(c *Config) {
			c.Capture.Controls["lo"], c.Capture.Controls["hi"] = -2147483648, 2147483647
		}},
		{name: "socket of 107 bytes", in: "[control]\nsocket = \"" + long[:MaxSocketPath] + "\"\n", want: func(c *Config) { c.Control.Socket = long[:MaxSocketPath] }},

		// Out of range.
		{name: "board", in: "board = \"pi\"\n", err: `config: board: "pi" is not one of qemu-virt, raspberry-pi, generic-uvc`},
		{name: "shutdown_timeout low", in: "shutdown_timeout = \"500ms\"\n", err: `config: shutdown_timeout: 500ms is out of range 1s..60s`},
		{name: "shutdown_timeout high", in: "shutdown_timeout = \"2m\"\n", err: `config: shutdown_timeout: 2m0s is out of range 1s..60s`},
		{name: "shutdown_timeout negative", in: "shutdown_timeout = \"-1s\"\n", err: `config: shutdown_timeout: -1s is out of range 1s..60s`},
		{name: "log.level", in: "[log]\nlevel = \"loud\"\n", err: `config: log.level: "loud" is not one of debug, info, warn, error`},
		{name: "log.level case", in: "[log]\nlevel = \"INFO\"\n", err: `config: log.level: "INFO" is not one of debug, info, warn, error`},
		{name: "log.format", in: "[log]\nformat = \"xml\"\n", err: `config: log.format: "xml" is not one of text, json`},
		{name: "log.ring_lines low", in: "[log]\nring_lines = 99\n", err: `config: log.ring_lines: 99 is out of range 100..100000`},
		{name: "log.ring_lines high", in: "[log]\nring_lines = 100001\n", err: `config: log.ring_lines: 100001 is out of range 100..100000`},
		{name: "control.socket relative", in: "[control]\nsocket = \"camagent.sock\"\n", err: `config: control.socket: "camagent.sock" is not an absolute path`},
		{name: "control.socket long", in: "[control]\nsocket = \"" + long + "\"\n", err: `config: control.socket: "/sssssssssssssssssssssssssssssssssssssssssssssss"... is 108 bytes, at most 107`},
		{name: "control.socket NUL", in: "[control]\nsocket = \"/run/a\\u0000b\"\n", err: `config: control.socket: "/run/a\x00b" contains a NUL byte`},
		{name: "capture.source unknown", in: "[capture]\nsource = \"usb\"\n", err: `config: capture.source: "usb" is not one of v4l2, synthetic, y4m`},
		{name: "capture.scene unknown", in: "[capture]\nsource = \"synthetic\"\nscene = \"rain\"\n", err: `config: capture.scene: "rain" is not one of static, objects, light-change, day-night, flicker, foliage, shake, drift, shadows, particles`},
		{name: "capture.file needed for y4m", in: "[capture]\nsource = \"y4m\"\n", err: `config: capture.file: is empty, want an absolute path`},
		{name: "capture.loop not a bool", in: "[capture]\nloop = \"yes\"\n", err: `config: capture.loop: want true or false, got the string "yes"`},
		{name: "upload.url not https", in: "[upload]\nurl = \"http://x\"\nca = \"/ca.crt\"\n", err: `config: upload.url: "http://x" is not an https:// URL`},
		{name: "time.servers bad port", in: "[time]\nservers = [\"10.0.2.100:99999\"]\n", err: `config: time.servers: server "10.0.2.100:99999": port "99999" is not 1..65535`},
		{name: "time.servers tcp without port", in: "[time]\nservers = [\"tcp://10.0.2.100\"]\n", err: `config: time.servers: server tcp://10.0.2.100: want tcp://host:port`},
		{name: "time.enable not bool", in: "[time]\nenable = 1\n", err: `config: time.enable: want true or false, got the integer 1`},
		{name: "mqtt.broker not tls", in: "[mqtt]\nbroker = \"tcp://b:1883\"\nca = \"/ca.crt\"\n", err: `config: mqtt.broker: "tcp://b:1883" is not a tls:// URL (mutual TLS only)`},
		{name: "mqtt.broker without ca", in: "[mqtt]\nbroker = \"tls://b:8883\"\n", err: `config: mqtt.ca: is empty, want an absolute path`},
		{name: "mqtt.local.broker", in: "[mqtt.local]\nbroker = \"http://ha:1883\"\n", err: `config: mqtt.local.broker: "http://ha:1883" is not a tcp:// or tls:// URL`},
		{name: "mqtt.queue_size", in: "[mqtt]\nqueue_size = 5\n", err: `config: mqtt.queue_size: 5 is out of range 100..1000000`},
		{name: "mqtt.state_interval", in: "[mqtt]\nstate_interval = \"1s\"\n", err: `config: mqtt.state_interval: 1s is out of range 10s..86400s`},
		{name: "upload.ca needed", in: "[upload]\nurl = \"https://10.0.2.100:8443\"\n", err: `config: upload.ca: is empty, want an absolute path`},
		{name: "storage.pre_roll too long", in: "[storage]\npre_roll = \"2m\"\n", err: `config: storage.pre_roll: 2m0s is out of range 0s..60s`},
		{name: "storage.jpeg_quality", in: "[storage]\njpeg_quality = 0\n", err: `config: storage.jpeg_quality: 0 is out of range 1..100`},
		{name: "storage floors inverted", in: "[storage]\nfree_floor_mb = 10\ncritical_floor_mb = 20\n", err: `config: storage.critical_floor_mb: 20 is above storage.free_floor_mb (10)`},
		{name: "identity.key relative", in: "[identity]\nkey = \"device.key\"\n", err: `config: identity.key: "device.key" is not an absolute path`},
		{name: "capture.device empty", in: "[capture]\ndevice = \"\"\n", err: `config: capture.device: is empty, want an absolute path`},
		{name: "capture.device relative", in: "[capture]\ndevice = \"video0\"\n", err: `config: capture.device: "video0" is not an absolute path`},
		{name: "capture.formats empty", in: "[capture]\nformats = []\n", err: `config: capture.formats: is empty, want at least one of H264, MJPEG, YUYV, NV12, GREY`},
		{name: "capture.formats unknown", in: "[capture]\nformats = [\"MJPG\"]\n", err: `config: capture.formats: "MJPG" is not one of H264, MJPEG, YUYV, NV12, GREY`},
		{name: "capture.formats twice", in: "[capture]\nformats = [\"YUYV\", \"GREY\", \"YUYV\"]\n", err: `config: capture.formats: "YUYV" is listed twice`},
		{name: "capture.width low", in: "[capture]\nwidth = 15\n", err: `config: capture.width: 15 is out of range 16..7680`},
		{name: "capture.width high", in: "[capture]\nwidth = 7681\n", err: `config: capture.width: 7681 is out of range 16..7680`},
		{name: "capture.width beyond int32", in: "[capture]\nwidth = 99999999999\n", err: `config: capture.width: 99999999999 is out of range 16..7680`},
		{name: "capture.height low", in: "[capture]\nheight = 0\n", err: `config: capture.height: 0 is out of range 16..4320`},
		{name: "capture.height high", in: "[capture]\nheight = 4321\n", err: `config: capture.height: 4321 is out of range 16..4320`},
		{name: "capture.fps low", in: "[capture]\nfps = 0.5\n", err: `config: capture.fps: 0.5 is out of range 1..120`},
		{name: "capture.fps high", in: "[capture]\nfps = 500\n", err: `config: capture.fps: 500 is out of range 1..120`},
		{name: "capture.fps nan", in: "[capture]\nfps = nan\n", err: `config: capture.fps: nan is out of range 1..120`},
		{name: "capture.fps inf", in: "[capture]\nfps = inf\n", err: `config: capture.fps: inf is out of range 1..120`},
		{name: "capture.fps huge integer", in: "[capture]\nfps = 9007199254740993\n", err: `config: capture.fps: 9007199254740993 is out of range 1..120`},
		{name: "capture.buffers low", in: "[capture]\nbuffers = 1\n", err: `config: capture.buffers: 1 is out of range 2..32`},
		{name: "capture.buffers high", in: "[capture]\nbuffers = 33\n", err: `config: capture.buffers: 33 is out of range 2..32`},
		{name: "capture.controls too many", in: many.String(), err: `config: capture.controls: has 65 controls, at most 64`},
		{name: "capture.controls long name", in: "[capture.controls]\n" + strings.Repeat("n", 32) + " = 1\n", err: `config: capture.controls.nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn: the name is 32 bytes, at most 31`},
		{name: "capture.controls empty name", in: "[capture.controls]\n\"\" = 1\n", err: `config: capture.controls."": a control name is empty`},
		{name: "capture.controls control character", in: "[capture.controls]\n\"a\\tb\" = 1\n", err: `config: capture.controls."a\tb": the name has a character that is not printable ASCII`},
		{name: "capture.controls beyond int32", in: "[capture.controls]\nbrightness = 2147483648\n", err: `config: capture.controls.brightness: 2147483648 is out of range -2147483648..2147483647`},
		{name: "storage.mount", in: "[storage]\nmount = \"sd\"\n", err: `config: storage.mount: "sd" is not an absolute path`},
		{name: "every problem, in key order", in: readTestdata(t, "invalid.toml"), err: "config: capture.width: 8 is out of range 16..7680\nconfig: capture.fps: 500 is out of range 1..120"},

		// Wrong type.
		{name: "board integer", in: "board = 3\n", err: `config: board: want a string, got the integer 3`},
		{name: "board date", in: "board = 1979-05-27\n", err: `config: board: want a string, got a date-time`},
		{name: "shutdown_timeout integer", in: "shutdown_timeout = 10\n", err: `config: shutdown_timeout: want a duration like "10s", got the integer 10`},
		{name: "shutdown_timeout no unit", in: "shutdown_timeout = \"10\"\n", err: `config: shutdown_timeout: "10" is not a duration like "10s" or "500ms"`},
		{name: "log a string", in: "log = \"debug\"\n", err: `config: log: want a table, got the string "debug"`},
		{name: "capture an array of tables", in: "[[capture]]\nwidth = 640\n", err: `config: capture: want a table, got an array of tables`},
		{name: "capture.width string", in: "[capture]\nwidth = \"640\"\n", err: `config: capture.width: want an integer, got the string "640"`},
		{name: "capture.width float", in: "[capture]\nwidth = 640.0\n", err: `config: capture.width: want an integer, got the float 640`},
		{name: "capture.fps boolean", in: "[capture]\nfps = true\n", err: `config: capture.fps: want a number, got the boolean true`},
		{name: "capture.formats string", in: "[capture]\nformats = \"MJPEG\"\n", err: `config: capture.formats: want an array of strings, got the string "MJPEG"`},
		{name: "capture.formats element", in: "[capture]\nformats = [\"MJPEG\", 5]\n", err: `config: capture.formats: want an array of strings, got the integer 5 at index 1`},
		{name: "capture.controls a string", in: "[capture]\ncontrols = \"none\"\n", err: `config: capture.controls: want a table, got the string "none"`},
		{name: "capture.controls value string", in: "[capture.controls]\nbrightness = \"high\"\n", err: `config: capture.controls.brightness: want an integer, got the string "high"`},
		{name: "capture.controls value table", in: "[capture.controls.brightness]\nx = 1\n", err: `config: capture.controls.brightness: want an integer, got a table`},
		{name: "integer beyond int64", in: "board = " + strings.Repeat("1", 60) + "\n", err: `config: line 1: 111111111111111111111111111111111111111111111111111111111111 is out of range for int64`},
		{name: "long value cut", in: "board = \"" + strings.Repeat("b", 100) + "\"\n", err: `config: board: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"... is not one of qemu-virt, raspberry-pi, generic-uvc`},

		// Unknown keys.
		{name: "unknown key", in: "[capture]\nfsp = 25\n", err: `config: unknown key capture.fsp (did you mean capture.fps?)`},
		{name: "unknown key far from any", in: "[capture]\nzoom = 2\n", err: `config: unknown key capture.zoom ([capture] has source, scene, file, loop, device, formats, width, height, fps, buffers, controls)`},
		{name: "fraction key now percent", in: "[motion]\nmin_area = 0.001\n", err: `config: motion.min_area is now motion.min_area_percent, in percent of the picture (0..100), not a fraction (0..1): write min_area_percent = 0.1`},
		{name: "fraction keys now percent", in: "[motion]\nlight_change = 0.2\nlightning_threshold = 1\n", err: "config: motion.light_change is now motion.light_change_percent, in percent of the picture (0..100), not a fraction (0..1): write light_change_percent = 20\nconfig: motion.lightning_threshold is now motion.lightning_percent, in percent of the picture (0..100), not a fraction (0..1): write lightning_percent = 100"},
		{name: "percent out of range", in: "[motion]\nmin_area_percent = 100\n", err: `config: motion: min_area_percent: 100 outside 0..100 (percent of the picture)`},
		{name: "unknown key case", in: "Board = \"qemu-virt\"\n", err: `config: unknown key Board (did you mean board?)`},
		{name: "unknown top-level key", in: "debug = true\n", err: `config: unknown key debug (the known keys are board, shutdown_timeout, memory_mb, log, control, capture, storage, identity, motion, upload, time, mqtt, live)`},
		{name: "unknown section", in: "[detector]\nthreshold = 3\n", err: `config: unknown key detector (the known keys are board, shutdown_timeout, memory_mb, log, control, capture, storage, identity, motion, upload, time, mqtt, live)`},
		{name: "unknown nested section", in: "[detector.zones]\na = 1\n", err: `config: unknown key detector (the known keys are board, shutdown_timeout, memory_mb, log, control, capture, storage, identity, motion, upload, time, mqtt, live)`},
		{name: "zones as a table", in: "[motion.zones]\na = 1\n", err: `config: motion.zones: want an array of tables ([[motion.zones]]), got a table`},
		{name: "zone point not a pair", in: "[[motion.zones]]\npolygon = [[0.1, 0.2, 0.3]]\n", err: `config: motion.zones.polygon: point 0: want [x, y], got an array`},
		{name: "motion out of range", in: "[motion]\ngrid_width = 8\n", err: `config: motion: grid_width: 8 outside 16..1024`},
		{name: "quoted dotted key", in: "\"capture.width\" = 5\n", err: `config: unknown key "capture.width" (the known keys are board, shutdown_timeout, memory_mb, log, control, capture, storage, identity, motion, upload, time, mqtt, live)`},
		{name: "every unknown key", in: "[log]\nlevl = \"debug\"\n[storage]\nmnt = \"/x\"\npath = \"/y\"\n", err: "config: unknown key log.levl (did you mean log.level?)\nconfig: unknown key storage.mnt (did you mean storage.mount?)\nconfig: unknown key storage.path ([storage] has mount, pre_roll, pre_roll_mb, post_roll, max_clip, clip_fps, jpeg_quality, fragment, free_floor_mb, critical_floor_mb, quota_mb)"},

		// Syntax.
		{name: "syntax error line", in: "board = \"qemu-virt\"\n\nwidth = = 3\n", err: `config: line 3: expected value but found '=' instead`},
		{name: "unterminated string", in: "[log]\nlevel = \"info\nformat = \"text\"\n", err: `config: line 2: strings cannot contain newlines`},
		{name: "duplicate key", in: "[capture]\nwidth = 640\nwidth = 320\n", err: `config: line 3: Key 'capture.width' has already been defined.`},
		{name: "unterminated table", in: "# a\n[log\nlevel = \"info\"\n", err: `config: line 2: expected '.' or ']' to end table name, but got '\n' instead`},
		{name: "bare word value", in: "[log]\nlevel = info\n", err: `config: line 2: expected a top-level item to end with a newline, comment, or EOF, but got 'o' instead`},
		{name: "control character", in: "board = \"\x01\"\n", err: `config: line 1: TOML files cannot contain control characters: '0x01'`},
		{name: "too large", in: strings.Repeat("#", MaxFileSize+1), err: `config: the file is more than 65536 bytes`},
	}
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if tc.err != "" {
				if err == nil {
					t.Fatalf("Parse = %+v, want error %q", got, tc.err)
				}
				if err.Error() != tc.err {
					t.Fatalf("error:\n got %q\nwant %q", err.Error(), tc.err)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Errorf("errors.As(%v, *Error) = false", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse:\n got %+v\nwant %+v", got, want)
			}
			if !got.Equal(want) {
				t.Fatal("Equal = false for DeepEqual configs")
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	tests := []struct {
		in   string
		line int
		key  string
	}{
		{"[capture]\nfps = 500\n", 0, "capture.fps"},
		{"[capture]\nfsp = 5\n", 0, "capture.fsp"},
		{"a = 1\n\n\n\nb = = 2\n", 5, ""},
		{"[capture]\nwidth = \"x\"\n", 0, "capture.width"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.in))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Parse(%q) = %v, want an *Error", tc.in, err)
		}
		if e.Line != tc.line || e.Key != tc.key {
			t.Errorf("Parse(%q): Line %d Key %q, want %d %q", tc.in, e.Line, e.Key, tc.line, tc.key)
		}
	}
}

func TestOneLine(t *testing.T) {
	_, err := Parse([]byte(readTestdata(t, "invalid.toml")))
	want := "config: capture.width: 8 is out of range 16..7680; config: capture.fps: 500 is out of range 1..120"
	if got := OneLine(err); got != want {
		t.Errorf("OneLine = %q, want %q", got, want)
	}
	if got := OneLine(nil); got != "" {
		t.Errorf("OneLine(nil) = %q", got)
	}
	// The first line alone is a whole message.
	if first, _, _ := strings.Cut(err.Error(), "\n"); first != "config: capture.width: 8 is out of range 16..7680" {
		t.Errorf("first line %q", first)
	}
}

func TestValidateBoundsProblems(t *testing.T) {
	c := Default()
	c.Capture.Formats = slices.Repeat([]string{"BAD"}, 30)
	err := c.Validate()
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxProblems+1 {
		t.Fatalf("%d lines, want %d:\n%v", len(lines), maxProblems+1, err)
	}
	if last := lines[maxProblems]; last != "config: and 10 more problems" {
		t.Errorf("last line %q", last)
	}
}

func TestParseBoundsProblems(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	_, _, err := LoadWith(writeFile(t, t.TempDir(), "many.toml", b.String()), nil)
	lines := strings.Split(errText(err), "\n")
	if len(lines) != maxProblems+1 || lines[maxProblems] != "config: and 980 more problems" {
		t.Errorf("%d lines, the last %q", len(lines), lines[len(lines)-1])
	}
}

func TestValidateZero(t *testing.T) {
	// The zero Config is invalid, and Validate says why for every key.
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("Validate(Config{}) = nil")
	}
	for _, key := range []string{"board", "shutdown_timeout", "log.level", "log.format", "log.ring_lines",
		"control.socket", "capture.device", "capture.formats", "capture.width", "capture.height",
		"capture.fps", "capture.buffers", "storage.mount"} {
		if !strings.Contains(err.Error(), "config: "+key+": ") {
			t.Errorf("no problem reported for %s in:\n%v", key, err)
		}
	}
	if Default().Validate() != nil {
		t.Errorf("Default().Validate() = %v", Default().Validate())
	}
}

func TestExampleFile(t *testing.T) {
	data, err := os.ReadFile("camagent.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if ExampleFile() != string(data) {
		t.Error("ExampleFile() differs from camagent.example.toml")
	}
	// The file is written from the key descriptions (schema, Default): its
	// comments, ranges and values cannot drift from the checks.
	if want := exampleText(); strings.Contains(want, "{range") || strings.Contains(want, "{values}") {
		t.Errorf("a placeholder in keys.go names no key:\n%s", want)
	}
	if want := exampleText(); string(data) != want {
		if *update {
			if err := os.WriteFile("camagent.example.toml", []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("camagent.example.toml does not match the key descriptions in keys.go "+
				"(go test ./agent/config -run TestExampleFile -update rewrites it):\n%s", firstDiff(string(data), want))
		}
	}
	// The example says every key is at its default.
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(example): %v", err)
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Errorf("example:\n got %+v\nwant %+v", got, Default())
	}
	// It documents every key and the allowed values.
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range md.Keys() {
		have[k.String()] = true
	}
	for _, f := range schema() {
		// Zones are an array of tables, empty by default: shown commented out.
		if !have[f.key] && !strings.HasPrefix(f.key, "motion.zones") {
			t.Errorf("the example does not show %s", f.key)
		}
	}
	for _, s := range []string{
		strings.Join(Boards(), " | "),
		strings.Join(LogLevels(), " | "),
		strings.Join(LogFormats(), " | "),
		strings.Join(capture.FormatNames(), ", "),
		EnvLogLevel, EnvLogFormat, EnvControlSocket, EnvCaptureDevice,
	} {
		if !strings.Contains(string(data), s) {
			t.Errorf("the example does not mention %q", s)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
		err  string
	}{
		{name: "none", env: nil, want: func(*Config) {}},
		{name: "empty values are unset", env: map[string]string{EnvLogLevel: ""}, want: func(*Config) {}},
		{name: "all", env: map[string]string{
			EnvLogLevel: "debug", EnvLogFormat: "json", EnvControlSocket: "/tmp/c.sock", EnvCaptureDevice: "/dev/video9",
		}, want: func(c *Config) {
			c.Log.Level, c.Log.Format, c.Control.Socket, c.Capture.Device = "debug", "json", "/tmp/c.sock", "/dev/video9"
		}},
		{name: "invalid ones named, valid ones set", env: map[string]string{
			EnvLogLevel: "loud", EnvLogFormat: "json", EnvCaptureDevice: "video9",
		}, want: func(c *Config) { c.Log.Format = "json" },
			err: "config: CAMAGENT_LOG_LEVEL: \"loud\" is not one of debug, info, warn, error\nconfig: CAMAGENT_CAPTURE_DEVICE: \"video9\" is not an absolute path"},
		{name: "socket too long", env: map[string]string{EnvControlSocket: "/" + strings.Repeat("x", 200)}, want: func(*Config) {},
			err: `config: CAMAGENT_CONTROL_SOCKET: "/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"... is 201 bytes, at most 107`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := ApplyEnv(&c, func(k string) string { return tc.env[k] })
			if got := errText(err); got != tc.err {
				t.Errorf("error:\n got %q\nwant %q", got, tc.err)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			want := Default()
			tc.want(&want)
			if !reflect.DeepEqual(c, want) {
				t.Errorf("got %+v\nwant %+v", c, want)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadWith(t *testing.T) {
	dir := t.TempDir()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	t.Run("file then env", func(t *testing.T) {
		content := readTestdata(t, "custom.toml")
		p := writeFile(t, dir, "custom.toml", content)
		c, src, err := LoadWith(p, env(map[string]string{EnvLogLevel: "error"}))
		if err != nil {
			t.Fatal(err)
		}
		want := custom()
		want.Log.Level = "error"
		if !reflect.DeepEqual(c, want) {
			t.Errorf("got %+v\nwant %+v", c, want)
		}
		sum := sha256.Sum256([]byte(content))
		if src.Path != p || src.Hash != hex.EncodeToString(sum[:])[:12] || src.Loaded.IsZero() {
			t.Errorf("Source = %+v", src)
		}
	})
	t.Run("env fixes the file before Validate", func(t *testing.T) {
		p := writeFile(t, dir, "loud.toml", "[log]\nlevel = \"loud\"\n")
		c, _, err := LoadWith(p, env(map[string]string{EnvLogLevel: "warn"}))
		if err != nil || c.Log.Level != "warn" {
			t.Errorf("LoadWith = %v, %v", c.Log, err)
		}
	})
	t.Run("env problems carry no path", func(t *testing.T) {
		p := writeFile(t, dir, "fps.toml", "[capture]\nfps = 500\n")
		_, _, err := LoadWith(p, env(map[string]string{EnvLogFormat: "xml"}))
		want := "config: CAMAGENT_LOG_FORMAT: \"xml\" is not one of text, json\nconfig: " + p + ": capture.fps: 500 is out of range 1..120"
		if errText(err) != want {
			t.Errorf("LoadWith = %q, want %q", errText(err), want)
		}
	})
	t.Run("nil getenv", func(t *testing.T) {
		p := writeFile(t, dir, "empty.toml", "")
		c, _, err := LoadWith(p, nil)
		if err != nil || !reflect.DeepEqual(c, Default()) {
			t.Errorf("LoadWith = %+v, %v", c, err)
		}
	})
	t.Run("invalid names the file", func(t *testing.T) {
		p := writeFile(t, dir, "invalid.toml", readTestdata(t, "invalid.toml"))
		_, src, err := LoadWith(p, nil)
		want := "config: " + p + ": capture.width: 8 is out of range 16..7680\nconfig: " + p + ": capture.fps: 500 is out of range 1..120"
		if errText(err) != want || !errors.Is(err, ErrInvalid) {
			t.Errorf("LoadWith = %v, want %q", err, want)
		}
		if src.Hash == "" {
			t.Error("no Source for a file that was read")
		}
	})
	t.Run("missing", func(t *testing.T) {
		p := filepath.Join(dir, "none.toml")
		_, _, err := LoadWith(p, nil)
		want := "config: " + p + ": file does not exist; create it from camagent.example.toml or pass -config"
		if errText(err) != want {
			t.Errorf("LoadWith = %v, want %q", err, want)
		}
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
			t.Errorf("errors.Is(%v): ErrNotExist %v, ErrInvalid %v", err, errors.Is(err, fs.ErrNotExist), errors.Is(err, ErrInvalid))
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, _, err := LoadWith(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "not a regular file") || errors.Is(err, ErrInvalid) {
			t.Errorf("LoadWith(dir) = %v", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		p := writeFile(t, dir, "big.toml", strings.Repeat("# padding\n", MaxFileSize/10+1))
		_, _, err := LoadWith(p, nil)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more than 65536 bytes") {
			t.Errorf("LoadWith = %v", err)
		}
	})
}

func TestChanged(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"same", func(*Config) {}, nil},
		{"nil controls equal empty", func(c *Config) { c.Capture.Controls = nil }, nil},
		{"board", func(c *Config) { c.Board = "qemu-virt" }, []string{SectionBoard}},
		{"shutdown", func(c *Config) { c.ShutdownTimeout.Duration = time.Second }, []string{SectionShutdownTimeout}},
		{"log", func(c *Config) { c.Log.RingLines = 200 }, []string{SectionLog}},
		{"control", func(c *Config) { c.Control.Socket = "/x" }, []string{SectionControl}},
		{"capture formats order", func(c *Config) { c.Capture.Formats = []string{"YUYV", "MJPEG", "NV12", "GREY"} }, []string{SectionCapture}},
		{"capture control", func(c *Config) { c.Capture.Controls = map[string]int32{"gain": 1} }, []string{SectionCapture}},
		{"capture fps", func(c *Config) { c.Capture.FPS = 30 }, []string{SectionCapture}},
		{"storage", func(c *Config) { c.Storage.Mount = "/sd" }, []string{SectionStorage}},
		{"time servers", func(c *Config) { c.Time.Servers = []string{"tcp://10.0.2.100:123"} }, []string{SectionTime}},
		{"time enable", func(c *Config) { c.Time.Enable = false }, []string{SectionTime}},
		{"all", func(c *Config) { *c = custom() }, []string{SectionBoard, SectionShutdownTimeout, SectionLog, SectionControl, SectionCapture, SectionStorage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := Default()
			tc.change(&next)
			if got := Changed(Default(), next); !slices.Equal(got, tc.want) {
				t.Errorf("Changed = %v, want %v", got, tc.want)
			}
			if got := Changed(next, Default()); !slices.Equal(got, tc.want) {
				t.Errorf("Changed reversed = %v, want %v", got, tc.want)
			}
			if eq := Default().Equal(next); eq != (len(tc.want) == 0) {
				t.Errorf("Equal = %v", eq)
			}
		})
	}
}

func TestClone(t *testing.T) {
	a := custom()
	b := a.Clone()
	b.Capture.Formats[0] = "GREY"
	b.Capture.Controls["brightness"] = 1
	if !a.Equal(custom()) {
		t.Error("changing a clone changed the original")
	}
}

func TestCloneTimeServers(t *testing.T) {
	a := Default()
	a.Time.Servers = []string{"10.0.2.100"}
	b := a.Clone()
	b.Time.Servers[0] = "changed"
	if a.Time.Servers[0] != "10.0.2.100" {
		t.Error("changing a clone's [time] servers changed the original")
	}
}

func TestHelpers(t *testing.T) {
	c := custom()
	if got := c.Capture.PixelFormats(); !slices.Equal(got, []capture.PixelFormat{capture.FormatYUYV, capture.FormatH264}) {
		t.Errorf("PixelFormats = %v", got)
	}
	for _, l := range LogLevels() {
		if got := (LogConfig{Level: l}).SlogLevel().String(); !strings.EqualFold(got, l) {
			t.Errorf("SlogLevel(%s) = %s", l, got)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Duration != 90*time.Second {
		t.Errorf("UnmarshalText = %v, %v", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "1m30s" {
		t.Errorf("MarshalText = %s", b)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Error("UnmarshalText(soon) = nil")
	}
}

func TestMarshal(t *testing.T) {
	for _, c := range []Config{Default(), custom()} {
		b, err := Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal) = %v\n%s", err, b)
		}
		if !got.Equal(c) {
			t.Errorf("round trip:\n got %+v\nwant %+v\n%s", got, c, b)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases(f) {
		f.Add([]byte(tc.in))
	}
	f.Add([]byte(ExampleFile()))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "config: ") || strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
					t.Fatalf("bad error line %q", line)
				}
				// decode's backstops (toml refusing what checkKeys let
				// through) speak toml's language.
				if strings.Contains(line, "(last key") || strings.Contains(line, "incompatible types") {
					t.Fatalf("checkKeys missed what toml refused: %q", line)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config Validate refuses: %v", err)
		}
		b, err := Marshal(c)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		c2, err := Parse(b)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)) = %v\n%s", err, b)
		}
		if !c2.Equal(c) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v\n%s", c, c2, b)
		}
	})
}

func BenchmarkParseExample(b *testing.B) {
	data := []byte(ExampleFile())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

var update = flag.Bool("update", false, "rewrite camagent.example.toml from the key descriptions")

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n file: %q\n want: %q", i+1, gl, wl)
		}
	}
	return ""
}

// TestSchemaCoversConfig: every key Config decodes is described in keys.go,
// and every described key with a default sets a field Default leaves as set.
func TestSchemaCoversConfig(t *testing.T) {
	described := map[string]bool{}
	for _, f := range schema() {
		if described[f.key] {
			t.Errorf("%s is described twice", f.key)
		}
		described[f.key] = true
	}
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			sf := typ.Field(i)
			tag, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			key := prefix + tag
			if !described[key] {
				t.Errorf("Config has %s (%s), which keys.go does not describe", key, sf.Name)
			}
			ft := sf.Type
			if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[Duration]() {
				walk(key+".", ft)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
}
