package daemon_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/fakehttp"
	"github.com/dropsync/dropsync/targets/sensenet"
)

// A ready marker is removed inside its watch only: a folder swapped for a
// symlink after the delivery is not followed out of the watch to delete
// a file of the same name there.
func TestReadyMarkerRemovalStaysInsideWatch(t *testing.T) {
	mem.reset()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "x.pdf.done"), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := daemontest.Start(t, "type: test-memory\nurl: http://127.0.0.1:1\n", "ready_marker: \"{name}.done\"\nafter_upload: delete")
	var once sync.Once
	swapped := make(chan struct{})
	daemon.SetStepHook(func(step string) {
		if step != "moved" {
			return
		}
		once.Do(func() {
			sub := filepath.Join(h.Inbox, "sub")
			if err := os.Rename(sub, filepath.Join(t.TempDir(), "gone")); err != nil {
				t.Error(err)
			}
			if err := os.Symlink(outside, sub); err != nil {
				t.Error(err)
			}
			close(swapped)
		})
	})
	t.Cleanup(func() { daemon.SetStepHook(nil) })
	h.WriteFile(t, "sub/x.pdf", []byte("x"))
	h.WriteFile(t, "sub/x.pdf.done", nil)
	select {
	case <-swapped:
	case <-time.After(15 * time.Second):
		t.Fatal("after_upload delete did not run")
	}
	h.WaitIdle(t)
	if _, err := os.Stat(filepath.Join(outside, "x.pdf.done")); err != nil {
		t.Fatalf("a file outside the watch was removed as a ready marker: %v", err)
	}
}

// A reload applies a changed retention: it is not a start-only setting
// (the reload does not say it needs a restart), so records are pruned by
// the new policy without waiting for the old one's hourly pass.
func TestReloadAppliesRetention(t *testing.T) {
	mem.reset()
	const base = "state_dir: {{state}}\ntargets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\n" +
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n"
	h := daemontest.StartYAML(t, base)
	h.WriteFile(t, "a.txt", []byte("a"))
	h.WaitDelivered(t, "a.txt", "")
	h.WaitIdle(t)
	if err := h.Reload(t, base+"retention: {done: 200ms, failed: 200ms, forgotten_state: 200ms}\n"); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "done jobs pruned by the reloaded retention", func() bool {
		c, _ := h.Queue().Counts(context.Background())
		return c[queue.Done] == 0
	})
}

// A failed after_upload move stops counting once a reload sets
// after_upload to keep: the file's intent is dropped with its next
// attempt, and so is the recorded failure (the file stays in its watch,
// so retention never removes it).
func TestAfterUploadFailureClearedWhenReloadSetsKeep(t *testing.T) {
	mem.reset()
	blocker := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(blocker, []byte("a file where move_to's folder should be"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = "state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n" +
		"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n"
	h := daemontest.StartYAML(t, head+"    after_upload: move\n    move_to: "+filepath.Join(blocker, "done")+"\n")
	h.WriteFile(t, "a.txt", []byte("delivered, but cannot be moved"))
	daemontest.Eventually(t, "the failed move to be recorded", func() bool {
		n, _, _ := h.Queue().AfterUploadFailures(context.Background(), 10)
		return n == 1
	})
	if err := h.Reload(t, head); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the recorded failure to go once after_upload is keep", func() bool {
		n, _, _ := h.Queue().AfterUploadFailures(context.Background(), 10)
		js, _ := h.Queue().Jobs(context.Background(), queue.Done, "a.txt", 0)
		return n == 0 && len(js) == 1
	})
}

