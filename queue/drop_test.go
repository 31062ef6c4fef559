package queue_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/queue"
)

// Drop (a job whose watch a reload removed) deletes the leased job
// whatever was merged into it while it was leased. When a second reload
// adds the watch back between the runner's acquire() (which saw the watch
// gone) and Drop's commit, the new watcher's start-up scan is merged into
// that leased job (marked dirty, or nothing at all for an unchanged file)
// and Drop then deletes it: the file is not queued again until the next
// periodic reconcile (default 1h), though its watch is configured.
func TestDropKeepsAnEventMergedWhileLeased(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, []queue.Item{item("a", 5)}); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	// The watch is back: its scan finds the file (changed meanwhile).
	if _, err := q.Enqueue(ctx, []queue.Item{item("a", 6)}); err != nil {
		t.Fatal(err)
	}
	if err := q.Drop(ctx, j); err != nil {
		t.Fatal(err)
	}
	c, err := q.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c[queue.Pending] != 1 {
		t.Fatalf("counts %v: the event merged into the leased job while it was leased was dropped with it", c)
	}
}
