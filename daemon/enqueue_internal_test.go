package daemon

import (
	"slices"
	"testing"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
)

// Held items keep one item per path and kind, the latest event in the
// place of the first, within a batch and across batches.
func TestHeldItemsMerge(t *testing.T) {
	it := func(rel string, size int64, gone, dir bool) queue.Item {
		return queue.Item{Watch: "/w", Rel: rel, FP: fsid.Fingerprint{Size: size}, Gone: gone, Dir: dir}
	}
	var h heldItems
	h.add([]queue.Item{it("a", 1, false, false), it("b", 1, false, false), it("a", 2, true, false), it("c", 1, true, true)})
	h.add([]queue.Item{it("b", 2, false, false), it("c", 3, false, false), it("d", 1, false, false), it("c", 4, false, false)})
	h.add(nil)
	h.add([]queue.Item{it("d", 2, false, false)})
	want := []queue.Item{it("a", 2, true, false), it("b", 2, false, false), it("c", 1, true, true), it("c", 4, false, false), it("d", 2, false, false)}
	if !slices.Equal(h.items, want) {
		t.Fatalf("held %+v\nwant %+v", h.items, want)
	}
}
