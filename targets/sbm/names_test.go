package sbm_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
)

// TestE2ESameBaseNameInTwoFoldersDoesNotReplaceTheOther: SBM
// takes a file's base name, so a/report.pdf and b/report.pdf of a
// recursive watch meet at one file object name. sbm implements no
// targets.NameKeyer, so the daemon sees no clash: b's NEW-ONLY is refused
// for the existing name, the object is looked up by name and updated with
// b's bytes (README: "delivered from another path with the same base
// name"). a/report.pdf stays recorded as delivered to that object, which
// no longer holds its content: a is lost on the server and not sent again
// while it is unchanged.
func TestE2ESameBaseNameInTwoFoldersDoesNotReplaceTheOther(t *testing.T) {
	e := startE2E(t, "", "on_conflict: version")
	shaA := e.h.WriteRandom(t, "a/report.pdf", 70_000)
	e.h.WaitDelivered(t, "a/report.pdf", shaA)
	e.h.WriteRandom(t, "b/report.pdf", 80_000)
	daemontest.Eventually(t, "b/report.pdf done or failed", func() bool {
		js, err := e.h.Queue().Jobs(context.Background(), "", "b/report.pdf", 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) > 0 && (js[0].State == queue.Done || js[0].State == queue.Failed)
	})
	st := e.h.WaitDelivered(t, "a/report.pdf", shaA)
	for _, o := range e.files() {
		if o.SHA256 == shaA {
			return
		}
	}
	t.Errorf("a/report.pdf is recorded as delivered to object %s, but no object holds its bytes any more (objects %+v): b/report.pdf replaced it", st.Remote.ID, e.files())
}

// Linux file names
// are bytes. The update request is JSON (wire.go marshal, encoding/json),
// which writes an invalid UTF-8 byte as U+FFFD, so "scan\xff.pdf" is
// stored as "scan\uFFFD.pdf". The first upload succeeds but the adapter
// cannot find the object it made under the local name ("did not list its
// file object; no id recorded"); the next version of the file is sent as
// NEW-ONLY, refused because "scan\uFFFD.pdf" exists, and looked up under
// the raw name, which the server never has: it fails permanently, and no
// change of that file is ever delivered.
func TestE2ENameThatIsNotUTF8CanBeVersioned(t *testing.T) {
	e := startE2E(t, "", "on_conflict: version")
	const name = "scan\xff.pdf"
	e.h.WaitDelivered(t, name, e.h.WriteRandom(t, name, 70_000))
	sha2 := e.h.WriteRandom(t, name, 80_000)
	daemontest.Eventually(t, "the second version done or failed", func() bool {
		js, err := e.h.Queue().Jobs(context.Background(), "", name, 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) > 0 && js[0].FP.Size == 80_000 && (js[0].State == queue.Done || js[0].State == queue.Failed)
	})
	js, err := e.h.Queue().Jobs(context.Background(), "", name, 1)
	if err != nil {
		t.Fatal(err)
	}
	if js[0].State == queue.Failed {
		t.Fatalf("the second version of %q failed: %s (objects %+v)", name, js[0].LastError, e.files())
	}
	e.h.WaitDelivered(t, name, sha2)
}
