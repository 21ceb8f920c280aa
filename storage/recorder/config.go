package recorder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/camagent/camagent/capture"
	"github.com/camagent/camagent/storage"
)

// Frames is where the recorder takes frames from: its own *capture.Queue
// (or, in tests, a finite source that ends with io.EOF).
type Frames interface {
	Next(ctx context.Context) (*capture.Frame, error)
}

// Config configures a Recorder. Zero fields take their defaults.
type Config struct {
	Store  *storage.Store // required
	Queue  Frames         // required: the recorder's own *capture.Queue
	Logger *slog.Logger   // default: discard
	// PreRoll is how much video before an event's start a clip begins
	// with. Default 5 s; at most 60 s.
	PreRoll time.Duration
	// PreRollBytes bounds the memory of the pre-roll ring: when it is too
	// small for PreRoll, the pre-roll is shorter. Default 4 MiB.
	PreRollBytes int
	// EventLag is how late an event may be reported after its start and
	// still get its whole pre-roll. Default 1 s.
	EventLag time.Duration
	// PostRoll is how long a clip goes on after the last event ended; an
	// event starting within it extends the clip. Default 5 s.
	PostRoll time.Duration
	// MaxClip is the longest clip; a longer event goes on in a new clip.
	// Default 5 min.
	MaxClip time.Duration
	// FragmentDuration is the length of a fragment (one write and one
	// fdatasync). Default storage.DefaultFragmentDuration.
	FragmentDuration time.Duration
	// FPS is the clip frame rate of raw and MJPEG sources: frames closer
	// together are skipped. H.264 is stored at its own rate. Default 10.
	FPS float64
	// Quality is the JPEG quality of raw sources, 1-100. Default 75.
	Quality int
	// ThumbnailWidth is the width of the thumbnail. Default 320.
	ThumbnailWidth int
	// CheckEvery is how often (in frame time) the card is checked, and how
	// long the recorder waits before trying again a card that failed.
	// Default 5 s.
	CheckEvery time.Duration
	// RetentionEvery is how often (in frame time) retention runs besides
	// before each clip. Default 1 min.
	RetentionEvery time.Duration
	// IdleSeal seals the open clip when no frame came for this long (wall
	// clock): the camera stopped. Default PostRoll + 5 s.
	IdleSeal time.Duration
	// EncodeQueue is how many raw frames may wait for the encoder (each
	// holds a converted picture). Default 1.
	EncodeQueue int
	// WriteQueue is how many encoded frames may wait for the writer.
	// Default 4.
	WriteQueue int
	// Credentials, when set, signs each thumbnail with Content Credentials
	// (a *c2pa.Signer: a C2PA manifest made by the device key, with the
	// peak frame's time as capture time) before the clip is sealed. A
	// thumbnail that cannot be signed is kept unsigned and the error noted.
	Credentials interface {
		SignJPEG(img []byte, captured time.Time) ([]byte, error)
	}
	// Lossless makes the intake wait for the encoder and the writer instead
	// of dropping frames (the capture queue still drops): for tests and
	// benchmarks, where every frame must count.
	Lossless bool
}

// Limits of the Config.
const (
	MaxPreRoll      = 60 * time.Second
	MaxPostRoll     = 10 * time.Minute
	MinMaxClip      = time.Second
	MaxMaxClip      = 4 * time.Hour
	MinPreRollBytes = 64 << 10
	MaxPreRollBytes = 256 << 20
	MaxFPS          = 120
	maxSlots        = 4096 // samples the ring holds at most
)

// ErrConfig is returned by New for an invalid Config.
var ErrConfig = errors.New("recorder: invalid configuration")

func (c *Config) fill() error {
	if c.Store == nil || c.Queue == nil {
		return fmt.Errorf("%w: Store and Queue are required", ErrConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.PreRoll, 5*time.Second)
	def(&c.EventLag, time.Second)
	def(&c.PostRoll, 5*time.Second)
	def(&c.MaxClip, 5*time.Minute)
	def(&c.FragmentDuration, storage.DefaultFragmentDuration)
	def(&c.CheckEvery, 5*time.Second)
	def(&c.RetentionEvery, time.Minute)
	def(&c.IdleSeal, c.PostRoll+5*time.Second)
	if c.PreRollBytes == 0 {
		c.PreRollBytes = 4 << 20
	}
	if c.FPS == 0 {
		c.FPS = 10
	}
	if c.Quality == 0 {
		c.Quality = 75
	}
	if c.ThumbnailWidth == 0 {
		c.ThumbnailWidth = 320
	}
	if c.EncodeQueue == 0 {
		c.EncodeQueue = 1
	}
	if c.WriteQueue == 0 {
		c.WriteQueue = 4
	}
	switch {
	case c.PreRoll < 0 || c.PreRoll > MaxPreRoll:
		return fmt.Errorf("%w: pre-roll %v not in [0, %v]", ErrConfig, c.PreRoll, MaxPreRoll)
	case c.PostRoll < 0 || c.PostRoll > MaxPostRoll:
		return fmt.Errorf("%w: post-roll %v not in [0, %v]", ErrConfig, c.PostRoll, MaxPostRoll)
	case c.EventLag < 0 || c.EventLag > MaxPreRoll:
		return fmt.Errorf("%w: event lag %v not in [0, %v]", ErrConfig, c.EventLag, MaxPreRoll)
	case c.MaxClip < MinMaxClip || c.MaxClip > MaxMaxClip:
		return fmt.Errorf("%w: max clip %v not in [%v, %v]", ErrConfig, c.MaxClip, MinMaxClip, MaxMaxClip)
	case c.PreRollBytes < MinPreRollBytes || c.PreRollBytes > MaxPreRollBytes:
		return fmt.Errorf("%w: pre-roll bytes %d not in [%d, %d]", ErrConfig, c.PreRollBytes, MinPreRollBytes, MaxPreRollBytes)
	case c.FPS < 0 || c.FPS > MaxFPS:
		return fmt.Errorf("%w: fps %v not in (0, %d]", ErrConfig, c.FPS, MaxFPS)
	case c.Quality < 1 || c.Quality > 100:
		return fmt.Errorf("%w: quality %d not in [1, 100]", ErrConfig, c.Quality)
	case c.ThumbnailWidth < 16 || c.ThumbnailWidth > 4096:
		return fmt.Errorf("%w: thumbnail width %d not in [16, 4096]", ErrConfig, c.ThumbnailWidth)
	case c.FragmentDuration < 100*time.Millisecond || c.FragmentDuration > 10*time.Second:
		return fmt.Errorf("%w: fragment duration %v not in [100ms, 10s]", ErrConfig, c.FragmentDuration)
	case c.CheckEvery < 0 || c.RetentionEvery < 0 || c.IdleSeal < 0:
		return fmt.Errorf("%w: negative check, retention or idle period", ErrConfig)
	case c.EncodeQueue < 1 || c.EncodeQueue > 16 || c.WriteQueue < 1 || c.WriteQueue > 64:
		return fmt.Errorf("%w: encode queue %d not in [1, 16] or write queue %d not in [1, 64]", ErrConfig, c.EncodeQueue, c.WriteQueue)
	}
	return nil
}
