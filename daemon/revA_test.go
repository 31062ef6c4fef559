//go:build linux

package daemon_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/targets"
)

// Findings of review revA: each test names the defect it demonstrates.

// "{dir}/.ready": batch 1 (a.pdf) keeps failing with a retryable error;
// meanwhile batch 2 (b.pdf) is dropped and .ready written again, and b.pdf
// is delivered (a.pdf's job keeps the marker). When a.pdf is finally
// delivered, it is the folder's last job, but markerNewer compares the
// marker with a.pdf's own queue time, which is older than batch 2's
// marker: the marker is taken for a next batch's and stays for good,
// though both batches are delivered and nothing is queued. Every later
// file of the folder then goes without waiting for its batch's marker.
func TestRevAFolderMarkerGoesWhenAnOlderJobFinishesLast(t *testing.T) {
	mem.reset()
	var hold atomic.Bool
	hold.Store(true)
	mem.fail = func(rel string) error {
		if rel == "sub/a.pdf" && hold.Load() {
			return &targets.Error{Kind: targets.Retryable, Op: "test: upload", Status: 503, Msg: "busy"}
		}
		return nil
	}
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
	if exists(filepath.Join(h.Inbox, "sub", ".ready")) {
		h.WriteFile(t, "sub/c.pdf", []byte("first file of batch 3, whose marker is not written yet"))
		h.WaitDelivered(t, "sub/c.pdf", "")
		t.Fatal("sub/.ready stays after both batches were delivered and nothing of the folder is queued; sub/c.pdf of batch 3 was then uploaded before its batch's marker")
	}
}
