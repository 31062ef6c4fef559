package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// Ambiguous outcomes.
//
// An attempt that sent the whole file and got no whole answer may have
// been stored: the answer never came, came cut off (targets.ReadAnswer),
// or a stop ended the wait for it; and an attempt a killed daemon left
// after its last byte was read to be sent (sentOnce marks it,
// queue.MarkSent; an attempt killed before that sent no whole file and
// is simply run again). The attempt is counted under classAmbiguous. Before the next
// attempt, a target that can be asked (targets.Verifier) is asked whether
// the upload landed, and a landed upload is recorded as delivered without
// sending it again. A target that cannot be asked and whose every upload
// adds an object (targets.ResendLimiter) sends it again at most its limit
// of times; then the file fails with the target's words on what may have
// happened, and `queue retry` sends it anyway. Other targets replace what
// they stored and simply send again. The adapter asked is the one of the
// job's own generation (the one the attempt ran on), also when a reload
// changed the target's type meanwhile.

const classAmbiguous = queue.ClassAmbiguous

// runnerSlot is the context key of the number of the job runner that
// processes a job (from 0): its slot in the queue's sending marks.
type runnerSlot struct{}

// sentOnce returns the check made before the last byte of a committing
// request (targets.File.Unchanged): the source's, and then the mark that
// this lease sends its whole file (queue.MarkSent), so that a restart
// after a kill knows the attempt's outcome is unknown. A mark that cannot
// be written fails the attempt before its last byte: nothing is stored.
func (d *Daemon) sentOnce(ctx context.Context, j *queue.Job, src *source) func() error {
	slot, ok := ctx.Value(runnerSlot{}).(int)
	if !ok {
		slot = -1
	}
	return func() error {
		if err := src.unchanged(); err != nil {
			return err
		}
		return d.q.MarkSent(slot, j)
	}
}

// ambiguous counts an ambiguous attempt and fails the job when a target
// that cannot be asked has re-sent it often enough; it reports whether it
// did.
func (d *Daemon) ambiguous(ctx context.Context, j *queue.Job, wc *config.Watch, path string, te *targets.Error, log *slog.Logger) bool {
	n, err := d.q.CountAttempt(context.WithoutCancel(ctx), j, j.FP, classAmbiguous)
	if err != nil {
		log.Warn("cannot count the ambiguous attempt", "err", err)
		return false
	}
	tgt := jobGeneration(ctx).set.Targets[wc.Target] // the adapter the attempt ran on; only its kind is asked
	if _, ok := tgt.(targets.Verifier); ok {
		return false
	}
	rl, ok := tgt.(targets.ResendLimiter)
	if !ok {
		return false
	}
	limit, words := rl.AmbiguousResends()
	if n <= limit {
		return false
	}
	d.finishFail(ctx, j, wc, path, fmt.Errorf("%s: the whole file was sent %d times and no answer told whether it was stored; not sending it again (dropsync queue retry sends it anyway): %w", words, n, te), targets.Permanent)
	return true
}

// killedResendsUsedUp judges, before j is sent again, the ambiguous
// attempts a killed daemon left (queue.ClassKilled; no adapter judged them
// when they happened): a target that cannot be asked and whose every
// upload adds an object (targets.ResendLimiter) fails the job when its n
// ambiguous attempts are more than its limit, as ambiguous does for one it
// sees. Otherwise the kill's count is judged and reset. It reports whether
// it failed the job.
func (d *Daemon) killedResendsUsedUp(ctx context.Context, j *queue.Job, wc *config.Watch, tgt targets.Target, path string, fp fsid.Fingerprint, n int, log *slog.Logger) bool {
	if j.CountedFor(queue.ClassKilled, fp) == 0 {
		return false
	}
	if rl, ok := tgt.(targets.ResendLimiter); ok {
		if limit, words := rl.AmbiguousResends(); n > limit {
			d.finishFail(ctx, j, wc, path, fmt.Errorf("%s: the whole file was sent %d times and the daemon was stopped before an answer came; not sending it again (dropsync queue retry sends it anyway)", words, n), targets.Permanent)
			return true
		}
	}
	if err := d.q.ResetAttempts(context.WithoutCancel(ctx), j, queue.ClassKilled); err != nil {
		log.Warn("cannot reset the attempts a killed daemon left", "err", err)
	}
	return false
}

// landed asks a Verifier target, after an ambiguous attempt, whether the
// upload is already there; if so the job is recorded as delivered and
// landed reports true. Any doubt sends the file again.
func (d *Daemon) landed(ctx context.Context, j *queue.Job, wc *config.Watch, tgt targets.Target, f *targets.File, src *source, fp fsid.Fingerprint, claim *nameClaim, log *slog.Logger) bool {
	n := j.CountedFor(classAmbiguous, fp) // read when the job was claimed
	v, ok := tgt.(targets.Verifier)
	if !ok {
		return d.killedResendsUsedUp(ctx, j, wc, tgt, f.Path, fp, n, log)
	}
	if n == 0 {
		return false
	}
	start := time.Now()
	sum, err := src.hash(ctx)
	if err != nil {
		return false
	}
	r, err := v.Landed(ctx, f, sum)
	if err != nil {
		d.handleErr(ctx, j, wc, f.Path, err, log)
		return true
	}
	if r == nil {
		log.Info("the attempt whose answer was lost did not land; sending the file again")
		if err := d.q.ResetAttempts(ctx, j, classAmbiguous); err != nil {
			log.Warn("cannot reset the ambiguous attempts", "err", err)
		}
		return false
	}
	o := deliveredOutcome(wc, &queue.FileState{FP: fp, SHA256: sum, Remote: *r})
	o.Names = claim.keys(f, *r)
	d.recordDelivered(ctx, j, wc, o, claim, func() {
		log.Info("delivered: the attempt whose answer was lost had landed; not sent again", "remote_id", r.ID, "version", r.Version)
		d.obs.Delivered(Delivery{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Bytes: f.Size, Duration: time.Since(start), Attempt: j.Attempts, Remote: *r, SHA256: sum})
		d.health.succeeded(context.WithoutCancel(ctx), wc.Target)
	}, log)
	claim.release()
	return true
}

// takeTargetRequests carries out `dropsync target retry|resume` from
// another process.
func (d *Daemon) takeTargetRequests(ctx context.Context) {
	reqs, err := d.q.TakeTargetRequests(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("cannot read target requests", "err", err)
		}
		return
	}
	for name, r := range reqs {
		d.log.Info("target "+r+" requested", "target", name)
		d.health.request(ctx, name, r)
	}
}

// TargetsHealth returns every configured target's health as the daemon
// sees it now.
func (d *Daemon) TargetsHealth() []queue.TargetHealth { return d.health.states() }
