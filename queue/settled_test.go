package queue_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// Settled, which keeps a folder's ready marker while a file of its
// batch has had no outcome, compares the delivery record by size, mtime and
// inode only, though the fingerprint the queue enqueues and delivers by has
// the change time too. A file of the batch rewritten in place with its size
// and mtime put back (cp --preserve=timestamps over it, rsync --inplace -t)
// is queued and still to be sent, yet Settled calls it delivered: the
// marker goes while it waits in the watcher's settle, and it is then held
// for want of a marker and never delivered.
func TestSettledTakesTheChangeTime(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	it := item("sub/a.pdf", 10)
	it.FP.CTime = 100
	q.Enqueue(ctx, []queue.Item{it})
	j := claim(t, q)
	if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "ab", Remote: targets.Remote{ID: "r1"}}}); err != nil {
		t.Fatal(err)
	}
	now := it.FP
	now.CTime = 200 // rewritten in place; size and mtime put back
	done, err := q.Settled(ctx, "/w", "sub/a.pdf", now)
	if err != nil {
		t.Fatal(err)
	}
	if done {
		t.Fatal("Settled says a file rewritten since its delivery (new change time, same size, mtime and inode) is delivered as it is: its folder's ready marker goes before it is sent")
	}
}
