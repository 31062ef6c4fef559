//go:build linux

package daemon_test

import (
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/hungfs"
)

// the stop's bound is shutdown_timeout + 5s (stopGrace), also
// with a watch on a hung mount and the database held by another program.
// Run waits for the watches until that deadline, and only then tries the
// stranded outcomes (each try waits the database's busy timeout), waits
// for the runners at least one more second (waitUntil's floor) and tries
// the stranded outcomes again: the stop overruns the bound by seconds.
func TestStopWithHungWatchAndHeldDBKeepsItsBound(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(300 * time.Millisecond)
	h := daemontest.StartYAML(t, hungConfig(fs.Dir))
	t.Cleanup(func() {
		fs.Release()
		daemontest.Eventually(t, "the watchers' end once released", func() bool { return len(daemon.Unended(h.Daemon())) == 0 })
	})
	burst(t, h.Inbox, "a", 40)
	waitSomePuts(t, 2)
	fs.Hang()
	daemontest.Eventually(t, "the watch's poll blocked in the hung file system", func() bool { return fs.Blocked() > 0 })
	release := holdDB(t, h.StateDir)
	defer release()
	took := stopWithin(t, h, 1*time.Second+5*time.Second+300*time.Millisecond)
	t.Logf("stop took %s", took)
}
