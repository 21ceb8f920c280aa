package live

import (
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/uplink/identity"
	"github.com/pion/webrtc/v4"
)

// ICEServer is a STUN or TURN server offered to ICE.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

func pionICE(servers []ICEServer) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		out = append(out, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return out
}

// Defaults of Config.
const (
	DefaultMaxViewers   = 2
	DefaultIdleTimeout  = 30 * time.Second
	DefaultMaxSession   = 10 * time.Minute
	DefaultFPS          = 5
	DefaultQuality      = 70
	DefaultOfferMaxLife = 2 * time.Minute
	DefaultGatherWait   = 5 * time.Second
)

// Config wires a Server. DeviceID, Signer, Owner, Hub and Format are required.
type Config struct {
	DeviceID string
	// Signer is the device key; it signs answers.
	Signer crypto.Signer
	// Owner returns the device's current owner binding, verified against the
	// cloud's pairing key (identity.LoadOwnerBinding): offers are verified
	// with the key it names and no other. It returns an error wrapping
	// identity.ErrNotPaired when the device has no owner.
	Owner func() (identity.OwnerBinding, error)
	// Hub is the capture fan-out; each session subscribes its own queue.
	Hub *capture.Hub
	// Format returns the capture format now (the Runner's); H264 gives a
	// video track, any other format JPEG over a data channel.
	Format func() capture.Format
	// RequestKeyframe, when set, asks an H.264 source for an IDR (a new viewer
	// or a PLI); without it a viewer waits for the source's next IDR.
	RequestKeyframe func()

	Transport Transport // nil: offers only through HandleOffer

	MaxViewers  int           // concurrent sessions (default 2)
	IdleTimeout time.Duration // a session not connected this long ends (default 30 s)
	MaxSession  time.Duration // a session ends after this long (default 10 min)
	FPS         float64       // JPEG pictures per second sent (default 5)
	Quality     int           // JPEG quality 1-100 for raw sources (default 70)
	// OfferMaxLife is the longest offer lifetime (expires - issued) accepted
	// (default 2 min); it bounds the replay memory too.
	OfferMaxLife time.Duration
	// GatherWait bounds ICE candidate gathering for one answer (default 5 s).
	GatherWait time.Duration
	ICEServers []ICEServer
	// IncludeLoopback offers loopback candidates (same-host viewers: tests
	// and development).
	IncludeLoopback bool

	Logger *slog.Logger
	Now    func() time.Time // nil means time.Now
}

func (c Config) withDefaults() (Config, error) {
	switch {
	case identity.ValidDeviceID(c.DeviceID) != nil:
		return c, fmt.Errorf("live: config: device ID %q: %w", c.DeviceID, identity.ValidDeviceID(c.DeviceID))
	case c.Signer == nil:
		return c, errors.New("live: config: no device key")
	case c.Owner == nil:
		return c, errors.New("live: config: no owner binding source")
	case c.Hub == nil:
		return c, errors.New("live: config: no capture hub")
	case c.Format == nil:
		return c, errors.New("live: config: no capture format")
	}
	if id, err := identity.DeviceID(c.Signer.Public()); err != nil || id != c.DeviceID {
		return c, fmt.Errorf("live: config: the device key is not %s's", c.DeviceID)
	}
	if c.MaxViewers == 0 {
		c.MaxViewers = DefaultMaxViewers
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxSession == 0 {
		c.MaxSession = DefaultMaxSession
	}
	if c.FPS == 0 {
		c.FPS = DefaultFPS
	}
	if c.Quality == 0 {
		c.Quality = DefaultQuality
	}
	if c.OfferMaxLife == 0 {
		c.OfferMaxLife = DefaultOfferMaxLife
	}
	if c.GatherWait == 0 {
		c.GatherWait = DefaultGatherWait
	}
	switch {
	case c.MaxViewers < 0 || c.MaxViewers > 16:
		return c, fmt.Errorf("live: config: max viewers %d (want 1..16)", c.MaxViewers)
	case c.FPS < 0 || c.FPS > 60:
		return c, fmt.Errorf("live: config: fps %g (want 0..60]", c.FPS)
	case c.Quality < 1 || c.Quality > 100:
		return c, fmt.Errorf("live: config: quality %d (want 1..100)", c.Quality)
	case c.IdleTimeout < 0 || c.MaxSession < 0 || c.OfferMaxLife < 0 || c.GatherWait < 0:
		return c, errors.New("live: config: negative duration")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
