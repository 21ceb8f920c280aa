package config

import (
	"slices"
	"strings"
	"time"
)

// SectionLive is the [live] section's name, as Changed reports it.
const SectionLive = "live"

// LiveConfig is the [live] section: live view over WebRTC (uplink/live).
type LiveConfig struct {
	// Enabled turns live view on (offers are still verified; a disabled
	// device answers none).
	Enabled bool `toml:"enabled"`
	// MaxViewers is the number of concurrent viewer sessions: 1..16.
	MaxViewers int `toml:"max_viewers"`
	// IdleTimeout ends a session that is not connected this long: 1s..10m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// MaxSession ends any session after this long: 10s..24h.
	MaxSession Duration `toml:"max_session"`
	// FPS is the JPEG picture rate for raw and MJPEG cameras: 0.1..30.
	FPS float64 `toml:"fps"`
	// JPEGQuality is the quality raw frames are encoded at: 1..100.
	JPEGQuality int `toml:"jpeg_quality"`
	// OfferMaxLife is the longest offer lifetime accepted: 10s..10m.
	OfferMaxLife Duration `toml:"offer_max_life"`
	// ICEServers are STUN/TURN URLs (stun:, stuns:, turn:, turns:).
	ICEServers []string `toml:"ice_servers"`
	// TURNUsername and TURNCredentialFile authenticate to the turn: servers;
	// the credential is read from the file (so it never appears in a config
	// dump).
	TURNUsername       string `toml:"turn_username"`
	TURNCredentialFile string `toml:"turn_credential_file"`
}

func (c LiveConfig) equal(o LiveConfig) bool {
	return c.Enabled == o.Enabled && c.MaxViewers == o.MaxViewers && c.IdleTimeout == o.IdleTimeout &&
		c.MaxSession == o.MaxSession && sameFloat(c.FPS, o.FPS) && c.JPEGQuality == o.JPEGQuality &&
		c.OfferMaxLife == o.OfferMaxLife && slices.Equal(c.ICEServers, o.ICEServers) &&
		c.TURNUsername == o.TURNUsername && c.TURNCredentialFile == o.TURNCredentialFile
}

// maxICEServers bounds live.ice_servers.
const maxICEServers = 8

// liveKeys describes the [live] keys (schema appends them).
func liveKeys() []field {
	fps := number("live.fps", func(c *Config) *float64 { return &c.Live.FPS }, 5, 0, 30,
		"JPEG pictures per second for raw and MJPEG cameras (0.1..30); an H.264\n"+
			"camera's stream is sent as it comes.")
	fps.check = func(p *problems, c Config) {
		if f := c.Live.FPS; !(f >= 0.1 && f <= 30) {
			p.addKey("live.fps", "%s is out of range 0.1..30", formatFloat(f))
		}
	}
	return []field{
		table("live", "Live view over WebRTC (uplink/live). Every offer must be signed by the owner\n"+
			"key named in the owner binding; the answer is signed by the device key."),
		boolean("live.enabled", func(c *Config) *bool { return &c.Live.Enabled }, true,
			"Answer live-view offers (a disabled camera refuses them, signed)."),
		integer("live.max_viewers", func(c *Config) *int { return &c.Live.MaxViewers }, 2, 1, 16,
			"Concurrent viewer sessions ({range})."),
		dur("live.idle_timeout", func(c *Config) *time.Duration { return &c.Live.IdleTimeout.Duration },
			30*time.Second, time.Second, 10*time.Minute, "A session not connected this long ends ({range})."),
		dur("live.max_session", func(c *Config) *time.Duration { return &c.Live.MaxSession.Duration },
			10*time.Minute, 10*time.Second, 24*time.Hour, "Any session ends after this long ({range})."),
		fps,
		integer("live.jpeg_quality", func(c *Config) *int { return &c.Live.JPEGQuality }, 70, 1, 100,
			"JPEG quality for raw cameras ({range})."),
		dur("live.offer_max_life", func(c *Config) *time.Duration { return &c.Live.OfferMaxLife.Duration },
			2*time.Minute, 10*time.Second, 10*time.Minute,
			"The longest offer lifetime accepted (expires - issued, {range}); offers are\n"+
				"remembered this long to refuse replays."),
		stringList("live.ice_servers", func(c *Config) *[]string { return &c.Live.ICEServers }, []string{},
			func(p *problems, key string, v []string) {
				if len(v) > maxICEServers {
					p.addKey(key, "%d servers (at most %d)", len(v), maxICEServers)
				}
				for _, u := range v {
					scheme, rest, ok := strings.Cut(u, ":")
					if !ok || rest == "" || !slices.Contains([]string{"stun", "stuns", "turn", "turns"}, scheme) || len(u) > 256 {
						p.addKey(key, "%s is not a stun:, stuns:, turn: or turns: URL", quote(u))
					}
				}
			},
			"STUN/TURN servers for viewers outside the LAN, e.g.\n"+
				"[\"stun:stun.example.org:3478\", \"turns:turn.example.org:5349\"]."),
		str("live.turn_username", func(c *Config) *string { return &c.Live.TURNUsername }, "", "TURN user name."),
		pathKey("live.turn_credential_file", func(c *Config) *string { return &c.Live.TURNCredentialFile }, "", checkAbs,
			"A file holding the TURN credential (kept out of this file so that it never\n"+
				"shows in a config dump).").
			onlyIf(func(c Config) bool { return c.Live.TURNCredentialFile != "" }),
	}
}
