package daemon_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dropsync/dropsync/daemon/daemontest"
)

// revD: with a folder marker ({dir}/.ready) and min_age, the files of one
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
