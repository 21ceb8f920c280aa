package capture

import (
	"fmt"
	"time"
)

// V4L2Config says which device to open and what to ask it for.
type V4L2Config struct {
	Device   string
	Formats  []PixelFormat // preference order
	Width    int
	Height   int
	FPS      float64
	Buffers  int              // driver buffers (4 is right for nearly every camera)
	Controls map[string]int32 // V4L2 control name -> value, applied after open
	Pool     int              // frames in the pool (consumers' queues hold some)
	Now      func() time.Time // capture clock; nil means time.Now
	// Warn receives problems that do not stop capture (a control the device lacks).
	Warn func(msg string, args ...any)
}

// ErrNoFormat is returned when the device offers none of the preferred formats.
var ErrNoFormat = fmt.Errorf("capture: device offers none of the preferred formats")

// pickFormat returns the first preferred format the device offers.
func pickFormat(prefs []PixelFormat, offered map[PixelFormat]bool) (PixelFormat, error) {
	for _, p := range prefs {
		if offered[p] {
			return p, nil
		}
	}
	names := make([]string, 0, len(offered))
	for f := range offered {
		names = append(names, f.String())
	}
	return 0, fmt.Errorf("%w: wanted %v, device has %v", ErrNoFormat, prefs, names)
}
