package control

import (
	"testing"

	"github.com/camagent/camagent/agent/leaktest"
)

// checkGoroutines fails t if the test leaves goroutines behind (leaktest.Check).
func checkGoroutines(t *testing.T) {
	t.Helper()
	leaktest.Check(t)
}
