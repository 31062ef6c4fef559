package daemon_test

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// With a folder marker ({dir}/.ready) and min_age, the files of one
// batch do not settle together when some are younger than min_age (the
// last ones the producer wrote before the marker). The old ones are sent;
// once none of the folder's jobs is pending or in flight, the marker is
// removed (readyMarkerDone asks only the queue, and the young files are
// still waiting in the watcher, not queued). When the young files come of
// age their marker is gone: the watcher drops them (markerReady) without a
// word, and the reconcile drops them again. They are never delivered.
// (The same happens to any file of the batch whose settle is pushed back
// by an event after the marker: a chown -R, an indexer's xattr.)
func TestFolderMarkerWaitsForTheBatchsYoungFiles(t *testing.T) {
	mem.reset()
	h := daemontest.StartYAML(t, "state_dir: {{state}}\nretry: {initial: 50ms, max: 100ms}\n"+
		"targets:\n  a:\n    type: test-memory\n    url: http://127.0.0.1:1\n"+
		"watches:\n  - path: {{inbox}}\n    target: a\n    settle: 50ms\n    min_age: 1s\n    ready_marker: \"{dir}/.ready\"\n")
	old := h.WriteRandom(t, "batch/old.bin", 100)
	long := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(h.Inbox, "batch", "old.bin"), long, long); err != nil {
		t.Fatal(err)
	}
	young := h.WriteRandom(t, "batch/young.bin", 100)
	h.WriteFile(t, "batch/.ready", nil)
	h.WaitDelivered(t, "batch/old.bin", old)
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(h.Inbox, "batch", ".ready")); err != nil {
			t.Logf("the batch's marker: %v", err)
		}
	})
	saved := daemontest.Timeout
	daemontest.Timeout = 10 * time.Second // min_age is 1s
	defer func() { daemontest.Timeout = saved }()
	h.WaitDelivered(t, "batch/young.bin", young)
}

// "{dir}/.ready": batch 1 (a.pdf) keeps failing with a retryable error;
// meanwhile batch 2 (b.pdf) is dropped and .ready written again, and b.pdf
// is delivered (a.pdf's job keeps the marker). When a.pdf was finally
// delivered, it was the folder's last job, but the marker was compared
// with a.pdf's own queue time, older than batch 2's marker: it was taken
// for a next batch's and stayed for good, though both batches were
// delivered and nothing was queued. Every later file of the folder then
// went without waiting for its batch's marker.
func TestFolderMarkerGoesWhenAnOlderJobFinishesLast(t *testing.T) {
	mem.reset()
	var hold atomic.Bool
	hold.Store(true)
	mem.mu.Lock()
	mem.fail = func(rel string) error {
		if rel == "sub/a.pdf" && hold.Load() {
			return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 503, Msg: "busy"}
		}
		return nil
	}
	mem.mu.Unlock()
	h := daemontest.Start(t, memTargetYAML, "ready_marker: \"{dir}/.ready\"")
	h.WriteFile(t, "sub/a.pdf", []byte("batch 1"))
	h.WriteFile(t, "sub/.ready", nil)
	daemontest.Eventually(t, "a.pdf tried", func() bool { _, n := mem.get("sub/a.pdf"); return n >= 1 })
	h.WriteFile(t, "sub/b.pdf", []byte("batch 2"))
	h.WriteFile(t, "sub/.ready", nil) // batch 2 is complete
	h.WaitDelivered(t, "sub/b.pdf", sha256hex([]byte("batch 2")))
	hold.Store(false)
	h.WaitDelivered(t, "sub/a.pdf", sha256hex([]byte("batch 1")))
	h.WaitIdle(t)
	if _, err := os.Lstat(filepath.Join(h.Inbox, "sub", ".ready")); err == nil {
		t.Fatal("sub/.ready stays after both batches were delivered and nothing of the folder is queued: the first file of batch 3 would go before its batch's marker")
	}
}
