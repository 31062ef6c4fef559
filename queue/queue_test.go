package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

func open(t testing.TB) (*queue.Queue, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	q, err := queue.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q, dir
}

func item(rel string, size int64) queue.Item {
	return queue.Item{Watch: "/w", Rel: rel, Target: "t", FP: fsid.Fingerprint{Size: size, ModTime: 1, Inode: 7}}
}

func claim(t testing.TB, q *queue.Queue) *queue.Job {
	t.Helper()
	j, err := q.Claim(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// claimWithAmbiguousSend enqueues a.txt, claims its job and counts one
// ambiguous send against it.
func claimWithAmbiguousSend(t testing.TB, q *queue.Queue) *queue.Job {
	t.Helper()
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, []queue.Item{item("a.txt", 1)}); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	if _, err := q.CountAttempt(ctx, j, j.FP, "ambiguous"); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestFilesAreCreatedPrivate(t *testing.T) {
	_, dir := open(t)
	for _, p := range []string{dir, filepath.Join(dir, queue.FileName)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %o, want no group/other access", p, perm)
		}
	}
}

func TestEventsCoalesceAndPathIsNeverLeasedTwice(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	if n, err := q.Enqueue(ctx, []queue.Item{item("a", 1), item("a", 2), item("b", 1)}); err != nil || n != 3 {
		t.Fatalf("enqueue: %d, %v", n, err)
	}
	c, _ := q.Counts(ctx)
	if c[queue.Pending] != 2 {
		t.Fatalf("pending = %d, want 2 (a coalesced)", c[queue.Pending])
	}
	j := claim(t, q)
	if j.Rel != "a" || j.FP.Size != 2 {
		t.Fatalf("claimed %+v, want a with the latest fingerprint", j)
	}
	// An event while a is in flight marks it to run again; no second job.
	q.Enqueue(ctx, []queue.Item{item("a", 3)})
	if j2 := claim(t, q); j2.Rel != "b" {
		t.Fatalf("claimed %s, want b", j2.Rel)
	}
	if j3 := claim(t, q); j3 != nil {
		t.Fatalf("claimed %+v while a is leased", j3)
	}
	requeued, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "x"}})
	if err != nil || !requeued {
		t.Fatalf("complete: requeued=%v err=%v, want requeued", requeued, err)
	}
	if j4 := claim(t, q); j4 == nil || j4.Rel != "a" {
		t.Fatalf("a was not re-queued: %+v", j4)
	}
}

func TestUnchangedFilesAreNotQueuedAgain(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	q.Enqueue(ctx, []queue.Item{item("a", 5)})
	j := claim(t, q)
	remote := targets.Remote{ID: "42", Version: "2.0", Name: "a", Extra: map[string]string{"uuid": "u-1"}}
	if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "abc", Remote: remote}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Enqueue(ctx, []queue.Item{item("a", 5)}); n != 0 {
		t.Fatal("unchanged file queued again")
	}
	st, err := q.FileState(ctx, "/w", "a")
	if err != nil || st.SHA256 != "abc" || st.Remote.Extra["uuid"] != "u-1" || st.Remote.Version != "2.0" {
		t.Fatalf("state %+v, %v", st, err)
	}
	if n, _ := q.Enqueue(ctx, []queue.Item{item("a", 6)}); n != 1 {
		t.Fatal("changed file not queued")
	}
}

func TestFailureIsReportedOnceUntilTheFileChanges(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	q.Enqueue(ctx, []queue.Item{item("bad", 5)})
	j := claim(t, q)
	if _, err := q.Fail(ctx, j, "sensenet: upload: Access denied (HTTP 403)"); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Enqueue(ctx, []queue.Item{item("bad", 5)}); n != 0 {
		t.Fatal("same failed content queued again by a rescan")
	}
	failed, _ := q.Jobs(ctx, queue.Failed, "", 0)
	if len(failed) != 1 || failed[0].LastError != "sensenet: upload: Access denied (HTTP 403)" {
		t.Fatalf("failed list %+v", failed)
	}
	if n, _ := q.RetryFailed(ctx); n != 1 {
		t.Fatalf("retry re-queued %d", n)
	}
	if j := claim(t, q); j == nil || j.Attempts != 1 {
		t.Fatalf("retried job %+v, want a fresh attempt count", j)
	}
}

