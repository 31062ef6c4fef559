package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// deliver runs rel through the queue to a delivered file state.
func deliver(t *testing.T, q *queue.Queue, rel, remoteID string) {
	t.Helper()
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, []queue.Item{item(rel, 1)}); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	st := &queue.FileState{FP: j.FP, SHA256: "x", Remote: targets.Remote{ID: remoteID}}
	if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: st}); err != nil {
		t.Fatal(err)
	}
}

// Done and failed jobs go after their retention; file states go only when
// the file has been out of its watch for retention.forgotten_state and the
// record serves nothing (Forgettable), and never while a job for the path
// is active.
func TestPruneRemovesWhatIsNoLongerNeeded(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q.SetClock(func() time.Time { return now })
	deliver(t, q, "kept.txt", "r1")  // still in the watch
	deliver(t, q, "gone.txt", "r2")  // deleted with deletes: ignore, or moved away by dropsync
	deliver(t, q, "needs.txt", "r3") // gone, but its record is needed (a deletion still to propagate)
	deliver(t, q, "busy.txt", "r4")  // gone, with a job pending
	if _, err := q.Enqueue(ctx, []queue.Item{item("failed.txt", 1)}); err != nil {
		t.Fatal(err)
	}
	q.Fail(ctx, claim(t, q), "sensenet: upload: forbidden (HTTP 403)")

	gone := map[string]bool{"gone.txt": true, "needs.txt": true, "busy.txt": true}
	pol := queue.Retention{Done: 168 * time.Hour, Failed: 720 * time.Hour, ForgottenState: 720 * time.Hour,
		Forgettable: func(s queue.StateRef) bool { return gone[s.Rel] && s.Rel != "needs.txt" }}
	prune := func(after time.Duration) queue.Pruned {
		t.Helper()
		now = now.Add(after)
		p, err := q.Prune(ctx, pol)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := prune(time.Hour); p != (queue.Pruned{}) {
		t.Fatalf("an hour later: %+v", p)
	}
	// busy.txt changes: a pending job holds its record.
	if _, err := q.Enqueue(ctx, []queue.Item{item("busy.txt", 2)}); err != nil {
		t.Fatal(err)
	}
	if p := prune(168 * time.Hour); p.Done != 4 || p.Failed != 0 || p.States != 0 {
		t.Fatalf("a week later: %+v", p)
	}
	// gone.txt comes back before its record is forgotten: it is kept.
	gone["gone.txt"] = false
	prune(300 * time.Hour)
	gone["gone.txt"] = true
	if p := prune(300 * time.Hour); p.Failed != 1 || p.States != 0 {
		t.Fatalf("a month later: %+v", p)
	}
	if p := prune(721 * time.Hour); p.States != 1 {
		t.Fatalf("a month after it went again: %+v", p)
	}
	for rel, want := range map[string]bool{"kept.txt": true, "gone.txt": false, "needs.txt": true, "busy.txt": true} {
		st, err := q.FileState(ctx, "/w", rel)
		if err != nil || (st != nil) != want {
			t.Errorf("%s: state %v (%v), want kept=%v", rel, st, err, want)
		}
	}
	if js, _ := q.Jobs(ctx, queue.Failed, "", 0); len(js) != 0 {
		t.Fatalf("failed jobs left: %d", len(js))
	}
	// The pruned path is new again: a file there is queued.
	if n, err := q.Enqueue(ctx, []queue.Item{{Watch: "/w", Rel: "gone.txt", Target: "t", FP: fsid.Fingerprint{Size: 1, ModTime: 1, Inode: 7}}}); err != nil || n != 1 {
		t.Fatalf("enqueue after prune: %d %v", n, err)
	}
}

// An upload session whose job was forgotten by hand goes after the failed
// retention; one of an active job stays.
func TestPruneRemovesOrphanedUploadSessions(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q.SetClock(func() time.Time { return now })
	for _, rel := range []string{"big.iso", "active.iso"} {
		if _, err := q.Enqueue(ctx, []queue.Item{item(rel, 1)}); err != nil {
			t.Fatal(err)
		}
		j := claim(t, q)
		if err := q.Sessions("/w", j.Rel, "t").Save(ctx, &targets.Session{Token: "tok", Size: 1, HashState: []byte{1}}); err != nil {
			t.Fatal(err)
		}
		q.Retry(ctx, j, now, "cut", true)
		if j.Rel == "big.iso" {
			if n, err := q.Forget(ctx, j.ID); err != nil || n != 1 {
				t.Fatalf("forget: %d %v", n, err)
			}
		}
	}
	now = now.Add(721 * time.Hour)
	p, err := q.Prune(ctx, queue.Retention{Done: time.Hour, Failed: 720 * time.Hour, ForgottenState: time.Hour})
	if err != nil || p.Sessions != 1 {
		t.Fatalf("prune: %+v %v", p, err)
	}
	if s, err := q.Sessions("/w", "active.iso", "t").Load(ctx); err != nil || s == nil {
		t.Fatalf("the session of an active job went: %v", err)
	}
}
