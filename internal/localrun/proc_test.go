package localrun

import (
	"os"
	"syscall"
	"time"

	"github.com/kubepay/kubepay/internal/testenv"
	"testing"
)

// TestStopAndKillLeaveNothingRunning: both ways of ending a child end its whole process group.
func TestStopAndKillLeaveNothingRunning(t *testing.T) {
	for _, end := range []struct {
		name string
		do   func(*Proc)
	}{{"Stop (SIGTERM, then SIGKILL after a grace period)", (*Proc).Stop}, {"Kill (SIGKILL, as a crash)", (*Proc).Kill}} {
		t.Run(end.name, func(t *testing.T) {
			dir := t.TempDir()
			// A shell with a grandchild: the group, not just the shell, must end.
			p, err := Start(dir, "sleeper", "/bin/sh", "-c", "sleep 300 & wait")
			if err != nil {
				t.Fatal(err)
			}
			if p.Exited() {
				t.Fatal("process exited before it was stopped")
			}
			end.do(p)
			if !p.Exited() {
				t.Fatal("process still running after it was ended")
			}
			// Signal 0 probes the group: it fails once no member is left. The grandchild, killed
			// with the group, is reaped by init a moment later, so poll with a deadline.
			testenv.Eventually(t, 10*time.Second, func() (bool, string) {
				return syscall.Kill(-p.cmd.Process.Pid, 0) != nil, "process group still has members"
			})
			if _, err := os.Stat(p.Log); err != nil {
				t.Fatalf("no log file: %v", err)
			}
		})
	}
}
