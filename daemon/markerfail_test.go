package daemon_test

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// "{dir}/.ready" was removed only from the delivery paths
// (recordDelivered, doneAfterUpload call readyMarkerDone); finishFail never
// does. A batch whose last file to finish fails permanently therefore keeps
// its marker for good, although every file of the batch has had its outcome
// (queue.Settled counts a failed job as settled). The next batch's files are
// then uploaded as soon as they settle, without waiting for their own marker.
func TestFolderMarkerGoesWhenTheLastFileOfItsBatchFails(t *testing.T) {
	mem.reset()
	var permanent atomic.Bool
	mem.mu.Lock()
	mem.fail = func(rel string) error {
		if rel != "sub/b.pdf" {
			return nil
		}
		if permanent.Load() {
			return &targets.Error{Kind: targets.Permanent, Op: "test: upload", Status: 403, Msg: "forbidden"}
		}
		return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 503, Msg: "busy"}
	}
	mem.mu.Unlock()
	h := daemontest.Start(t, memTargetYAML, "ready_marker: \"{dir}/.ready\"")
	h.WriteFile(t, "sub/a.pdf", []byte("batch 1 a"))
	h.WriteFile(t, "sub/b.pdf", []byte("batch 1 b"))
	h.WriteFile(t, "sub/.ready", nil)
	h.WaitDelivered(t, "sub/a.pdf", sha256hex([]byte("batch 1 a")))
	daemontest.Eventually(t, "b.pdf tried", func() bool { _, n := mem.get("sub/b.pdf"); return n >= 1 })
	permanent.Store(true)
	h.WaitFailed(t, "sub/b.pdf")
	// The marker goes after the failure is recorded (finishFail): wait for
	// it, as a check right after the record raced with its removal.
	daemontest.Eventually(t, "sub/.ready removed once every file of its batch was delivered or failed (the last one failed); while it stays, the next batch's files go before their marker", func() bool {
		_, err := os.Lstat(filepath.Join(h.Inbox, "sub", ".ready"))
		return err != nil
	})
}
