package queue_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// TestCompleteRecordsNameOwners: the remote name keys of a delivery are
// recorded with its completion; a later delivery of another path under a
// key takes it over; the name book answers per target.
func TestCompleteRecordsNameOwners(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	deliver := func(rel string, keys ...string) {
		t.Helper()
		if _, err := q.Enqueue(ctx, []queue.Item{item(rel, 1)}); err != nil {
			t.Fatal(err)
		}
		j := claim(t, q)
		st := &queue.FileState{FP: j.FP, SHA256: "x", Remote: targets.Remote{ID: rel}}
		if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: st, Names: keys}); err != nil {
			t.Fatal(err)
		}
	}
	deliver("a.txt", "k/a.txt", "k/a(1).txt")
	deliver("b.txt", "k/b.txt")
	owner := func(target, key string) string {
		t.Helper()
		w, rel, found, err := q.Names(target).Owner(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if !found {
			return ""
		}
		return w + "/" + rel
	}
	if owner("t", "k/a.txt") != "/w/a.txt" || owner("t", "k/a(1).txt") != "/w/a.txt" || owner("t", "k/b.txt") != "/w/b.txt" || owner("other", "k/a.txt") != "" {
		t.Fatalf("owners %q %q %q %q", owner("t", "k/a.txt"), owner("t", "k/a(1).txt"), owner("t", "k/b.txt"), owner("other", "k/a.txt"))
	}
	deliver("A.TXT", "k/a.txt")
	if got := owner("t", "k/a.txt"); got != "/w/A.TXT" {
		t.Fatalf("owner after takeover %q", got)
	}
}

// TestClaimReadsTheOwnersOfTheNamesItClaims: a claim given Want.NameKey
// reads each claimed job's name owner in its own transaction, and
// ClaimedOwner answers with it for that very key while no name of its
// bucket is recorded; for another key, a job claimed without NameKey, or
// once a completion recorded the key (after the reading, even in the same
// transaction), it answers not ok, so that the owner is looked up again.
// Without that last rule a worker would upload over a name another path
// took between its claim and its name lock.
func TestClaimReadsTheOwnersOfTheNamesItClaims(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	deliver := func(j *queue.Job, keys ...string) {
		t.Helper()
		st := &queue.FileState{FP: j.FP, SHA256: "x", Remote: targets.Remote{ID: j.Rel}}
		if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: st, Names: keys}); err != nil {
			t.Fatal(err)
		}
	}
	keyOf := func(j *queue.Job) (string, string, bool) { return "t", "k/" + j.Rel, j.Rel != "none.txt" }
	enqueue := func(rels ...string) {
		t.Helper()
		for _, rel := range rels {
			if _, err := q.Enqueue(ctx, []queue.Item{item(rel, 1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	claimKeyed := func() *queue.Job {
		t.Helper()
		js, _, err := q.ClaimAhead(ctx, queue.Want{Now: 1, NameKey: keyOf})
		if err != nil || len(js) != 1 {
			t.Fatalf("claim: %v, %d jobs", err, len(js))
		}
		return js[0]
	}

	// b.txt's name is owned by a.txt (a clash the daemon reports).
	enqueue("a.txt")
	deliver(claim(t, q), "k/b.txt")
	enqueue("b.txt", "c.txt", "none.txt")
	b := claimKeyed()
	if w, rel, found, ok := q.ClaimedOwner(b, "t", "k/b.txt"); !ok || !found || w != "/w" || rel != "a.txt" {
		t.Fatalf("ClaimedOwner(b) = %q %q found=%v ok=%v, want /w a.txt as read by the claim", w, rel, found, ok)
	}
	if _, _, _, ok := q.ClaimedOwner(b, "t", "k/other"); ok {
		t.Fatal("ClaimedOwner answered for a key the claim did not read")
	}
	if _, _, _, ok := q.ClaimedOwner(b, "u", "k/b.txt"); ok {
		t.Fatal("ClaimedOwner answered for another target")
	}
	c := claimKeyed()
	if _, _, found, ok := q.ClaimedOwner(c, "t", "k/c.txt"); !ok || found {
		t.Fatalf("ClaimedOwner(c) found=%v ok=%v, want a reading of no owner", found, ok)
	}
	if none := claimKeyed(); none.Rel != "none.txt" {
		t.Fatalf("claimed %s, want none.txt", none.Rel)
	} else if _, _, _, ok := q.ClaimedOwner(none, "t", "k/none.txt"); ok {
		t.Fatal("ClaimedOwner answered for a job whose claim read no key")
	}

	// b's completion records k/c.txt after c's claim read it: the
	// reading is stale.
	deliver(b, "k/c.txt")
	if _, _, _, ok := q.ClaimedOwner(c, "t", "k/c.txt"); ok {
		t.Fatal("ClaimedOwner answered with a reading older than a record of its key")
	}
	if w, rel, found, err := q.NameOwner(ctx, "t", "k/c.txt"); err != nil || !found || w != "/w" || rel != "b.txt" {
		t.Fatalf("NameOwner = %q %q %v %v, want /w b.txt", w, rel, found, err)
	}

	// A completion and a claim in one transaction: the record comes
	// first (CompleteNext completes, then claims), so the claim reads it.
	deliver(c)
	enqueue("d.txt")
	j := claimKeyed()
	enqueue("e.txt")
	_, next, err := q.CompleteNext(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "x"}, Names: []string{"k/e.txt"}},
		queue.Want{Now: 1, NameKey: keyOf})
	if err != nil || len(next) != 1 {
		t.Fatalf("CompleteNext: %v, %d jobs", err, len(next))
	}
	if w, rel, found, ok := q.ClaimedOwner(next[0], "t", "k/e.txt"); !ok || !found || w != "/w" || rel != "d.txt" {
		t.Fatalf("ClaimedOwner(e) = %q %q found=%v ok=%v, want d.txt, recorded in the same transaction", w, rel, found, ok)
	}
	enqueue("f.txt")
	if _, _, _, ok := q.ClaimedOwner(claim(t, q), "t", "k/f.txt"); ok {
		t.Fatal("ClaimedOwner answered for a job claimed without NameKey")
	}
}
