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
