package connections_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets/connections"
)

// TestE2ESameBaseNameInTwoFoldersDoesNotReplaceTheOther:
// Activities takes a file's base name, so a/report.pdf and b/report.pdf of
// a recursive watch meet at one file field name. Connections implements
// no targets.NameKeyer, so the daemon sees no clash: b/report.pdf, found
// "on the server by name" with on_conflict version, replaces the field
// a/report.pdf was delivered to. a/report.pdf stays recorded as delivered
// (its sha, that field) while the server holds only b's bytes: a's content
// is lost remotely and never sent again while a is unchanged. Either both
// contents must be on the server, or the second path must fail naming both
// (as sensenet, Oracle and Blueworks do).
func TestE2ESameBaseNameInTwoFoldersDoesNotReplaceTheOther(t *testing.T) {
	h, fake := startDaemon(t, "30MiB")
	shaA := h.WriteRandom(t, "a/report.pdf", 4<<10)
	h.WaitDelivered(t, "a/report.pdf", shaA)
	h.WriteRandom(t, "b/report.pdf", 8<<10)
	daemontest.Eventually(t, "b/report.pdf done or failed", func() bool {
		js, err := h.Queue().Jobs(context.Background(), "", "b/report.pdf", 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(js) > 0 && (js[0].State == queue.Done || js[0].State == queue.Failed)
	})

	held := false
	for _, fl := range fake.Fields(connections.FakeActivityID) {
		if fl.SHA256 == shaA {
			held = true
		}
	}
	st := h.WaitDelivered(t, "a/report.pdf", shaA)
	if !held {
		var names []string
		for _, fl := range fake.Fields(connections.FakeActivityID) {
			names = append(names, fl.Name+"@"+fl.ID)
		}
		t.Errorf("a/report.pdf is recorded as delivered to field %s, but no field holds its bytes any more (fields: %s): b/report.pdf replaced it",
			st.Remote.ID, strings.Join(names, ", "))
	}
}
