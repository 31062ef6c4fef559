package queue_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// The health probe's job is claimed like any other: with what its path was
// last delivered as. A probe job of a delivered file read no delivery
// state, so the file went out as new (not as the next version of its
// remote object), and its ambiguous attempts were not known either.
func TestProbeJobCarriesItsDeliveryState(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, []queue.Item{item("a.txt", 1)}); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "x", Remote: targets.Remote{ID: "r1", Version: "1.0"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, []queue.Item{item("a.txt", 2)}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetTargetHealth(ctx, queue.TargetHealth{Target: "t", State: queue.TargetDown, Since: time.Now(), Reason: "HTTP 503"}); err != nil {
		t.Fatal(err)
	}
	probe, err := q.ClaimTarget(ctx, "t")
	if err != nil || probe == nil {
		t.Fatalf("probe claim %+v, %v", probe, err)
	}
	if probe.Prev == nil || probe.Prev.Remote.ID != "r1" {
		t.Fatalf("probe job's delivery state %+v, want the remote r1 it was delivered to", probe.Prev)
	}
	if _, err := q.CountAttempt(ctx, probe, probe.FP, "ambiguous"); err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(ctx, probe, time.Time{}, "no answer", false); err != nil {
		t.Fatal(err)
	}
	again, err := q.ClaimTarget(ctx, "t")
	if err != nil || again == nil {
		t.Fatalf("second probe claim %+v, %v", again, err)
	}
	if n := again.CountedFor("ambiguous", again.FP); n != 1 {
		t.Fatalf("the probe job's ambiguous attempts read with its lease: %d, want 1", n)
	}
}

// A worker records its job's outcome and takes its next job in the same
// commit, in the claim order, and a completion that claims nothing still
// records its outcome.
func TestCompletionClaimsTheWorkersNextJob(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	var items []queue.Item
	for i := range 3 {
		it := item(fmt.Sprintf("%c.txt", 'a'+i), int64(i+1))
		it.Order = "name"
		items = append(items, it)
	}
	if _, err := q.Enqueue(ctx, items); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	var seq []string
	for j != nil {
		seq = append(seq, j.Rel)
		_, next, err := q.CompleteNext(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "x"}}, queue.Want{Now: 1})
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := q.FileState(ctx, "/w", j.Rel); s == nil {
			t.Fatalf("%s: outcome not recorded", j.Rel)
		}
		j = nil
		if len(next) == 1 {
			j = next[0]
			if j.Prev != nil || j.State != queue.Leased {
				t.Fatalf("next job %+v: want leased, never delivered", j)
			}
		}
	}
	if got := fmt.Sprint(seq); got != "[a.txt b.txt c.txt]" {
		t.Fatalf("worker ran %s", got)
	}
	c, err := q.Counts(ctx)
	if err != nil || c[queue.Done] != 3 || c[queue.Pending]+c[queue.Leased] != 0 {
		t.Fatalf("counts %v, %v", c, err)
	}
}