func TestLeasesReturnToPendingAfterACrash(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	ctx := context.Background()
	q, err := queue.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	q.Enqueue(ctx, []queue.Item{item("a", 1)})
	claim(t, q)
	q.Close() // the process dies with the lease held
	q, err = queue.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if j := claim(t, q); j == nil || j.Rel != "a" {
		t.Fatalf("lease not recovered: %+v", j)
	}
}

func TestBackoffAndPausesGateClaims(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	q.SetClock(func() time.Time { return now })
	q.Enqueue(ctx, []queue.Item{item("a", 1), {Watch: "/w", Rel: "b", Target: "other"}})
	j := claim(t, q)
	q.Retry(ctx, j, now.Add(time.Minute), "HTTP 503", false)
	if err := q.PauseTarget(ctx, "other", now.Add(2*time.Minute), "HTTP 429"); err != nil {
		t.Fatal(err)
	}
	if j := claim(t, q); j != nil {
		t.Fatalf("claimed %s before its time", j.Rel)
	}
	next, ok, _ := q.NextReady(ctx)
	if !ok || !next.Equal(now.Add(time.Minute)) {
		t.Fatalf("next ready %v, want in 1m", next)
	}
	now = now.Add(time.Minute)
	if j := claim(t, q); j == nil || j.Rel != "a" || j.Attempts != 2 {
		t.Fatalf("claimed %+v, want a on attempt 2", j)
	}
	if j := claim(t, q); j != nil {
		t.Fatal("paused target claimed")
	}
	ps, _ := q.Pauses(ctx)
	if len(ps) != 1 || ps[0].Reason != "HTTP 429" {
		t.Fatalf("pauses %+v", ps)
	}
	now = now.Add(time.Minute)
	if j := claim(t, q); j == nil || j.Rel != "b" {
		t.Fatalf("claimed %+v after the pause", j)
	}
}

func TestPausesSurviveRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	ctx := context.Background()
	q, _ := queue.Open(ctx, dir)
	until := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	q.PauseTarget(ctx, "t", until, "Retry-After: 3600")
	q.Close()
	q, _ = queue.Open(ctx, dir)
	defer q.Close()
	ps, _ := q.Pauses(ctx)
	if len(ps) != 1 || !ps[0].Until.Equal(until) {
		t.Fatalf("pauses after restart %+v", ps)
	}
}

func TestDeletionOfUndeliveredPathIsDropped(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	if n, _ := q.Enqueue(ctx, []queue.Item{{Watch: "/w", Rel: "x", Target: "t", Gone: true}}); n != 0 {
		t.Fatal("deletion of a never-delivered file queued")
	}
}

func TestSessionsRoundTrip(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	s := q.Sessions("/w", "big", "t")
	want := &targets.Session{Token: "1*2|3|4|5*True*True", Plan: targets.Plan{Name: "big", Parent: "/Root/x"}, Offset: 3 << 20, ChunkSize: 1 << 20, HashState: []byte{1, 2, 3}, Size: 10 << 20, ModTime: 99}
	if err := s.Save(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil || got.Token != want.Token || got.Plan.Parent != "/Root/x" || got.Offset != want.Offset || string(got.HashState) != string(want.HashState) {
		t.Fatalf("loaded %+v, %v", got, err)
	}
	if other, _ := q.Sessions("/w", "big", "elsewhere").Load(ctx); other != nil {
		t.Fatal("session leaked to another target")
	}
	q.Enqueue(ctx, []queue.Item{item("big", 1)})
	j := claim(t, q)
	q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{SHA256: "s"}})
	if got, _ := s.Load(ctx); got != nil {
		t.Fatal("session survives completion")
	}
}

