package queue_test

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/queue"
)

// A job's id can be used again once the job is deleted (SQLite takes the
// largest id + 1): the attempts counted for the deleted job must not
// become the new job's, or a new file would start with another file's
// ambiguous sends (and, on Blueworks, fail before its first).
func TestAttemptsOfADeletedJobAreNotInherited(t *testing.T) {
	for _, how := range []string{"forget", "replaced"} {
		t.Run(how, func(t *testing.T) {
			q, _ := open(t)
			ctx := context.Background()
			j := claimWithAmbiguousSend(t, q)
			if _, err := q.Fail(ctx, j, "no answer"); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "forget":
				if n, err := q.Forget(ctx, j.ID); err != nil || n != 1 {
					t.Fatalf("forget: %d, %v", n, err)
				}
			case "replaced": // a changed a.txt replaces its failed job
				changed := item("a.txt", 2)
				if _, err := q.Enqueue(ctx, []queue.Item{changed}); err != nil {
					t.Fatal(err)
				}
				active := claim(t, q)
				if _, err := q.Complete(ctx, active, queue.Outcome{Delivered: &queue.FileState{FP: active.FP, SHA256: "x"}}); err != nil {
					t.Fatal(err)
				}
				if _, err := q.Forget(ctx, active.ID); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := q.Enqueue(ctx, []queue.Item{item("b.txt", 1)}); err != nil {
				t.Fatal(err)
			}
			nj := claim(t, q)
			if nj == nil {
				t.Fatal("no job for b.txt")
			}
			if n := nj.CountedFor("ambiguous", nj.FP); n != 0 {
				t.Fatalf("job %d (b.txt, id of a deleted job: %v) starts with %d ambiguous attempts of another file", nj.ID, nj.ID == j.ID, n)
			}
		})
	}
}
