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