// A session left by an earlier run (a large file's chunked upload cut
// off, the file since replaced by a small one) goes with the completion of
// the path's job in the next run too: completions skip the session's
// removal only while no session can exist.
func TestSessionOfAnEarlierRunGoesWithCompletion(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	q, err := queue.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Sessions("/w", "big", "t").Save(ctx, &targets.Session{Token: "tok", Size: 10 << 20, HashState: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if q, err = queue.Open(ctx, dir); err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.Enqueue(ctx, []queue.Item{item("small", 1), item("big", 1)})
	for range 2 {
		j := claim(t, q)
		if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{SHA256: "s"}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := q.Sessions("/w", "big", "t").Load(ctx); got != nil {
		t.Fatal("the earlier run's session survives the completion")
	}
}

// BenchmarkEnqueueClaimComplete measures the queue's full cycle per job.
func BenchmarkEnqueueClaimComplete(b *testing.B) {
	q, _ := open(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rel := fmt.Sprintf("f%d", i)
		if _, err := q.Enqueue(ctx, []queue.Item{item(rel, 1)}); err != nil {
			b.Fatal(err)
		}
		j := claim(b, q)
		if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "x"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkEnqueueBurst measures enqueueing 1000 events in one transaction.
func BenchmarkEnqueueBurst(b *testing.B) {
	q, _ := open(b)
	ctx := context.Background()
	items := make([]queue.Item, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for k := range items {
			items[k] = item(fmt.Sprintf("b%d/f%d", i, k), 1)
		}
		if _, err := q.Enqueue(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(items))/b.Elapsed().Seconds(), "events/s")
}

func TestRescanOfAnUnchangedFileInFlightDoesNotRunItAgain(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	q.Enqueue(ctx, []queue.Item{item("a", 5)})
	j := claim(t, q)
	q.Enqueue(ctx, []queue.Item{item("a", 5)}) // a reconcile scan sees the same file
	requeued, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "s"}})
	if err != nil || requeued {
		t.Fatalf("requeued=%v err=%v: the same content must not run again", requeued, err)
	}
}

func TestChangedFileDropsTheOldBackoff(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	q.SetClock(func() time.Time { return now })
	q.Enqueue(ctx, []queue.Item{item("a", 5)})
	j := claim(t, q)
	q.Retry(ctx, j, now.Add(10*time.Minute), "HTTP 500", false)
	q.Enqueue(ctx, []queue.Item{item("a", 6)}) // the user fixed the file
	if j := claim(t, q); j == nil || j.Attempts != 1 {
		t.Fatalf("claimed %+v: the new content should go now, as a first attempt", j)
	}
}

func TestDeliveryToAnotherTargetDoesNotCount(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	q.Enqueue(ctx, []queue.Item{item("a", 5)})
	j := claim(t, q)
	q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "s"}})
	moved := item("a", 5)
	moved.Target = "new-target"
	if n, _ := q.Enqueue(ctx, []queue.Item{moved}); n != 1 {
		t.Fatal("a file delivered to the old target was not queued for the watch's new target")
	}
}

// A job that ends changes only what its outcome says: a failed job keeps
// its attempts and records the server's words; a job whose file changed
// while it was in flight goes back to pending with a fresh start (no
// attempts, no wait), once; a job no longer leased cannot end again.
func TestFinishedJobsRecordTheirOutcome(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, []queue.Item{item("a", 1), item("b", 1)}); err != nil {
		t.Fatal(err)
	}
	a, b := claim(t, q), claim(t, q)
	if err := q.Retry(ctx, a, time.Now().Add(-time.Second), "HTTP 503", false); err != nil {
		t.Fatal(err)
	}
	if a = claim(t, q); a == nil || a.Rel != "a" || a.Attempts != 2 {
		t.Fatalf("claimed %+v, want a at its second attempt", a)
	}
	if requeued, err := q.Fail(ctx, a, "HTTP 400 bad name"); err != nil || requeued {
		t.Fatalf("fail: requeued=%v, %v", requeued, err)
	}
	if _, err := q.Fail(ctx, a, "again"); err == nil {
		t.Fatal("a job failed twice")
	}
	if _, err := q.Enqueue(ctx, []queue.Item{item("b", 2)}); err != nil { // b changes in flight
		t.Fatal(err)
	}
	if requeued, err := q.Fail(ctx, b, "HTTP 400"); err != nil || !requeued {
		t.Fatalf("fail of a changed file: requeued=%v, %v; want requeued", requeued, err)
	}
	js, err := q.Jobs(ctx, "", "", 0)
	if err != nil || len(js) != 2 {
		t.Fatalf("jobs %v, %v", js, err)
	}
	for _, j := range js {
		switch j.Rel {
		case "a":
			if j.State != queue.Failed || j.Attempts != 2 || j.LastError != "HTTP 400 bad name" {
				t.Errorf("failed job %+v", j)
			}
		case "b":
			if j.State != queue.Pending || j.Attempts != 0 || !j.NotBefore.IsZero() || j.LastError != "HTTP 400" || j.FP.Size != 2 {
				t.Errorf("re-queued job %+v: want pending, no attempts, due at once, the new content", j)
			}
		}
	}
	b = claim(t, q)
	if requeued, err := q.Complete(ctx, b, queue.Outcome{Delivered: &queue.FileState{FP: b.FP, SHA256: "x"}}); err != nil || requeued {
		t.Fatalf("complete: requeued=%v, %v", requeued, err)
	}
	if c, err := q.Counts(ctx); err != nil || c[queue.Done] != 1 || c[queue.Failed] != 1 || c[queue.Pending]+c[queue.Leased] != 0 {
		t.Fatalf("counts %v, %v", c, err)
	}
}

