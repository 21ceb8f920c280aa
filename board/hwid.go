package board

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// ErrNoHardwareID means none of the profile's hardware ID sources exists on
// this board.
var ErrNoHardwareID = errors.New("board: no hardware ID source on this board")

// MaxHardwareID bounds a hardware ID; longer files are refused.
const MaxHardwareID = 128

// HardwareID reads the board's hardware ID from the first of the profile's
// sources (under root) that holds a usable one: a device-tree serial number
// ("10000000abcdef01"), a DMI product UUID, or /etc/machine-id. It returns
// the ID and the path it came from. Sources that do not exist are skipped;
// when none exists the error is ErrNoHardwareID. Sources that exist but hold
// no usable ID (empty, all zeros, "uninitialized", unprintable) are skipped
// too, and when no later source is usable the first such error is returned.
func HardwareID(p Profile, root string) (id, source string, err error) {
	var firstBad error
	for _, src := range p.HardwareID {
		b, err := readSmall(Join(root, src), MaxHardwareID+2)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			id, err = ParseHardwareID(b)
		}
		if err == nil {
			return id, src, nil
		}
		if firstBad == nil {
			firstBad = fmt.Errorf("board: hardware id %s: %w", src, err)
		}
	}
	if firstBad != nil {
		return "", "", firstBad
	}
	return "", "", fmt.Errorf("%w (looked for %s)", ErrNoHardwareID, strings.Join(p.HardwareID, ", "))
}

// ParseHardwareID returns the ID held by a source file's bytes: device-tree
// strings end with NUL, machine-id with a newline; both are trimmed. The ID
// must be 1..MaxHardwareID printable ASCII bytes without spaces, and not all
// zeros (an unprogrammed OTP) nor "uninitialized" (systemd's placeholder).
func ParseHardwareID(b []byte) (string, error) {
	s := strings.Trim(string(b), "\x00\n\r\t ")
	switch {
	case s == "":
		return "", errors.New("empty")
	case len(s) > MaxHardwareID:
		return "", fmt.Errorf("over %d bytes", MaxHardwareID)
	case s == "uninitialized":
		return "", errors.New("machine-id not initialized")
	case strings.Trim(s, "0-") == "":
		return "", errors.New("all zeros")
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return "", fmt.Errorf("byte %#x at %d is not printable ASCII", s[i], i)
		}
	}
	return s, nil
}

// readSmall reads at most limit bytes of a file.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	return b, nil
}
