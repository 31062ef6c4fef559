//go:build linux

package daemon_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
)

// Findings of review revA: each test names the defect it demonstrates.

// Crash at "staged"; a new file of the same name is dropped; the operator
// switches after_upload to keep before the restart. finishAfterUpload's
// keep branch puts the staged (already delivered) file back under a free
// name, "x (2)", where the watcher finds it as a new file: the delivered
// content is uploaded a second time, as a second remote object.
func TestRevAKeepAfterCrashDoesNotUploadStagedFileTwice(t *testing.T) {
	mem.reset()
	old := []byte("delivered, then the daemon crashed")
	h := stagedAtCrash(t, old)
	h.WriteFile(t, "x", []byte("a new file under the same name"))
	h.RestartYAML(t, memYAML("keep"))
	h.WaitDelivered(t, "x", sha256hex([]byte("a new file under the same name")))
	h.WriteFile(t, "later.txt", []byte("l"))
	h.WaitDelivered(t, "later.txt", "")
	h.WaitIdle(t)
	n := 0
	for _, rel := range []string{"x", "x (2)"} {
		for _, v := range mem.versions(rel) {
			if v == sha256hex(old) {
				n++
			}
		}
	}
	ents, _ := os.ReadDir(h.Inbox)
	for _, e := range ents {
		t.Logf("inbox: %q", e.Name())
	}
	if n != 1 {
		t.Fatalf("the already delivered content was uploaded %d times (x: %d versions, \"x (2)\": %d versions); x (2) exists: %v",
			n, len(mem.versions("x")), len(mem.versions("x (2)")), exists(filepath.Join(h.Inbox, "x (2)")))
	}
}

var _ = daemontest.Start
