package connections_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/connections"
	"github.com/dropsync/dropsync/targets/fakehttp"
)

// TestE2ENamesListedAlikeDoNotReplaceEachOther: a Linux file name is
// bytes. "scan\xff.pdf" is not UTF-8; the server's Atom listing (XML,
// which cannot carry that byte) names its field "scan\uFFFD.pdf". A second
// local file that really is called "scan\uFFFD.pdf" (valid UTF-8) is
// another file, but it meets the first one's field by name. The README
// ("Remote name clashes", and "The clash rule ... applies to all three"
// flat targets) promises that the second path fails with both paths named,
// or is renamed, and never replaces the first's content. connections'
// NameKey keys the raw local name, so the daemon sees no clash; Prepare
// finds the first file's field by its listed name and on_conflict: version
// replaces it with the second file's bytes. The first file stays recorded
// as delivered while the server no longer holds its content.
func TestE2ENamesListedAlikeDoNotReplaceEachOther(t *testing.T) {
	h, fake := startDaemon(t, "30MiB")
	const first, second = "scan\xff.pdf", "scan\uFFFD.pdf"
	shaA := h.WriteRandom(t, first, 70_000)
	h.WaitDelivered(t, first, shaA)
	h.WriteRandom(t, second, 80_000)
	daemontest.Eventually(t, "the second file done or failed", func() bool {
		js, err := h.Queue().Jobs(context.Background(), "", second, 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) > 0 && (js[0].State == queue.Done || js[0].State == queue.Failed)
	})
	st := h.WaitDelivered(t, first, shaA)
	for _, fl := range fake.Fields(connections.FakeActivityID) {
		if fl.SHA256 == shaA {
			return
		}
	}
	t.Errorf("%q is recorded as delivered to field %s, but no field holds its bytes any more (fields %+v): %q replaced it without a clash being reported",
		first, st.Remote.ID, fake.Fields(connections.FakeActivityID), second)
}

// TestE2ELostAnswerOfANonUTF8NameAddsNoSecondField: the server stores a
// new file field but its answer is lost (the connection resets after the
// commit). Landed then looks for a field named as the local file
// (landed.go: fl.Name == f.Name()); the listing names the field of
// "scan\xff.pdf" "scan\uFFFD.pdf" (XML cannot carry the byte), so the
// upload is never recognised as landed, the file is sent again and the
// activity ends up with two fields for one file. An ASCII name in the same
// situation leaves one field.
func TestE2ELostAnswerOfANonUTF8NameAddsNoSecondField(t *testing.T) {
	for _, name := range []string{"scan.pdf", "scan\xff.pdf"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			fake := connections.NewFake()
			faults := fakehttp.Wrap(fake)
			srv := httptest.NewServer(faults)
			t.Cleanup(srv.Close)
			var lost atomic.Bool
			faults.Set(func(r *http.Request) fakehttp.Action {
				if r.Method == http.MethodPost && lost.CompareAndSwap(false, true) {
					return fakehttp.Action{AfterProcessing: true}
				}
				return fakehttp.Action{}
			})
			h := daemontest.Start(t, fake.Setup(srv.URL).Target+"chunk_threshold: 30MiB\n", e2eWatch)
			sha := h.WriteRandom(t, name, 70_000)
			h.WaitDelivered(t, name, sha)
			h.WaitIdle(t)
			if !lost.Load() {
				t.Fatal("no answer was lost")
			}
			if fields := fake.Fields(connections.FakeActivityID); len(fields) != 1 {
				t.Errorf("after one lost answer the activity holds %d fields for one file, want 1: %+v", len(fields), fields)
			}
		})
	}
}
