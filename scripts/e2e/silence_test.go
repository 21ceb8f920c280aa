package e2e

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestGroupCPU: the failure report's CPU figure counts the processes of one
// process group (QEMU and its forwarders) and nothing else.
func TestGroupCPU(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		cpu, err := groupCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if cpu > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a busy process group shows no CPU time after a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = cmd.Wait()
	if cpu, err := groupCPU(pid); err != nil || cpu != 0 {
		t.Errorf("a group that has exited: %v, %v; want 0", cpu, err)
	}
}
