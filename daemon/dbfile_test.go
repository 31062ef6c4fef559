package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
)

// The database file deleted under the running daemon (a cleanup script,
// a backup restored over it): SQLite goes on writing to the unlinked file
// without an error, into records the next start never sees. The daemon
// reported itself healthy and alive; it says what happened instead.
func TestDatabaseDeletedUnderTheDaemonIsReported(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	sha := h.WriteRandom(t, "a.txt", 100)
	h.WaitDelivered(t, "a.txt", sha)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Daemon().Health(ctx); err != nil {
		t.Fatalf("healthy before: %v", err)
	}
	for _, s := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(filepath.Join(h.StateDir, queue.FileName+s)); err != nil {
			t.Fatal(err)
		}
	}
	for name, err := range map[string]error{"Health": h.Daemon().Health(ctx), "Alive": h.Daemon().Alive(ctx)} {
		if err == nil || !strings.Contains(err.Error(), "was deleted or replaced while dropsync had it open") {
			t.Errorf("%s with the database deleted: %v", name, err)
		}
	}
}
