package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// TestConcurrentCompletionsShareCommits: completions that workers record at
// the same time are grouped into shared transactions. The WAL grows by the
// pages each commit writes, so grouped completions write far fewer frames
// than the same completions one by one (measured in the same test), and
// every one of them is recorded before Complete returns.
func TestConcurrentCompletionsShareCommits(t *testing.T) {
	const workers, each = 8, 10
	walGrowth := func(concurrent bool) int64 {
		q, dir := open(t)
		ctx := context.Background()
		var items []queue.Item
		for i := range workers * each {
			items = append(items, item(fmt.Sprintf("f%03d", i), int64(i+1)))
		}
		if _, err := q.Enqueue(ctx, items); err != nil {
			t.Fatal(err)
		}
		js, err := q.ClaimN(ctx, len(items))
		if err != nil || len(js) != len(items) {
			t.Fatalf("claimed %d, %v", len(js), err)
		}
		wal := filepath.Join(dir, queue.FileName+"-wal")
		before, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		complete := func(j *queue.Job) {
			st := &queue.FileState{FP: j.FP, SHA256: "ab", Remote: targets.Remote{ID: j.Rel}}
			if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: st}); err != nil {
				t.Error(err)
			}
		}
		if concurrent {
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for _, j := range js[w*each : (w+1)*each] {
						complete(j)
					}
				})
			}
			wg.Wait()
		} else {
			for _, j := range js {
				complete(j)
			}
		}
		for _, j := range js {
			if st, err := q.FileState(ctx, j.Watch, j.Rel); err != nil || st == nil || st.Remote.ID != j.Rel {
				t.Fatalf("%s: state %+v, %v: a completion was not recorded", j.Rel, st, err)
			}
		}
		if c, err := q.Counts(ctx); err != nil || c[queue.Done] != len(js) {
			t.Fatalf("counts %v, %v", c, err)
		}
		after, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		return after.Size() - before.Size()
	}
	seq, conc := walGrowth(false), walGrowth(true)
	t.Logf("WAL growth: %d bytes one by one, %d bytes from %d concurrent workers", seq, conc, workers)
	if conc*2 > seq {
		t.Fatalf("concurrent completions wrote %d WAL bytes, one-by-one %d: want under half (grouped commits)", conc, seq)
	}
}

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
