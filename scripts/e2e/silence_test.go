package e2e

import (
	"os/exec"
	"testing"
	"time"
)

// TestProcessCPU: the failure report's CPU figure is the process's own CPU
// time, which grows while it runs, and an error for a process that is gone.
func TestProcessCPU(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		cpu, err := processCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if cpu > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a busy process shows no CPU time after a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if cpu, err := processCPU(pid); err == nil {
		t.Errorf("a process that has exited and been reaped: %v, no error", cpu)
	}
}
