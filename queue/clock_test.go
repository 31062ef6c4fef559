package queue_test

import (
	"context"
	"testing"
	"time"

	"github.com/dropsync/dropsync/queue"
)

// The wall clock steps back an hour (NTP correction, a VM restored from a
// snapshot) just after a job was given a 20 ms retry. not_before is an
// absolute wall-clock time, so the job was not claimable for an hour and
// NextReady told the dispatcher to sleep that long. A wait further ahead
// than the horizon (the longest wait the daemon gives) is over.
func TestClockStepBackDoesNotStretchARetry(t *testing.T) {
	q, _ := open(t)
	ctx := context.Background()
	q.SetHorizon(time.Minute)
	t0 := time.Now()
	q.SetClock(func() time.Time { return t0 })
	if _, err := q.Enqueue(ctx, []queue.Item{item("a.txt", 1)}); err != nil {
		t.Fatal(err)
	}
	j := claim(t, q)
	if err := q.Retry(ctx, j, t0.Add(20*time.Millisecond), "503 busy", false); err != nil {
		t.Fatal(err)
	}
	// The clock steps back an hour; one second passes.
	later := t0.Add(-time.Hour + time.Second)
	q.SetClock(func() time.Time { return later })
	at, ok, err := q.NextReady(ctx)
	if err != nil || !ok || at.After(later) {
		t.Fatalf("NextReady = %s, %v, %v after the clock stepped back; want due now", at.Sub(later).Round(time.Second), ok, err)
	}
	if j := claim(t, q); j == nil {
		t.Fatal("one second after a 20ms retry was set, the job is not claimable")
	}
}
