package daemon_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// TestIdleDaemonRunsNoTimers: with nothing pending and nothing in flight,
// neither the dispatcher nor housekeeping wakes on a timer (no progress
// ticker, no polling for work queued by other processes). The window is a
// measurement, not a synchronisation: it must pass with nothing happening.
func TestIdleDaemonRunsNoTimers(t *testing.T) {
	mem.reset()
	h := daemontest.Start(t, memTargetYAML, "")
	h.WaitDelivered(t, "a.txt", h.WriteRandom(t, "a.txt", 100))
	h.WaitIdle(t)
	before := daemon.TimerWakeups(h.Daemon())
	<-time.After(2500 * time.Millisecond) // the progress ticker (1s) fired twice in here
	if n := daemon.TimerWakeups(h.Daemon()) - before; n != 0 {
		t.Fatalf("%d timer wake-ups in 2.5s of idleness, want 0", n)
	}
}

// TestRetryFromAnotherProcessIsNoticed: `queue retry` changes the queue
// through its own connection; the idle daemon (which polls nothing) is told
// and delivers the file without any other nudge.
func TestRetryFromAnotherProcessIsNoticed(t *testing.T) {
	mem.reset()
	mem.fail = func(string) error { return targets.Errorf(targets.Permanent, "test", "refused") }
	h := daemontest.Start(t, memTargetYAML, "")
	sha := h.WriteRandom(t, "r.txt", 100)
	h.WaitFailed(t, "r.txt")
	h.WaitIdle(t)
	mem.mu.Lock()
	mem.fail = nil
	mem.mu.Unlock()
	q, err := queue.OpenExisting(context.Background(), filepath.Clean(h.StateDir))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n, err := q.RetryFailed(context.Background()); err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	h.WaitDelivered(t, "r.txt", sha)
}

// TestProgressIsRecordedWhileUploading: the progress timer, armed only
// while an upload is in flight, records the bytes sent for `status`.
func TestProgressIsRecordedWhileUploading(t *testing.T) {
	mem.reset()
	block := make(chan struct{})
	mem.block = block
	h := daemontest.Start(t, memTargetYAML, "")
	sha := h.WriteRandom(t, "slow.bin", 64<<10)
	daemontest.Eventually(t, "progress recorded for the upload in flight", func() bool {
		js, err := h.Queue().Jobs(context.Background(), queue.Leased, "slow.bin", 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) == 1 && js[0].BytesDone > 0
	})
	close(block)
	h.WaitDelivered(t, "slow.bin", sha)
}

// Housekeeping's progress timer is armed when uploads start from none and
// stopped when the last one ends: a burst wakes it a few times, not twice
// per file. It used to be told of every upload's start and end (two
// wake-ups, two goroutine hand-offs per file on a burst of small files).
func TestBurstDoesNotWakeHousekeepingPerUpload(t *testing.T) {
	mem.reset()
	block := make(chan struct{})
	mem.block = block
	mem.fail = func(string) error {
		// The server's answer takes a while, as over a network: much
		// longer than a commit, so the workers are seldom all between
		// uploads at once.
		time.Sleep(20 * time.Millisecond)
		return nil
	}
	h := daemontest.Start(t, memTargetYAML, "")
	const files = 40
	for i := range files {
		h.WriteRandom(t, fmt.Sprintf("f%02d.bin", i), 1000)
	}
	// Every worker holds an upload while the rest wait, so that the burst
	// runs back to back once they are released.
	daemontest.Eventually(t, "the backlog", func() bool {
		c, _ := h.Queue().Counts(context.Background())
		active, _ := mem.running()
		return c[queue.Pending]+c[queue.Leased] == files && active == 4
	})
	before := daemon.BusyWakeups(h.Daemon())
	close(block)
	h.WaitIdle(t)
	if n := daemon.BusyWakeups(h.Daemon()) - before; n > 10 {
		t.Fatalf("housekeeping woke %d times for the uploads of %d files", n, files)
	}
}
