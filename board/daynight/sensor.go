package daynight

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// maxSensorFile bounds what ReadSensor reads.
const maxSensorFile = 64

// ReadSensor reads a light sensor's level from a sysfs file holding one
// number, such as an IIO device's in_illuminance_input (lux) or
// in_illuminance_raw.
func ReadSensor(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("daynight: light sensor: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSensorFile+1))
	if err != nil {
		return 0, fmt.Errorf("daynight: light sensor %s: %w", path, err)
	}
	v, err := ParseSensor(b)
	if err != nil {
		return 0, fmt.Errorf("daynight: light sensor %s: %w", path, err)
	}
	return v, nil
}

// ParseSensor parses one non-negative finite number, with surrounding white
// space, of at most 64 bytes.
func ParseSensor(b []byte) (float64, error) {
	if len(b) > maxSensorFile {
		return 0, fmt.Errorf("reading is over %d bytes", maxSensorFile)
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v != v || v > 1e9 {
		return 0, fmt.Errorf("reading %q is not a light level", s)
	}
	return v, nil
}
