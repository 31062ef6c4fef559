package daemon

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/dropsync/dropsync/queue"
)

// runnersPerWorker is how many job runners each upload slot has. A job's
// runner opens, checks and hashes its file, uploads it holding a slot, and
// records the outcome; with three runners per slot, one job's preparation
// and another's commit overlap each slot's upload, so a burst of small
// files keeps the slots busy rather than waiting for the database.
const runnersPerWorker = 3

// pipeline lets 3×workers runners share `workers` upload slots.
//
// Invariants:
//   - At most `workers` uploads and remote deletes run at once: each holds
//     a slot (callTarget), granted in the order runners asked for one,
//     and handles a failure before it lets go of it.
//   - A job is claimed for a free slot (a runner idle and fewer jobs in
//     their slot phase than slots: want's Now) from any backlog; ahead of
//     a free slot only while more than 3×workers ready jobs stay behind it
//     (queue.Want), so a backlog of up to that size goes strictly in its
//     watch's order, and of a larger one at most 2×workers jobs go before
//     a later arrival that comes first.
//   - A job claimed ahead that still waits for its slot when the daemon
//     begins to stop is not sent: it returns to pending, uncounted.
//   - claimed counts the jobs given to runners whose slot phase has not
//     ended: waiting for a slot, holding one, or not yet past the point
//     where they would take one (a job that needs no upload ends it when
//     it finishes).
type pipeline struct {
	workers int
	slots   chan struct{} // a token per slot held

	mu      sync.Mutex
	claimed int
}

func newPipeline(workers int) *pipeline {
	return &pipeline{workers: workers, slots: make(chan struct{}, workers)}
}

// runners is how many job runners the daemon starts.
func (p *pipeline) runners() int { return runnersPerWorker * p.workers }

// want reserves n jobs for idle runners and returns the claim to ask for:
// as many now as slots have no job heading for them, the rest ahead. The
// caller settles the reservation with got.
func (p *pipeline) want(n int) queue.Want {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := min(n, max(p.workers-p.claimed, 0))
	p.claimed += n
	return queue.Want{Now: now, Ahead: n - now, Keep: p.runners()}
}

// got settles a reservation made by want: k of its jobs were claimed.
func (p *pipeline) got(w queue.Want, k int) {
	p.mu.Lock()
	p.claimed -= w.Now + w.Ahead - k
	p.mu.Unlock()
}

// phaseEnded records that a claimed job's slot phase ended.
func (p *pipeline) phaseEnded() {
	p.mu.Lock()
	p.claimed--
	p.mu.Unlock()
}

// endSlotPhase ends the slot phase of the job a runner runs (h), once.
func (d *Daemon) endSlotPhase(h *handoff) {
	if h != nil && !h.phaseEnded {
		h.phaseEnded = true
		d.pipe.phaseEnded()
	}
}

// callTarget runs call (an upload or a remote delete) for j holding an
// upload slot, and fail with its error, still holding the slot, so the
// job that takes the slot next sees what the failure said about the
// target. A job that waited for the slot into the stop, or whose target
// stopped being up or was throttled meanwhile, goes back to pending
// untried and uncounted. callTarget reports whether call ran and
// succeeded.
func (d *Daemon) callTarget(ctx context.Context, j *queue.Job, log *slog.Logger, call func() error, fail func(error)) bool {
	d.mu.Lock()
	h := d.handoffs[j.ID] // nil for the health probe's job
	d.mu.Unlock()
	var stop <-chan struct{}
	if h != nil {
		stop = h.run.Done()
	} else {
		stop = d.health.stopping() // the probe's: its loop ends with the stop
	}
	defer d.endSlotPhase(h)
	if !d.takeSlot(ctx, j, stop) {
		d.requeue(ctx, j, time.Now(), j.LastError, true, log)
		return false
	}
	defer func() { <-d.pipe.slots }()
	if err := call(); err != nil {
		fail(err)
		return false
	}
	return true
}

// takeSlot waits for an upload slot for j and reports true holding it, or
// false holding none if stop came first or with it (a select picks either
// of two ready cases), or j's target stopped being up or was throttled
// while it waited.
func (d *Daemon) takeSlot(ctx context.Context, j *queue.Job, stop <-chan struct{}) bool {
	select {
	case d.pipe.slots <- struct{}{}:
	case <-stop:
		return false
	}
	select {
	case <-stop:
	default:
		if !d.health.holds(j) && !d.health.pausedNow(ctx, j) {
			return true
		}
	}
	<-d.pipe.slots
	return false
}
