package daemon_test

import (
	"context"
	"testing"
)

// The daemon hides its own files in a watch under the prefix ".dropsync-"
// (fileops.go stagePrefix); items() (enqueue.go) dropped every event
// whose base name started with it, for any file: a user's own
// ".dropsync-notes.pdf" is never uploaded, never failed, never logged. It
// is lost to the target with no line saying so. Only the names the daemon
// makes (".dropsync-stage.<name>", its copies) may be hidden; anything
// else must be delivered or fail with a message.
func TestUserFileWithTheDaemonsPrefixIsNotSilentlyDropped(t *testing.T) {
	h, fake := startSensenet(t, "", "")
	sha := h.WriteRandom(t, ".dropsync-notes.pdf", 100)
	other := h.WriteRandom(t, "later.pdf", 100) // written after, so settled no earlier
	h.WaitDelivered(t, "later.pdf", other)
	h.WaitIdle(t)
	st, err := h.Queue().FileState(context.Background(), h.WatchPath(), ".dropsync-notes.pdf")
	if err != nil {
		t.Fatal(err)
	}
	js, err := h.Queue().Jobs(context.Background(), "", ".dropsync-notes.pdf", 1)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil && len(js) == 0 {
		t.Errorf(".dropsync-notes.pdf (sha %s) was neither delivered nor queued nor failed: the daemon's own prefix hid a user's file (server holds %v)", sha, fake.Files("/Root/Content/Documents"))
	}
}
