//go:build linux

package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/hungfs"
)

// waitRun bounds how long a reload waits for the old watcher
// of a watch on a hung mount, but apply makes the new watcher first
// (newWatcher → watcher.New → Decide → fsType: statfs(2) of the root) on
// the loop that also takes the stop (serveReloads). A reload that changes
// a mode: auto watch on a hung mount (its settle, say) blocks in statfs,
// and the stop that follows is never taken: it hangs until the service
// manager kills the daemon.
func TestStopAfterAReloadChangingAWatchOnAHungMountEnds(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	y := strings.Replace(hungConfig(fs.Dir), "mode: poll", "mode: auto", 1)
	h := daemontest.StartYAML(t, y)
	t.Cleanup(func() {
		fs.Release()
		daemontest.Eventually(t, "the watchers' end once released", func() bool { return len(daemon.Unended(h.Daemon())) == 0 })
	})
	h.WriteFile(t, "before.txt", []byte("x"))
	deliveredFrom(t, h, h.Inbox, "before.txt")
	changed := strings.Replace(y, "settle: 50ms\n    mode: auto", "settle: 60ms\n    mode: auto", 1)
	if changed == y {
		t.Fatal("the reload changes nothing")
	}
	// Parsed before the hang: config.Parse looks at the watch folders.
	c, err := config.Parse(strings.NewReader(strings.NewReplacer("{{inbox}}", h.Inbox, "{{state}}", h.StateDir).Replace(changed)))
	if err != nil {
		t.Fatal(err)
	}
	fs.Hang()
	daemontest.Eventually(t, "the watch's poll blocked in the hung file system", func() bool { return fs.Blocked() > 0 })
	reloaded := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		reloaded <- h.Daemon().Reload(ctx, c)
	}()
	select {
	case err := <-reloaded:
		t.Logf("reload: %v", err)
	case <-time.After(5 * time.Second): // shutdown_timeout 1s: waitRun's bound
		t.Log("the reload has not returned after 5s")
	}
	stopsWithin(t, h, 15*time.Second)
}
