//go:build linux

package daemon_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/internal/hungfs"
	"github.com/dropsync/dropsync/internal/sandbox"
	"github.com/dropsync/dropsync/queue"
)

// hungConfig is a daemon with a watch on the inbox and, if hung is not
// "", one polled watch on it; shutdown_timeout 1s.
func hungConfig(hung string) string {
	y := "state_dir: {{state}}\nworkers: 2\nshutdown_timeout: 1s\nretry: {initial: 20ms, max: 200ms}\n" +
		"targets:\n  t:\n    type: rr-client\n    url: http://t\n" +
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 50ms\n"
	if hung != "" {
		y += fmt.Sprintf("  - path: %s\n    target: t\n    settle: 50ms\n    mode: poll\n    poll_interval: 100ms\n", hung)
	}
	return y
}

// hangWatch starts a daemon watching a file system that then hangs, and
// waits until the watch's poll is blocked in it.
func hangWatch(t *testing.T) (*daemontest.Harness, *hungfs.FS) {
	t.Helper()
	fs := hungfs.Mount(t)
	rr.reset(0)
	h := daemontest.StartYAML(t, hungConfig(fs.Dir))
	t.Cleanup(func() {
		// Before the harness's stop, which would wait for a blocked call;
		// and the watcher, woken, logs to the test: wait for its end.
		fs.Release()
		daemontest.Eventually(t, "the watchers' end once released", func() bool { return len(daemon.Unended(h.Daemon())) == 0 })
	})
	h.WriteFile(t, "before.txt", []byte("x"))
	deliveredFrom(t, h, h.Inbox, "before.txt")
	fs.Hang()
	daemontest.Eventually(t, "the watch's poll blocked in the hung file system", func() bool { return fs.Blocked() > 0 })
	return h, fs
}

// stopsWithin fails the test unless the daemon stops within d.
func stopsWithin(t *testing.T, h *daemontest.Harness, d time.Duration) {
	t.Helper()
	select {
	case <-h.StopAsync():
	case <-time.After(d):
		t.Fatalf("the daemon did not stop within %s of the stop", d)
	}
}

// A watch on a mount that hangs (a hard NFS mount whose server is gone: a
// directory listing that never returns) does not hold the stop: the
// daemon waits for it as long as shutdown_timeout, names it, and stops.
// It waited for the watcher forever, and systemd killed it at
// TimeoutStopSec.
func TestStopWithAWatchOnAHungMountEnds(t *testing.T) {
	h, _ := hangWatch(t)
	stopsWithin(t, h, 15*time.Second)
}

