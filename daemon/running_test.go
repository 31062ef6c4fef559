//go:build !windows

package daemon_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
)

// Running (what `dropsync status`, `queue …` and `target …` ask) found
// out whether a daemon holds the state directory by taking the same
// exclusive flock itself for a moment. A daemon that started in that
// moment (a monitoring script polling status, `systemctl restart` racing
// a status call) was refused with "in use by another dropsync process"
// although no daemon ran. Here one goroutine asks Running in a loop while
// daemons start and stop one after another on an idle state dir: every
// start must succeed.
func TestRunningNeverMakesADaemonStartFail(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	h.Stop()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			daemon.Running(h.StateDir)
		}
	}()
	defer func() { stop.Store(true); wg.Wait() }()
	for i := range 300 {
		d, err := daemon.New(context.Background(), h.Config, daemon.Options{})
		if err != nil {
			if strings.Contains(err.Error(), "in use by another dropsync process") {
				t.Fatalf("start %d refused while no daemon ran, only `dropsync status` asked: %v", i, err)
			}
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := d.Run(ctx); err != nil { // stops at once and releases the lock
			t.Fatal(err)
		}
	}
}
