package config

// The environment variables ApplyEnv reads. An empty or unset variable leaves
// the value as it is.
const (
	EnvLogLevel      = "CAMAGENT_LOG_LEVEL"      // log.level
	EnvLogFormat     = "CAMAGENT_LOG_FORMAT"     // log.format
	EnvControlSocket = "CAMAGENT_CONTROL_SOCKET" // control.socket
	EnvCaptureDevice = "CAMAGENT_CAPTURE_DEVICE" // capture.device
)

// ApplyEnv overrides c with the variables above, read through getenv (os.Getenv
// in the daemon, a map in tests). It sets every valid one and returns the
// invalid ones (left unset), each naming its variable, joined as Validate's
// problems are; they match ErrInvalid.
func ApplyEnv(c *Config, getenv func(string) string) error {
	var p problems
	set := func(name string, dst *string, check func(key, v string) *Error) {
		v := getenv(name)
		if v == "" {
			return
		}
		if e := check(name, v); e != nil {
			p.add(e)
			return
		}
		*dst = v
	}
	set(EnvLogLevel, &c.Log.Level, func(k, v string) *Error { return checkOneOf(k, v, LogLevels()) })
	set(EnvLogFormat, &c.Log.Format, func(k, v string) *Error { return checkOneOf(k, v, LogFormats()) })
	set(EnvControlSocket, &c.Control.Socket, checkSocket)
	set(EnvCaptureDevice, &c.Capture.Device, checkAbs)
	return p.err()
}
