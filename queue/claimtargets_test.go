package queue_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/dropsync/dropsync/queue"
)

// Two targets, one paused (or down): ClaimN and ClaimAhead with Keep lease
// only the other target's jobs, in order, and held counts only those. The
// claim looks targets up job by job only while some target is unavailable
// (qReady), so this is the case that takes that path.
func TestClaimSkipsTheOneUnavailableTargetOfTwo(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	for _, how := range []string{"paused", "down"} {
		q, _ := open(t)
		q.SetClock(func() time.Time { return now })
		q.SetHorizon(time.Hour)
		var items []queue.Item
		for _, r := range []string{"a1", "b1", "a2", "b2", "a3", "b3", "a4"} {
			it := item(r, int64(len(items)+1))
			it.Target = r[:1]
			items = append(items, it)
		}
		if _, err := q.Enqueue(ctx, items); err != nil {
			t.Fatal(err)
		}
		if how == "paused" {
			q.PauseTarget(ctx, "b", now.Add(time.Minute), "429")
		} else {
			q.SetTargetHealth(ctx, queue.TargetHealth{Target: "b", State: queue.TargetDown, Since: now})
		}
		rels := func(js []*queue.Job) (r []string) {
			for _, j := range js {
				r = append(r, j.Rel)
			}
			return r
		}
		js, held, err := q.ClaimAhead(ctx, queue.Want{Now: 1, Ahead: 1, Keep: 1})
		if err != nil || !slices.Equal(rels(js), []string{"a1", "a2"}) || !held {
			t.Fatalf("%s: ClaimAhead %v held %v err %v, want [a1 a2] held", how, rels(js), held, err)
		}
		js, held, err = q.ClaimAhead(ctx, queue.Want{Now: 0, Ahead: 1, Keep: 1})
		if err != nil || !slices.Equal(rels(js), []string{"a3"}) || !held {
			t.Fatalf("%s: ClaimAhead keep %v held %v err %v, want [a3], held", how, rels(js), held, err)
		}
		js, err = q.ClaimN(ctx, 10)
		if err != nil || !slices.Equal(rels(js), []string{"a4"}) {
			t.Fatalf("%s: ClaimN %v err %v, want [a4]", how, rels(js), err)
		}
		if how == "paused" {
			now = now.Add(time.Minute)
			if js, _ = q.ClaimN(ctx, 10); !slices.Equal(rels(js), []string{"b1", "b2", "b3"}) {
				t.Fatalf("after the pause: %v", rels(js))
			}
		}
	}
}
