package queue_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// TestClaimCarriesDeliveryState: a claimed job holds what its path was last
// delivered as, read in the claim's transaction.
func TestClaimCarriesDeliveryState(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	q.Enqueue(ctx, []queue.Item{item("a", 1)})
	j := claim(t, q)
	if j.Prev != nil {
		t.Fatalf("never delivered, but Prev = %+v", j.Prev)
	}
	if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "ab", Remote: targets.Remote{ID: "r1"}}}); err != nil {
		t.Fatal(err)
	}
	q.Enqueue(ctx, []queue.Item{item("a", 2)})
	j = claim(t, q)
	if j.Prev == nil || j.Prev.Remote.ID != "r1" || j.Prev.SHA256 != "ab" || j.Prev.FP.Size != 1 {
		t.Fatalf("Prev = %+v, want the delivery of size 1 as r1", j.Prev)
	}
}
