package sbm_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
)

// TestE2ETwoNonUTF8NamesStoredAlikeDoNotReplaceEachOther: a Linux file
// name is bytes, and the request is JSON, which writes every byte that is
// not UTF-8 as U+FFFD: "scan\xff.pdf" and "scan\xfe.pdf" are two local
// files that the server stores under the one name "scan\uFFFD.pdf". The
// README ("Remote name clashes") promises that two local paths meeting at
// one remote name are detected (the second fails naming both, or is
// renamed) and never replace each other's content. sbm's NameKey keys the
// raw name, so the daemon sees no clash; the second file's NEW-ONLY is
// refused, the object is looked up by its stored name and updated with the
// second file's bytes: the first file's content is silently gone while it
// stays recorded as delivered.
func TestE2ETwoNonUTF8NamesStoredAlikeDoNotReplaceEachOther(t *testing.T) {
	e := startE2E(t, "", "on_conflict: version")
	const first, second = "scan\xff.pdf", "scan\xfe.pdf"
	shaA := e.h.WriteRandom(t, first, 70_000)
	e.h.WaitDelivered(t, first, shaA)
	e.h.WriteRandom(t, second, 80_000)
	daemontest.Eventually(t, "the second file done or failed", func() bool {
		js, err := e.h.Queue().Jobs(context.Background(), "", second, 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) > 0 && (js[0].State == queue.Done || js[0].State == queue.Failed)
	})
	st := e.h.WaitDelivered(t, first, shaA)
	for _, o := range e.files() {
		if o.SHA256 == shaA {
			return
		}
	}
	t.Errorf("%q is recorded as delivered to object %s, but no object holds its bytes any more (objects %+v): %q replaced it without a clash being reported",
		first, st.Remote.ID, e.files(), second)
}
