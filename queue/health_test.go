package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/dropsync/dropsync/queue"
)

// A target that is down or has its credentials rejected keeps its jobs
// pending: Claim skips them and NextReady does not wake for them; the
// probe claims one of them on purpose.
func TestJobsOfATargetThatIsNotUpWait(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	it := item("a.txt", 1)
	other := item("b.txt", 2)
	other.Target = "other"
	if _, err := q.Enqueue(ctx, []queue.Item{it, other}); err != nil {
		t.Fatal(err)
	}
	if err := q.SetTargetHealth(ctx, queue.TargetHealth{Target: "t", State: queue.TargetCredentials, Since: time.Now(), Reason: "HTTP 401"}); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	if j == nil || j.Target != "other" {
		t.Fatalf("claimed %+v, want only the other target's job", j)
	}
	if j := claim(t, q); j != nil {
		t.Fatalf("claimed %+v of a target whose credentials are rejected", j)
	}
	if _, ok, _ := q.NextReady(ctx); ok {
		t.Fatal("NextReady counts a job that cannot be claimed")
	}
	probe, err := q.ClaimTarget(ctx, "t")
	if err != nil || probe == nil || probe.Rel != "a.txt" {
		t.Fatalf("probe claim %+v, %v", probe, err)
	}
	rec, err := q.TargetsHealth(ctx)
	if err != nil || rec["t"].State != queue.TargetCredentials || rec["t"].Reason != "HTTP 401" {
		t.Fatalf("recorded %+v, %v", rec["t"], err)
	}
}

// target resume ends a pause by itself (no daemon needed) and leaves the
// request for a running daemon; a request is taken once. CapPauses
// shortens a pause recorded before retry.max_pause.
func TestResumeAndCapEndPauses(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	year := time.Now().Add(365 * 24 * time.Hour)
	if err := q.PauseTarget(ctx, "t", year, "Retry-After: 31536000"); err != nil {
		t.Fatal(err)
	}
	if err := q.CapPauses(ctx, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ps, _ := q.Pauses(ctx)
	if len(ps) != 1 || ps[0].Until.After(time.Now().Add(time.Hour+time.Second)) {
		t.Fatalf("pauses after the cap: %+v", ps)
	}
	if err := q.RequestTarget(ctx, "t", queue.RequestResume); err != nil {
		t.Fatal(err)
	}
	if ps, _ := q.Pauses(ctx); len(ps) != 0 {
		t.Fatalf("pauses after resume: %+v", ps)
	}
	reqs, err := q.TakeTargetRequests(ctx)
	if err != nil || reqs["t"] != queue.RequestResume {
		t.Fatalf("requests %v, %v", reqs, err)
	}
	if reqs, _ := q.TakeTargetRequests(ctx); len(reqs) != 0 {
		t.Fatalf("a request was taken twice: %v", reqs)
	}
}

// Attempts are counted per kind, and a changed file starts afresh.
func TestAttemptsAreCountedPerKind(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	if _, err := q.Enqueue(ctx, []queue.Item{item("a.txt", 1)}); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	for want := 1; want <= 3; want++ {
		if n, err := q.CountAttempt(ctx, j, j.FP, "FAILED"); err != nil || n != want {
			t.Fatalf("FAILED count %d, %v; want %d", n, err, want)
		}
	}
	if n, _ := q.CountAttempt(ctx, j, j.FP, "502"); n != 1 {
		t.Fatalf("502 count %d: kinds are mixed", n)
	}
	changed := j.FP
	changed.Size++
	if n, _ := q.CountAttempt(ctx, j, changed, "FAILED"); n != 1 {
		t.Fatalf("count for changed content %d", n)
	}
	if n, _ := q.Attempts(ctx, j, j.FP, "FAILED"); n != 0 {
		t.Fatalf("old content's count %d after the change", n)
	}
}