// A watch whose batches the queue refused stops counting against the
// daemon's health once a reload removes it: nothing else would clear the
// mark, and health stayed failing for a watch that no longer exists.
func TestRemovedWatchNoLongerFailsHealth(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the database's 10s busy timeout")
	}
	mem.reset()
	second := t.TempDir()
	const head = "state_dir: {{state}}\nretry: {initial: 20ms, max: 200ms}\ntargets:\n  t: {type: test-memory, url: http://127.0.0.1:1}\n" +
		"watches:\n  - {path: {{inbox}}, target: t, settle: 100ms}\n"
	h := daemontest.StartYAML(t, head+"  - {path: "+second+", target: t, settle: 100ms}\n")
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.StateDir, queue.FileName)+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(second, "x.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "the second watch reporting that it cannot queue", func() bool {
		err := h.Daemon().Health(context.Background())
		return err != nil && strings.Contains(err.Error(), second)
	})
	if err := h.Reload(t, head); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	daemontest.Eventually(t, "health ok without the removed watch", func() bool { return h.Daemon().Health(context.Background()) == nil })
}

// A target removed by a reload while it is down no longer fails health
// (it is not configured: nothing waits for it) and is no longer probed.
func TestRemovedDownTargetNoLongerFailsHealth(t *testing.T) {
	h, _, _, _ := removeDownTarget(t)
	daemontest.Eventually(t, "health ok without the removed target", func() bool { return h.Daemon().Health(context.Background()) == nil })
	for _, th := range h.Daemon().TargetsHealth() {
		if th.Target == "t" {
			t.Fatalf("the removed target is still tracked: %+v", th)
		}
	}
}

// A target a reload removes while it is down, and a later reload adds
// back, takes over its recorded state and is probed: its files are
// delivered once the server answers. (Before, it came back "up" in memory
// while the recorded "down" still kept the queue from handing out its
// jobs, so nothing was ever sent to it again until a restart.)
func TestTargetAddedBackAfterARemovalIsProbed(t *testing.T) {
	h, fake, faults, withT := removeDownTarget(t)
	faults.Set(nil) // the server answers again
	if err := h.Reload(t, withT); err != nil {
		t.Fatal(err)
	}
	sha := h.WriteRandom(t, "b.bin", 100)
	h.WaitDelivered(t, "b.bin", sha)
	if _, ok := fake.Content(sensenet.DocumentsPath + "/b.bin"); !ok {
		t.Fatal("b.bin is not on the server")
	}
}

// removeDownTarget runs a daemon whose sensenet target t is down (every
// request 503) with a.bin waiting for it, then reloads to a configuration
// where the watch goes to a memory target u instead and waits until a.bin
// is delivered there. It returns the harness, the sensenet fake, its fault
// switch and the first configuration (with t), for a reload back.
func removeDownTarget(t *testing.T) (*daemontest.Harness, *sensenet.Fake, *fakehttp.Faults, string) {
	t.Helper()
	mem.reset()
	fake := sensenet.NewFake()
	faults := fakehttp.Wrap(fake)
	srv := httptest.NewServer(faults)
	t.Cleanup(func() { srv.Close(); fake.Close() })
	faults.Set(func(*http.Request) fakehttp.Action { return fakehttp.Action{Status: http.StatusServiceUnavailable} })
	const head = "state_dir: {{state}}\nworkers: 2\nshutdown_timeout: 5s\nretry: {initial: 50ms, max: 200ms}\nmetrics: {unhealthy_after: 1ms}\n"
	withT := head + "targets:\n  t:\n    type: sensenet\n    url: " + srv.URL + "\n    auth: {type: bearer, token: " + sensenet.DemoToken + "}\n" +
		"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    destination: {path: " + sensenet.DocumentsPath + "}\n"
	h := daemontest.StartYAML(t, withT)
	h.WriteRandom(t, "a.bin", 100)
	daemontest.Eventually(t, "the target down and health failing", func() bool {
		return targetState(h).State == queue.TargetDown && h.Daemon().Health(context.Background()) != nil
	})
	if err := h.Reload(t, head+"targets:\n  u: {type: test-memory, url: http://127.0.0.1:1}\nwatches:\n  - {path: {{inbox}}, target: u, settle: 100ms}\n"); err != nil {
		t.Fatal(err)
	}
	h.WaitDelivered(t, "a.bin", "")
	return h, fake, faults, withT
}
