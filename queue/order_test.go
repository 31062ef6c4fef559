package queue_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
)

// A backlog is claimed in its watch's order: oldest by mtime, by name, or
// by arrival; a changed file takes its new place.
func TestClaimOrder(t *testing.T) {
	ctx := context.Background()
	hour := int64(time.Hour)
	for _, tc := range []struct{ order, want string }{
		{"oldest", "b,c,a"},
		{"name", "a,b,c"},
		{"none", "c,a,b"},
	} {
		t.Run(tc.order, func(t *testing.T) {
			q, _ := open(t)
			base := time.Now().UnixNano()
			for _, f := range []struct {
				rel string
				age int64
			}{{"c", 2 * hour}, {"a", hour}, {"b", 3 * hour}} {
				it := queue.Item{Watch: "/w", Rel: f.rel, Target: "t", FP: fsid.Fingerprint{Size: 1, ModTime: base - f.age, Inode: 1}, Order: tc.order}
				if _, err := q.Enqueue(ctx, []queue.Item{it}); err != nil {
					t.Fatal(err)
				}
			}
			js, err := q.ClaimN(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, j := range js {
				got = append(got, j.Rel)
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("claimed %v, want %s", got, tc.want)
			}
		})
	}
}

// ActiveInFolder sees pending and leased jobs of a folder's own files,
// not of its sub-folders.
func TestActiveInFolder(t *testing.T) {
	ctx := context.Background()
	q, _ := open(t)
	if _, err := q.Enqueue(ctx, []queue.Item{item("batch/sub/x.pdf", 1), item("top.pdf", 1)}); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{"batch": false, "batch/sub": true, ".": true, "other": false} {
		if got, err := q.ActiveInFolder(ctx, "/w", dir); err != nil || got != want {
			t.Errorf("ActiveInFolder(%q) = %v, %v; want %v", dir, got, err, want)
		}
	}
}

// Jobs are claimed ahead of a free worker only from a backlog that keeps
// more than Keep ready jobs behind them; jobs for free workers are claimed
// from any backlog; either way the backlog's head goes first.
func TestClaimAheadKeepsASmallBacklogForFreeWorkers(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		backlog int
		want    queue.Want
		claimed string
		held    bool
	}{
		{"small backlog, no worker free", 5, queue.Want{Ahead: 2, Keep: 5}, "", true},
		{"small backlog, one worker free", 5, queue.Want{Now: 1, Ahead: 2, Keep: 5}, "a", true},
		{"one job beyond Keep", 6, queue.Want{Ahead: 2, Keep: 5}, "a", true},
		{"large backlog", 20, queue.Want{Now: 1, Ahead: 2, Keep: 5}, "a,b,c", true},
		{"backlog smaller than the free workers", 2, queue.Want{Now: 3, Ahead: 2, Keep: 5}, "a,b", false},
		{"nothing ahead asked", 20, queue.Want{Now: 2}, "a,b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := open(t)
			var items []queue.Item
			for i := range tc.backlog {
				it := item(string(rune('a'+i)), int64(i+1))
				it.Order = "name"
				items = append(items, it)
			}
			if _, err := q.Enqueue(ctx, items); err != nil {
				t.Fatal(err)
			}
			js, held, err := q.ClaimAhead(ctx, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, j := range js {
				got = append(got, j.Rel)
			}
			if strings.Join(got, ",") != tc.claimed || held != tc.held {
				t.Fatalf("claimed %q, held %v; want %q, held %v", strings.Join(got, ","), held, tc.claimed, tc.held)
			}
			c, err := q.Counts(ctx)
			if err != nil || c[queue.Leased] != len(js) || c[queue.Pending] != tc.backlog-len(js) {
				t.Fatalf("counts %v, %v", c, err)
			}
		})
	}
}

// Failed jobs sent back by RetryFailed are claimed in their watch's order
// again: a job keeps its place in the order when it fails (only a done
// job, never claimed again, gives it up).
func TestRetriedJobsKeepTheirClaimOrder(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	for _, rel := range []string{"c", "a", "b"} {
		it := item(rel, 1)
		it.Order = "name"
		if _, err := q.Enqueue(ctx, []queue.Item{it}); err != nil {
			t.Fatal(err)
		}
	}
	done := item("0", 1)
	done.Order = "name"
	if _, err := q.Enqueue(ctx, []queue.Item{done}); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	if _, err := q.Complete(ctx, j, queue.Outcome{Delivered: &queue.FileState{FP: j.FP, SHA256: "x"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := q.Fail(ctx, claim(t, q), "HTTP 500"); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.RetryFailed(ctx); err != nil || n != 3 {
		t.Fatalf("retried %d, %v", n, err)
	}
	var got []string
	for j := claim(t, q); j != nil; j = claim(t, q) {
		got = append(got, j.Rel)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("retried jobs claimed %v, want a,b,c (by name)", got)
	}
}
