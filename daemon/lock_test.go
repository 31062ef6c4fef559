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

// The lock that keeps two daemons off one queue is a flock on a file by
// name: once that file is removed (tmp cleaner, an operator tidying the
// state directory), a second daemon takes a new lock file and opens the
// same database, returning the first one's leases to pending (Open), so
// both upload the same files.
func TestSecondDaemonRefusedAfterLockFileRemoved(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	if err := os.Remove(filepath.Join(h.StateDir, queue.LockFileName)); err != nil {
		t.Fatal(err)
	}
	d2, err := daemon.New(context.Background(), h.Config, daemon.Options{})
	if err == nil {
		d2.Queue().Close()
		t.Fatal("a second daemon opened the queue of a running daemon whose lock file was removed")
	}
}