// The daemon's connection never checkpoints inside a commit (a
// checkpoint's fsyncs held every worker up); its checkpointer does, in the
// background, and keeps the write-ahead log bounded under a steady stream
// of commits.
func TestCommitsLeaveCheckpointsToTheCheckpointer(t *testing.T) {
	q, dir := open(t)
	ctx := context.Background()
	if n, err := q.AutoCheckpoint(ctx); err != nil || n != 0 {
		t.Fatalf("the daemon's connection checkpoints every %d pages (%v); want never", n, err)
	}
	const files = 6000
	for k := 0; k < files; k += 100 {
		var items []queue.Item
		for i := k; i < k+100; i++ {
			items = append(items, queue.Item{Watch: "/w", Rel: fmt.Sprintf("d%02d/f%05d", i%37, i), Target: "t", FP: fsid.Fingerprint{Size: int64(i + 1), ModTime: 1, Inode: uint64(i + 1)}})
		}
		if _, err := q.Enqueue(ctx, items); err != nil {
			t.Fatal(err)
		}
		for {
			j := claim(t, q)
			if j == nil {
				break
			}
			if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: fmt.Sprintf("%064d", j.ID), Remote: targets.Remote{ID: j.Rel}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fi, err := os.Stat(filepath.Join(dir, queue.FileName+"-wal"))
	if err != nil {
		t.Fatal(err)
	}
	// Without checkpoints, ~12,000 commits of several pages each make a
	// log of over 200 MiB; the checkpointer empties it at 32 MiB, and a
	// writer that outruns it waits at 64 MiB (plus what 16 commits add).
	if fi.Size() > 96<<20 {
		t.Fatalf("write-ahead log of %d MiB after %d deliveries: not checkpointed", fi.Size()>>20, files)
	}
	if c, err := q.Counts(ctx); err != nil || c[queue.Done] != files {
		t.Fatalf("counts %v, %v", c, err)
	}
}

// A reader in another program that holds an old snapshot keeps the log
// from being emptied; the writer then does not wait for a checkpoint that
// cannot finish at every look (a second each time), and is told once.
func TestHeldLogDoesNotStallEveryCommit(t *testing.T) {
	q, dir := open(t)
	ctx := context.Background()
	other, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, queue.FileName)+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := q.Enqueue(ctx, []queue.Item{item("first", 1)}); err != nil {
		t.Fatal(err)
	}
	reader, err := other.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Rollback()
	var n int
	if err := reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs`).Scan(&n); err != nil { // the snapshot is taken
		t.Fatal(err)
	}
	// Fill the log past the writers' bound.
	pad := strings.Repeat("x", 3000)
	for k := 0; ; k++ {
		fi, err := os.Stat(filepath.Join(dir, queue.FileName+"-wal"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 66<<20 {
			break
		}
		var items []queue.Item
		for i := range 200 {
			items = append(items, queue.Item{Watch: "/w", Rel: fmt.Sprintf("%s/%d/%d", pad, k, i), Target: "t", FP: fsid.Fingerprint{Size: 1, ModTime: 1, Inode: uint64(i + 1)}})
		}
		if _, err := q.Enqueue(ctx, items); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := range 160 { // ten looks at the log's size
		if _, err := q.Enqueue(ctx, []queue.Item{item(fmt.Sprintf("more-%d", i), 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("160 commits with the log held by a reader took %v: each look waited for a checkpoint that cannot finish", d)
	}
}

// A lease reads the job with everything its worker needs in one statement:
// the delivery state of its path, every field as FileState returns it, and
// its attempts counted per kind; a job of a path never delivered, and
// without counted attempts, has neither.
func TestLeaseReadsDeliveryStateAndEveryCountedKind(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	a := item("a.txt", 1)
	a.FP = fsid.Fingerprint{Size: 1, ModTime: 2, Inode: 3, Dev: 4, CTime: 5}
	if _, err := q.Enqueue(ctx, []queue.Item{a, item("b.txt", 1)}); err != nil {
		t.Fatal(err)
	}
	js, err := q.ClaimN(ctx, 2)
	if err != nil || len(js) != 2 {
		t.Fatalf("claimed %d, %v", len(js), err)
	}
	for _, j := range js {
		if j.Prev != nil || j.Counted != nil || j.State != queue.Leased || j.Attempts != 1 {
			t.Fatalf("new job %+v: want leased, first attempt, never delivered, nothing counted", j)
		}
	}
	j := js[0]
	st := &queue.FileState{FP: j.FP, SHA256: "ab", Remote: targets.Remote{ID: "r1", Version: "v2", Name: "a.txt", Extra: map[string]string{"uuid": "u"}}}
	if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: st, Intent: "move", Recheck: time.Now()}); err != nil {
		t.Fatal(err)
	}
	want, err := q.FileState(ctx, "/w", "a.txt")
	if err != nil || want == nil {
		t.Fatalf("file state %+v, %v", want, err)
	}
	again := claim(t, q)
	if again == nil || again.ID != j.ID {
		t.Fatalf("claimed %+v, want job %d again (its after_upload recheck)", again, j.ID)
	}
	for _, class := range []string{"ambiguous", "FAILED", "FAILED"} {
		if _, err := q.CountAttempt(ctx, again, again.FP, class); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Retry(ctx, again, time.Time{}, "later", true); err != nil {
		t.Fatal(err)
	}
	third := claim(t, q)
	if third == nil || third.ID != j.ID {
		t.Fatalf("claimed %+v, want job %d", third, j.ID)
	}
	if fmt.Sprint(*third.Prev) != fmt.Sprint(*want) || third.Prev.FP != a.FP {
		t.Errorf("delivery state read with the lease:\n%+v\nwant\n%+v", *third.Prev, *want)
	}
	if len(third.Counted) != 2 || third.CountedFor("ambiguous", a.FP) != 1 || third.CountedFor("FAILED", a.FP) != 2 {
		t.Errorf("counted attempts read with the lease %+v, want ambiguous 1 and FAILED 2", third.Counted)
	}
	if third.Watch != "/w" || third.Rel != "a.txt" || third.FP != a.FP || third.State != queue.Leased || third.StartedAt.IsZero() {
		t.Errorf("job read with the lease %+v", third)
	}
}
