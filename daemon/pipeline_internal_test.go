package daemon

import (
	"context"
	"testing"

	"github.com/dropsync/dropsync/queue"
)

// A runner's job may reach its upload before the health component's loops
// have started (a job claimed at once at start): taking the slot asks only
// the runner's own context whether the daemon is stopping. It used to ask
// the health loops', not yet set, and the daemon panicked (seen as
// TestSIGKILLBetweenPhasesOfTwoPhaseUpload failing under -race).
func TestRunnersJobTakesASlotBeforeTheHealthLoopsStart(t *testing.T) {
	ctx := context.Background()
	q, err := queue.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	d := newBareDaemon(q)
	j := &queue.Job{ID: 1, Target: "t", Rel: "a.txt"}
	d.handoffs[j.ID] = &handoff{run: ctx}
	ran := false
	if !d.callTarget(ctx, j, d.log, func() error { ran = true; return nil }, func(error) {}) || !ran {
		t.Fatal("the upload did not run")
	}
}