// Enqueue decides each item by the path's active job, its delivery to the
// item's target and its failed jobs, all read together: every decision,
// with what the path held before.
func TestEnqueueDecisions(t *testing.T) {
	ctx := context.Background()
	delivered := func(t *testing.T, q *queue.Queue, it queue.Item) {
		t.Helper()
		if _, err := q.Enqueue(ctx, []queue.Item{it}); err != nil {
			t.Fatal(err)
		}
		j := claim(t, q)
		if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "s"}}); err != nil {
			t.Fatal(err)
		}
	}
	failed := func(t *testing.T, q *queue.Queue, it queue.Item) {
		t.Helper()
		if _, err := q.Enqueue(ctx, []queue.Item{it}); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Fail(ctx, claim(t, q), "HTTP 400"); err != nil {
			t.Fatal(err)
		}
	}
	a5, a6 := item("a", 5), item("a", 6)
	gone := queue.Item{Watch: "/w", Rel: "a", Target: "t", Gone: true}
	other := a5
	other.Target = "other"
	after := a5
	after.AfterUpload = true
	for _, c := range []struct {
		name   string
		before func(*testing.T, *queue.Queue)
		it     queue.Item
		queued bool
		failed int // failed jobs of the path afterwards
	}{
		{"new", func(*testing.T, *queue.Queue) {}, a5, true, 0},
		{"unchanged since delivery", func(t *testing.T, q *queue.Queue) { delivered(t, q, a5) }, a5, false, 0},
		{"changed since delivery", func(t *testing.T, q *queue.Queue) { delivered(t, q, a5) }, a6, true, 0},
		{"delivered to another target", func(t *testing.T, q *queue.Queue) { delivered(t, q, other) }, a5, true, 0},
		{"unchanged, after_upload not done", func(t *testing.T, q *queue.Queue) { delivered(t, q, a5) }, after, true, 0},
		{"unchanged, after_upload done", func(t *testing.T, q *queue.Queue) {
			delivered(t, q, a5)
			if err := q.MarkMovedAway(ctx, "/w", "a"); err != nil {
				t.Fatal(err)
			}
		}, after, false, 0},
		{"deleted after delivery", func(t *testing.T, q *queue.Queue) { delivered(t, q, a5) }, gone, true, 0},
		{"deleted after dropsync moved it", func(t *testing.T, q *queue.Queue) {
			delivered(t, q, a5)
			if err := q.MarkMovedAway(ctx, "/w", "a"); err != nil {
				t.Fatal(err)
			}
		}, gone, false, 0},
		{"deleted, never delivered", func(*testing.T, *queue.Queue) {}, gone, false, 0},
		{"the same state failed", func(t *testing.T, q *queue.Queue) { failed(t, q, a5) }, a5, false, 1},
		{"changed after a failure", func(t *testing.T, q *queue.Queue) { failed(t, q, a5) }, a6, true, 0},
		{"active job", func(t *testing.T, q *queue.Queue) { q.Enqueue(ctx, []queue.Item{a5}) }, a6, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			q, _ := open(t)
			c.before(t, q)
			n, err := q.Enqueue(ctx, []queue.Item{c.it})
			if err != nil || (n == 1) != c.queued {
				t.Fatalf("queued %d, %v; want queued %v", n, err, c.queued)
			}
			js, err := q.Jobs(ctx, "", "a", 0)
			if err != nil {
				t.Fatal(err)
			}
			active, fails := 0, 0
			for _, j := range js {
				switch j.State {
				case queue.Pending, queue.Leased:
					active++
					if j.FP != c.it.FP || j.Gone != c.it.Gone || j.Target != c.it.Target {
						t.Errorf("active job %+v, want the item's state %+v", j, c.it)
					}
				case queue.Failed:
					fails++
				}
			}
			if (active == 1) != c.queued || active > 1 || fails != c.failed {
				t.Fatalf("%d active and %d failed jobs of a; want queued %v, %d failed", active, fails, c.queued, c.failed)
			}
		})
	}
}
