package storage

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// File names of a clip: the clip is <base>.mp4 (<base>.mp4.part while it is
// written) and its sidecars are <base> plus these extensions.
const (
	ExtClip      = ".mp4"
	ExtPart      = ".part" // after ExtClip: <base>.mp4.part
	ExtThumbnail = ".jpg"
	ExtMetadata  = ".json"
	ExtManifest  = ".manifest"
	ExtUploaded  = ".uploaded"
)

// ClipsDir is the folder of the clips under Card.Dir().
const ClipsDir = "clips"

// sidecars are the extensions of the files that belong to a clip besides the
// video, in the order a deletion removes them after the video.
var sidecars = []string{ExtMetadata, ExtManifest, ExtThumbnail, ExtUploaded}

// ErrBadName is returned for a clip name that does not follow the layout.
var ErrBadName = errors.New("storage: not a clip name")

// ClipName is where a clip lives: YYYY/MM/DD/HHMMSS-e<event>[-<n>], in UTC,
// from the capture time of its first frame. N (2, 3, ...) tells apart clips
// that would otherwise get the same name (the same event in the same second,
// or event numbers that restarted with the agent).
type ClipName struct {
	Start time.Time // to the second, UTC
	Event uint64
	N     int // 0 or 1: no suffix
}

// String returns the name relative to the clips folder, without extension.
func (n ClipName) String() string {
	t := n.Start.UTC()
	s := fmt.Sprintf("%04d/%02d/%02d/%02d%02d%02d-e%d", t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), n.Event)
	if n.N > 1 {
		s += "-" + strconv.Itoa(n.N)
	}
	return s
}

// maxNameLen bounds the names ParseClipName looks at.
const maxNameLen = 64

// ParseClipName parses a clip name as ClipName.String writes it (with '/'
// separators, no extension).
func ParseClipName(name string) (ClipName, error) {
	bad := func(why string) (ClipName, error) {
		return ClipName{}, fmt.Errorf("%w: %q: %s", ErrBadName, name, why)
	}
	if len(name) > maxNameLen {
		return bad("too long")
	}
	parts := strings.Split(name, "/")
	if len(parts) != 4 || len(parts[0]) != 4 || len(parts[1]) != 2 || len(parts[2]) != 2 {
		return bad("not YYYY/MM/DD/file")
	}
	file := parts[3]
	if len(file) < 9 || file[6] != '-' || file[7] != 'e' {
		return bad("file is not HHMMSS-e<event>")
	}
	rest := file[8:]
	suffix := 0
	if i := strings.IndexByte(rest, '-'); i >= 0 {
		v, ok := digits(rest[i+1:], 1, 6)
		if !ok || v < 2 {
			return bad("bad suffix")
		}
		suffix, rest = v, rest[:i]
	}
	if len(rest) == 0 || len(rest) > 20 || (len(rest) > 1 && rest[0] == '0') {
		return bad("bad event number")
	}
	ev, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return bad("bad event number")
	}
	var v [6]int
	fields := []string{parts[0], parts[1], parts[2], file[0:2], file[2:4], file[4:6]}
	for i, f := range fields {
		x, ok := digits(f, len(f), len(f))
		if !ok {
			return bad("date or time is not digits")
		}
		v[i] = x
	}
	t := time.Date(v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, time.UTC)
	if t.Year() != v[0] || int(t.Month()) != v[1] || t.Day() != v[2] || t.Hour() != v[3] || t.Minute() != v[4] || t.Second() != v[5] {
		return bad("no such date or time")
	}
	return ClipName{Start: t, Event: ev, N: suffix}, nil
}

// digits parses a decimal of minLen to maxLen digits.
func digits(s string, minLen, maxLen int) (int, bool) {
	if len(s) < minLen || len(s) > maxLen {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

// splitFile splits a file name of a day folder into the clip's base file
// name (HHMMSS-e<event>[-n]) and its extension (ExtClip, ExtClip+ExtPart or
// a sidecar's); ok is false for files that are not a clip's.
func splitFile(file string) (base, ext string, ok bool) {
	for _, e := range []string{ExtClip + ExtPart, ExtClip, ExtThumbnail, ExtMetadata, ExtManifest, ExtUploaded} {
		if b, found := strings.CutSuffix(file, e); found && b != "" {
			return b, e, true
		}
	}
	return "", "", false
}

// isTemp reports whether file is a temporary file of WriteFileAtomic.
func isTemp(file string) bool {
	return strings.HasPrefix(file, ".") && strings.Contains(file, ".tmp")
}

// path returns the file of clip name with extension ext.
func (s *Store) path(name, ext string) string {
	return filepath.Join(s.dir, filepath.FromSlash(name)+ext)
}
