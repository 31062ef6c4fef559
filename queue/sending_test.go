package queue_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dropsync/dropsync/queue"
)

// A lease a killed daemon left counts as an ambiguous attempt only if it
// was marked as having sent its whole file (MarkSent) — and only that very
// lease: the mark of an earlier lease of the same job, or of another job,
// does not count; a lease without a mark goes back to pending uncounted.
// The sending file is the daemon's own: 0600.
func TestOnlyALeaseMarkedSentCountsAsAmbiguousAfterAKill(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	q, err := queue.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Enqueue(ctx, []queue.Item{item("sent.txt", 1), item("claimed.txt", 1)}); err != nil {
		t.Fatal(err)
	}
	sent, claimed := claim(t, q), claim(t, q)
	if sent == nil || claimed == nil {
		t.Fatal("two jobs to claim")
	}
	if err := q.MarkSent(0, sent); err != nil {
		t.Fatal(err)
	}
	q.Close() // killed: both stay leased

	counted := func(q *queue.Queue) map[string]int {
		got := map[string]int{}
		for range 2 {
			j := claim(t, q)
			got[j.Rel] = j.CountedFor(queue.ClassAmbiguous, j.FP)
		}
		return got
	}
	q, err = queue.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := counted(q); got["sent.txt"] != 1 || got["claimed.txt"] != 0 {
		t.Fatalf("ambiguous attempts after a kill: %v, want sent.txt 1, claimed.txt 0", got)
	}
	q.Close() // killed again: the old mark names the earlier lease of sent.txt

	q, err = queue.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got := counted(q); got["sent.txt"] != 1 || got["claimed.txt"] != 0 {
		t.Fatalf("after a second kill with no new mark: %v, want sent.txt still 1, claimed.txt 0", got)
	}
	fi, err := os.Stat(filepath.Join(dir, queue.SendingFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sending file: %v %v, want mode 0600", fi, err)
	}
}
