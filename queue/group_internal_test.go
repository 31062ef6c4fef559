package queue

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/targets"
)

// TestConcurrentCompletionsShareCommits: completions recorded while the
// database is busy (here: another connection holds the write lock) wait
// together and are committed in one transaction. The WAL grows by the pages
// each commit writes, so they write far fewer frames than the same
// completions one by one (measured in the same test), and each is recorded
// before its Complete returns.
func TestConcurrentCompletionsShareCommits(t *testing.T) {
	const n = 40
	walGrowth := func(concurrent bool) int64 {
		dir := t.TempDir()
		ctx := context.Background()
		q, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		var items []Item
		for i := range n {
			items = append(items, Item{Watch: "/w", Rel: fmt.Sprintf("f%03d", i), Target: "t", FP: fsid.Fingerprint{Size: int64(i + 1)}})
		}
		if _, err := q.Enqueue(ctx, items); err != nil {
			t.Fatal(err)
		}
		js, err := q.ClaimN(ctx, n)
		if err != nil || len(js) != n {
			t.Fatalf("claimed %d, %v", len(js), err)
		}
		wal := filepath.Join(dir, FileName+"-wal")
		before, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		complete := func(j *Job) {
			st := &FileState{FP: j.FP, SHA256: "ab", Remote: targets.Remote{ID: j.Rel}}
			if _, err := q.Complete(ctx, j, Outcome{Delivered: st}); err != nil {
				t.Error(err)
			}
			if st, err := q.FileState(ctx, j.Watch, j.Rel); err != nil || st == nil || st.Remote.ID != j.Rel {
				t.Errorf("%s: state %+v, %v after Complete returned", j.Rel, st, err)
			}
		}
		if concurrent {
			other, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, FileName)+"?_txlock=immediate")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			lock, err := other.Begin() // holds the write lock
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			base := taken(q)
			for _, j := range js {
				wg.Go(func() { complete(j) })
			}
			waitArrived(t, q, base, n) // the leader's round waits for the lock; the rest queue behind it
			lock.Rollback()
			wg.Wait()
		} else {
			for _, j := range js {
				complete(j)
			}
		}
		if c, err := q.Counts(ctx); err != nil || c[Done] != n {
			t.Fatalf("counts %v, %v", c, err)
		}
		after, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		return after.Size() - before.Size()
	}
	seq, conc := walGrowth(false), walGrowth(true)
	t.Logf("WAL growth: %d bytes one by one, %d bytes grouped", seq, conc)
	if conc*4 > seq {
		t.Fatalf("grouped completions wrote %d WAL bytes, one by one %d: want under a quarter", conc, seq)
	}
}

// taken is how many operations commit rounds have taken so far.
func taken(q *Queue) int64 { _, ops := q.CommitRounds(); return ops }

// waitArrived polls until n operations arrived after base (taken's): in a
// round being committed, or queued for the next.
func waitArrived(t *testing.T, q *Queue, base int64, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		q.group.mu.Lock()
		queued := int(q.group.taken-base) + len(q.group.queued)
		q.group.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d completions queued", queued, n)
		}
		<-tick.C
	}
}

// TestFailedCompletionDoesNotUndoOthers: a completion that cannot be
// recorded (its job is no longer leased) fails alone; the others of its
// round are recorded.
func TestFailedCompletionDoesNotUndoOthers(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	q, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var items []Item
	for i := range 4 {
		items = append(items, Item{Watch: "/w", Rel: fmt.Sprintf("f%d", i), Target: "t", FP: fsid.Fingerprint{Size: int64(i + 1)}})
	}
	q.Enqueue(ctx, items)
	js, err := q.ClaimN(ctx, 4)
	if err != nil || len(js) != 4 {
		t.Fatalf("claimed %d, %v", len(js), err)
	}
	if _, err := q.Complete(ctx, js[0], Outcome{}); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, FileName)+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 4)
	base := taken(q)
	var wg sync.WaitGroup
	for i, j := range js {
		wg.Go(func() { _, errs[i] = q.Complete(ctx, j, Outcome{Delivered: &FileState{FP: j.FP, SHA256: "ab"}}) })
	}
	waitArrived(t, q, base, 4)
	lock.Rollback()
	wg.Wait()
	if errs[0] == nil {
		t.Fatal("completing a job twice succeeded")
	}
	for i, j := range js[1:] {
		if st, _ := q.FileState(ctx, j.Watch, j.Rel); errs[i+1] != nil || st == nil {
			t.Fatalf("%s: %v, state %+v: want recorded despite the failure beside it", j.Rel, errs[i+1], st)
		}
	}
}
