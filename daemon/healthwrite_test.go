package daemon_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// A target that was down comes back while another program holds the
// database for a moment: the probe (a destination check, no database
// needed) makes it up in memory, but the record of "up" fails. The
// recorded "down" gated claims, the daemon believed the target up (no
// probe ran again), and its backlog waited until a restart, although the
// database was free again: housekeeping now writes the record.
func TestTargetBackUpWhileTheDatabaseIsHeldMovesItsBacklog(t *testing.T) {
	h, fake, faults := faultySensenet(t, "{initial: 200ms, max: 1s}", "auth: {type: bearer, token: "+sensenet.DemoToken+"}")
	faults.Set(func(*http.Request) fakehttp.Action { return fakehttp.Action{Status: http.StatusServiceUnavailable} })
	sha := h.WriteRandom(t, "waits.bin", 2000)
	daemontest.Eventually(t, "the target down", func() bool { return targetState(h).State == queue.TargetDown })
	ctx := context.Background()
	daemontest.Eventually(t, "down recorded", func() bool {
		rec, _ := h.Queue().TargetsHealth(ctx)
		return rec["t"].State == queue.TargetDown
	})
	hold := secondConn(t, h)
	if _, err := hold.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	faults.Set(nil) // the server is back
	daemontest.Eventually(t, "the target up in the daemon's view", func() bool { return targetState(h).State == queue.TargetUp })
	time.Sleep(3 * time.Second) // the fault: the other program holds the lock past the busy timeout (1 s)
	if _, err := hold.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { daemontest.Timeout = d }(daemontest.Timeout)
	daemontest.Timeout = 15 * time.Second
	rec, _ := h.Queue().TargetsHealth(ctx)
	t.Logf("daemon's view: %s; recorded: %s", targetState(h).State, rec["t"].State)
	h.WaitDelivered(t, "waits.bin", sha)
	_ = fake
}
