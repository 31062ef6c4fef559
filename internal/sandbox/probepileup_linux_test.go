//go:build linux

package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/hungfs"
	"github.com/dropsync/dropsync/internal/sandbox"
)

// Every Check left one more probe (a goroutine and the OS
// thread blocked in the kernel) per folder on a hung mount: a probe left
// behind is not shared with the next Check, as config's looks now are
// (review r1). The daemon runs the check at every reload (SIGHUP from
// config management, logrotate), so while a share stays dead the blocked
// threads grow without bound, towards Go's 10000-thread limit, where the
// runtime aborts the daemon.
func TestRepeatedChecksDoNotPileUpProbes(t *testing.T) {
	fs := hungfs.Mount(t)
	c := &config.Config{Watches: []*config.Watch{{Path: fs.Dir, Target: "t"}}}
	fs.Hang()
	k := sandbox.Checker{Wait: 50 * time.Millisecond}
	const checks = 10
	for range checks {
		if err := k.Check(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	// Each probe left behind blocks in the file system within moments;
	// poll until all would have, or a deadline.
	deadline := time.Now().Add(time.Second)
	for fs.Blocked() < checks && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	// A probe is shared for a while that doubles with each probe of its
	// folder still running: 10 checks 50ms apart make 4, not 10.
	if n := fs.Blocked(); n > 4 {
		t.Fatalf("%d probes blocked in the hung folder after %d checks: one more per check (per reload), without bound", n, checks)
	}
}
