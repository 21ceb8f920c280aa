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

func defaultLive() LiveConfig {
	return LiveConfig{Enabled: true, MaxViewers: 2, IdleTimeout: Duration{30 * time.Second},
		MaxSession: Duration{10 * time.Minute}, FPS: 5, JPEGQuality: 70,
		OfferMaxLife: Duration{2 * time.Minute}, ICEServers: []string{}}
}

func (c LiveConfig) equal(o LiveConfig) bool {
	return c.Enabled == o.Enabled && c.MaxViewers == o.MaxViewers && c.IdleTimeout == o.IdleTimeout &&
		c.MaxSession == o.MaxSession && sameFloat(c.FPS, o.FPS) && c.JPEGQuality == o.JPEGQuality &&
		c.OfferMaxLife == o.OfferMaxLife && slices.Equal(c.ICEServers, o.ICEServers) &&
		c.TURNUsername == o.TURNUsername && c.TURNCredentialFile == o.TURNCredentialFile
}

func liveSchema() []field {
	return []field{
		{key: "live", kind: kindTable},
		{key: "live.enabled", kind: kindBool},
		{key: "live.max_viewers", kind: kindInt, lo: 1, hi: 16},
		{key: "live.idle_timeout", kind: kindDuration},
		{key: "live.max_session", kind: kindDuration},
		{key: "live.fps", kind: kindNumber, lo: 0, hi: 30},
		{key: "live.jpeg_quality", kind: kindInt, lo: 1, hi: 100},
		{key: "live.offer_max_life", kind: kindDuration},
		{key: "live.ice_servers", kind: kindStrings},
		{key: "live.turn_username", kind: kindString},
		{key: "live.turn_credential_file", kind: kindString},
	}
}

// maxICEServers bounds live.ice_servers.
const maxICEServers = 8

func validateLive(p *problems, c LiveConfig) {
	p.add(checkRange("live.max_viewers", c.MaxViewers, 1, 16))
	p.add(checkDuration("live.idle_timeout", c.IdleTimeout.Duration, time.Second, 10*time.Minute))
	p.add(checkDuration("live.max_session", c.MaxSession.Duration, 10*time.Second, 24*time.Hour))
	if f := c.FPS; !(f >= 0.1 && f <= 30) {
		p.addKey("live.fps", "%s is out of range 0.1..30", formatFloat(f))
	}
	p.add(checkRange("live.jpeg_quality", c.JPEGQuality, 1, 100))
	p.add(checkDuration("live.offer_max_life", c.OfferMaxLife.Duration, 10*time.Second, 10*time.Minute))
	if len(c.ICEServers) > maxICEServers {
		p.addKey("live.ice_servers", "%d servers (at most %d)", len(c.ICEServers), maxICEServers)
	}
	for _, u := range c.ICEServers {
		scheme, rest, ok := strings.Cut(u, ":")
		if !ok || rest == "" || !slices.Contains([]string{"stun", "stuns", "turn", "turns"}, scheme) || len(u) > 256 {
			p.addKey("live.ice_servers", "%s is not a stun:, stuns:, turn: or turns: URL", quote(u))
		}
	}
	if c.TURNCredentialFile != "" {
		p.add(checkAbs("live.turn_credential_file", c.TURNCredentialFile))
	}
}
