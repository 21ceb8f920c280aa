package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/camagent/camagent/storage/atomicfile"
)

// MetadataVersion is the version of the metadata sidecar this code writes.
const MetadataVersion = 1

// Limits of ReadMetadata.
const (
	// MaxMetadataSize bounds a metadata sidecar.
	MaxMetadataSize = 64 << 10
	// MaxClipEvents bounds the event IDs one clip lists.
	MaxClipEvents = 256
)

// ErrBadMetadata is returned for a metadata sidecar that cannot be used.
var ErrBadMetadata = errors.New("storage: bad clip metadata")

// Metadata is a clip's <base>.json sidecar. It is written last, after the
// video, thumbnail and manifest: a clip whose metadata exists is complete.
type Metadata struct {
	Version int    `json:"version"`
	Name    string `json:"name"` // the clip's name, see ClipName
	// Events are the motion events the clip shows (IDs from the detector;
	// they restart with the agent).
	Events []uint64 `json:"events"`
	// EventTime is when the first of those events started.
	EventTime time.Time `json:"event_time,omitzero"`
	// Start is the capture time of the first frame, End that of the last.
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	DurationMS int64     `json:"duration_ms"`
	Frames     int       `json:"frames"`
	Codec      string    `json:"codec"` // "h264" or "mjpeg"
	Width      int       `json:"width"`
	Height     int       `json:"height"`
	Size       int64     `json:"size"`   // of the .mp4
	SHA256     string    `json:"sha256"` // of the .mp4, hex
	// Part numbers the clips of one event split by the maximum clip length
	// (1, 2, ...).
	Part      int       `json:"part"`
	PeakScore float64   `json:"peak_score,omitempty"`
	PeakBoxes int       `json:"peak_boxes,omitempty"` // motion boxes in the peak frame
	PeakTime  time.Time `json:"peak_time,omitzero"`
	// Thumbnail is the thumbnail's file name (in the clip's folder); empty
	// when the clip has none.
	Thumbnail       string `json:"thumbnail,omitempty"`
	ThumbnailSize   int64  `json:"thumbnail_size,omitempty"`
	ThumbnailSHA256 string `json:"thumbnail_sha256,omitempty"`
	// Recovered is true for a clip sealed by crash recovery: it ends at its
	// last whole fragment.
	Recovered bool      `json:"recovered,omitempty"`
	Sealed    time.Time `json:"sealed"`
}

// ReadMetadata parses a metadata sidecar of at most MaxMetadataSize bytes and
// checks its fields; unknown fields are ignored (a newer agent may add some).
func ReadMetadata(r io.Reader) (Metadata, error) {
	data, err := atomicfile.ReadMax(r, "metadata", MaxMetadataSize)
	if errors.Is(err, atomicfile.ErrTooLarge) {
		return Metadata{}, fmt.Errorf("%w: more than %d bytes", ErrBadMetadata, MaxMetadataSize)
	}
	if err != nil {
		return Metadata{}, fmt.Errorf("storage: %w", err)
	}
	return ParseMetadata(data)
}

// ParseMetadata is ReadMetadata of bytes in memory.
func ParseMetadata(data []byte) (Metadata, error) {
	if len(data) > MaxMetadataSize {
		return Metadata{}, fmt.Errorf("%w: more than %d bytes", ErrBadMetadata, MaxMetadataSize)
	}
	var m Metadata
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Metadata{}, fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	if dec.More() {
		return Metadata{}, fmt.Errorf("%w: data after the object", ErrBadMetadata)
	}
	if err := m.Validate(); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// Validate checks the fields of m.
func (m *Metadata) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadMetadata}, args...)...)
	}
	switch {
	case m.Version != MetadataVersion:
		return bad("version %d, want %d", m.Version, MetadataVersion)
	case len(m.Events) > MaxClipEvents:
		return bad("%d events, more than %d", len(m.Events), MaxClipEvents)
	case m.DurationMS < 0 || m.Frames < 0 || m.Size < 0 || m.ThumbnailSize < 0 || m.Part < 0:
		return bad("negative duration, frames, size or part")
	case m.PeakBoxes < 0 || m.PeakBoxes > 0xffff:
		return bad("peak boxes %d", m.PeakBoxes)
	case m.Codec != CodecH264 && m.Codec != CodecMJPEG:
		return bad("codec %q", m.Codec)
	case m.Width < 0 || m.Width > 0xffff || m.Height < 0 || m.Height > 0xffff:
		return bad("size %dx%d", m.Width, m.Height)
	case !isHex(m.SHA256, 64) || (m.ThumbnailSHA256 != "" && !isHex(m.ThumbnailSHA256, 64)):
		return bad("sha256 is not 64 hex digits")
	case m.End.Before(m.Start):
		return bad("ends before it starts")
	}
	if _, err := ParseClipName(m.Name); err != nil {
		return bad("%v", err)
	}
	if m.Thumbnail != "" {
		if _, ext, ok := splitFile(m.Thumbnail); !ok || ext != ExtThumbnail || strings.ContainsAny(m.Thumbnail, `/\`) || strings.HasPrefix(m.Thumbnail, ".") {
			return bad("thumbnail %q", m.Thumbnail)
		}
	}
	return nil
}

// Codec names in Metadata.
const (
	CodecH264  = "h264"
	CodecMJPEG = "mjpeg"
)

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// encode returns the metadata as written on the card.
func (m *Metadata) encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("storage: encode metadata: %w", err)
	}
	return append(b, '\n'), nil
}
