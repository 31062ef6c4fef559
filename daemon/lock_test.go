//go:build !windows

package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
)

// The lock that keeps two daemons off one queue was a flock on a file by
// name: once that file was removed (tmp cleaner, an operator tidying the
// state directory), a second daemon took a new lock file and opened the
// same database, returning the first one's leases to pending (Open), so
// both uploaded the same files. The state directory's own lock holds, and
// Running still sees the daemon. (On Windows the open lock file cannot be
// removed.)
func TestSecondDaemonRefusedAfterLockFileRemoved(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	if err := os.Remove(filepath.Join(h.StateDir, queue.LockFileName)); err != nil {
		t.Fatal(err)
	}
	if running, known := daemon.Running(h.StateDir); !running || !known {
		t.Errorf("Running = %v, %v for a daemon whose lock file was removed", running, known)
	}
	d2, err := daemon.New(context.Background(), h.Config, daemon.Options{})
	if err == nil {
		d2.Queue().Close()
		t.Fatal("a second daemon opened the queue of a running daemon whose lock file was removed")
	}
}