// A reload that drops a watch on a hung mount returns, and the daemon
// still stops: the reload waited for the old watcher forever, and with it
// the loop that takes the stop.
func TestReloadDroppingAWatchOnAHungMountReturns(t *testing.T) {
	h, _ := hangWatch(t)
	done := make(chan error, 1)
	go func() { done <- h.Reload(t, hungConfig("")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the reload did not return")
	}
	h.WriteFile(t, "after.txt", []byte("y"))
	deliveredFrom(t, h, h.Inbox, "after.txt")
	stopsWithin(t, h, 15*time.Second)
}

// A file whose opening hangs (its mount died between the scan and the
// upload) does not hold the stop either: the runner blocked in open(2)
// cannot be interrupted; the daemon waits for it as long as the stop's
// deadline, names the file, and stops (the job returns to pending at the
// next start). It waited for the runner forever.
func TestStopWithAnUploadBlockedOnAHungMountEnds(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	fs.HangOpens()
	fs.AddFile("stuck.txt", []byte("on a mount that died"))
	h := daemontest.StartYAML(t, hungConfig(fs.Dir))
	t.Cleanup(func() {
		fs.Release()
		daemontest.Eventually(t, "the watchers' and the runner's end once released", func() bool {
			return len(daemon.Unended(h.Daemon())) == 0 && daemon.Processing(h.Daemon()) == 0
		})
	})
	daemontest.Eventually(t, "the upload's open blocked in the hung file system", func() bool { return fs.Blocked() > 0 })
	stopsWithin(t, h, 15*time.Second)
}

// An I/O error opening a file (a network file system whose server is
// restarting) is a passing failure: the file is tried again and
// delivered. It failed the file permanently at once, as a refused
// permission does, and it waited for `queue retry`.
func TestIOErrorOpeningAFileIsTriedAgain(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	fs.FailOpens(2)
	fs.AddFile("flaky.txt", []byte("on a mount whose server restarts"))
	h := daemontest.StartYAML(t, hungConfig(fs.Dir))
	ctx := context.Background()
	var st *queue.FileState
	daemontest.Eventually(t, "flaky.txt delivered or failed", func() bool {
		c, err := h.Queue().Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st, _ = h.Queue().FileState(ctx, fs.Dir, "flaky.txt")
		return st != nil || c[queue.Failed] > 0
	})
	if st == nil {
		failed, _ := h.Queue().Jobs(ctx, queue.Failed, "", 1)
		t.Fatalf("flaky.txt failed after an I/O error opening it: %s", failed[0].LastError)
	}
}

// The folder check of a reload (each watch folder opened and listed, as
// `dropsync run` does under systemd) on a mount that hangs holds only the
// reload, not the loop that takes the stop: the daemon still stops. The
// check ran on that loop, and the stop waited for the mount.
func TestReloadCheckingAFolderOnAHungMountDoesNotHoldTheStop(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	y := strings.NewReplacer("{{inbox}}", t.TempDir(), "{{state}}", t.TempDir()).Replace(hungConfig(fs.Dir))
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	d, stop := startChecked(t, c, fs, daemon.Options{CheckFolders: sandbox.Checker{}.Check})
	if d == nil {
		return
	}
	fs.Hang()
	go d.Reload(context.Background(), c) // checks the folders: blocks in the hung mount
	daemontest.Eventually(t, "the reload's folder check blocked in the hung file system", func() bool { return fs.Blocked() > 0 })
	select {
	case <-stop():
	case <-time.After(15 * time.Second):
		t.Fatal("the daemon did not stop within 15s: the reload's folder check holds the stop")
	}
}

// A watch stuck in a file-system call (its mount hangs) is reported by
// the daemon's health, which /healthz serves, once it has been stuck for
// metrics.unhealthy_after, naming the watch; /healthz said all was well
// while the watch saw nothing for as long as the mount hung.
func TestHealthNamesAWatchStuckOnAHungMount(t *testing.T) {
	fs := hungfs.Mount(t)
	rr.reset(0)
	h := daemontest.StartYAML(t, hungConfig(fs.Dir)+"metrics: {unhealthy_after: 300ms}\n")
	t.Cleanup(fs.Release) // before the harness's stop, which waits for the watch
	h.WriteFile(t, "before.txt", []byte("x"))
	deliveredFrom(t, h, h.Inbox, "before.txt")
	if err := h.Daemon().Health(context.Background()); err != nil {
		t.Fatalf("health before the mount hangs: %v", err)
	}
	fs.Hang()
	daemontest.Eventually(t, "the watch's poll blocked in the hung file system", func() bool { return fs.Blocked() > 0 })
	var err error
	daemontest.Eventually(t, "the health to name the stuck watch", func() bool {
		err = h.Daemon().Health(context.Background())
		return err != nil
	})
	if !strings.Contains(err.Error(), fs.Dir) || !strings.Contains(err.Error(), "has not returned") {
		t.Fatalf("health: %v", err)
	}
}

// Files whose opening hangs (their mount died between the scan and the
// upload) hold one runner, not all of them: a watch's files are opened one
// at a time, and once an open has hung for a while (openStuck) the other
// runners put that watch's jobs back and deliver the other watches' files;
// the health names the open. Every runner took the next job of the hung
// watch and blocked in its open(2), and no watch delivered anything more.
func TestOpensHungOnOneMountHoldOneRunner(t *testing.T) {
	defer daemon.SetOpenStuck(200 * time.Millisecond)()
	fs := hungfs.Mount(t)
	rr.reset(0)
	for i := range 20 { // more than the 6 runners of 2 workers
		fs.AddFile(fmt.Sprintf("f%02d.txt", i), []byte("on a mount that dies"))
	}
	fs.HangOpens()
	h := daemontest.StartYAML(t, hungConfig(fs.Dir)+"metrics: {unhealthy_after: 300ms}\n")
	t.Cleanup(fs.Release) // before the harness's stop
	daemontest.Eventually(t, "an open blocked in the hung file system", func() bool { return fs.Blocked() > 0 })
	h.WriteFile(t, "after.txt", []byte("from the watch that works"))
	deliveredFrom(t, h, h.Inbox, "after.txt")
	if n := fs.Blocked(); n != 1 {
		t.Errorf("%d opens blocked in the hung file system when after.txt was delivered; want 1 (0: it was delivered only once the hang ended)", n)
	}
	var err error
	daemontest.Eventually(t, "the health to name the hung open", func() bool {
		err = h.Daemon().Health(context.Background())
		return err != nil && strings.Contains(err.Error(), "opening ")
	})
	if !strings.Contains(err.Error(), fs.Dir) {
		t.Fatalf("health: %v", err)
	}
}
