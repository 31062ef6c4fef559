//go:build linux

package daemon_test

import (
	"os"
	"path/filepath"
	"testing"
)

// revE: with after_upload switched to keep, the delivered file staged
// before a stop is set aside under its pending name while a newer x holds
// the name (putBackDelivered); the keep branch of finishAfterUpload tries
// once to give it its name back, logs "stays hidden", and records the
// delivery without the intent. Nothing ever looks at the pending name
// again: once the newer x is gone (removed, moved away by the user) the
// delivered file stays hidden as .dropsync-pending.x for good, across
// restarts, though pendingName's invariant says "with keep it gets its own
// name back once that is free".
func TestRevEPendingFileComesBackWhenItsNameIsFree(t *testing.T) {
	mem.reset()
	old := []byte("delivered, then the daemon crashed")
	h := stagedAtCrash(t, old)
	newer := []byte("a new file under the same name")
	h.WriteFile(t, "x", newer)
	h.RestartYAML(t, memYAML("keep"))
	h.WaitDelivered(t, "x", sha256hex(newer))
	h.WaitIdle(t)
	pending := filepath.Join(h.Inbox, ".dropsync-pending.x")
	if !exists(pending) {
		t.Skipf("no pending file was made (inbox holds x: %v)", exists(filepath.Join(h.Inbox, "x")))
	}
	// The user takes the newer x away: the name is free.
	if err := os.Rename(filepath.Join(h.Inbox, "x"), filepath.Join(t.TempDir(), "x")); err != nil {
		t.Fatal(err)
	}
	h.WriteFile(t, "later.txt", []byte("l"))
	h.WaitDelivered(t, "later.txt", "")
	h.WaitIdle(t)
	h.RestartYAML(t, memYAML("keep"))
	h.WriteFile(t, "later2.txt", []byte("l2"))
	h.WaitDelivered(t, "later2.txt", "")
	h.WaitIdle(t)
	got, err := os.ReadFile(filepath.Join(h.Inbox, "x"))
	if err != nil || string(got) != string(old) {
		t.Fatalf("the delivered file stays hidden as .dropsync-pending.x (exists: %v) though its name x is free (read x: %v)", exists(pending), err)
	}
}
