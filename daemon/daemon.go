// Package daemon wires dropsync together: one watcher per watch feeds the
// queue, and a pool of job runners claims jobs and delivers files through the
// targets, retrying with backoff, pausing throttled targets, and moving
// permanent failures to the failed list.
//
// Every job runs start to end on one generation of the configuration and
// its target clients; a reload (Reload, SIGHUP) makes a new generation
// current, whole or not at all, without touching jobs in flight, and the
// old generation's clients close after its last job (reload.go).
//
// # Failures of the target and of the file
//
// Failures are sorted by what they are about. Failures about a target
// (credentials rejected, unreachable, throttled, a storm of server errors)
// belong to the health component (health.go): the target leaves up, its
// jobs wait pending and uncounted, and only its probe talks to it. Failures
// about a file are retried soon or failed. An attempt whose answer was lost
// after the whole file was sent is asked about before it is sent again, or
// its re-sends are bounded (ambiguous.go).
//
// # Handling watched files
//
// Every operation on a watched file follows one discipline (fileops.go,
// with internal/safefs), which makes the cases below impossible rather
// than unlikely:
//
//   - Confinement: a file is opened below its watch root without following
//     a symlink in any folder (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS,
//     or an O_NOFOLLOW walk), nor in its own name unless follow_symlinks;
//     without blocking, and only if fstat says it is a regular file.
//   - One handle: the fingerprint (size, mtime, inode, device, ctime) comes
//     from fstat of that handle, and the hash and the upload read the same
//     handle, so what is compared, sent and recorded is one file.
//   - No torn versions: before the last byte of the request that commits
//     a version, the handle's fstat and its name are checked again; if the
//     file changed or was replaced, the request fails and the server
//     commits nothing. Upload sessions carry the whole fingerprint and are
//     never resumed onto another file.
//   - Destructive actions last: after_upload move|delete is recorded as an
//     intent in the delivery's own transaction, and runs in a later
//     attempt only once the file has been unchanged for a further settle,
//     no other process holds it open (a write lease, where the kernel
//     grants one), the record is on disk (checkpoint), and, renamed to a
//     staging name in its folder, it still has the delivered fingerprint;
//     otherwise it is put back and sent again. A restart finds the file at
//     its name, at its staging name, or gone, and completes the action; a
//     path awaiting its action never deletes a remote object. A delivered
//     file once staged comes back only under its own name; while a newer
//     file holds it, it waits hidden under its pending name until its
//     action is done (pendingName), never under a free name, where it
//     would be uploaded again. The action removes the file only while its
//     folder is still in the watch, checked right before the removal
//     (actOnStaged).
//   - Never overwrite: move_to and failed_to take the next free name
//     ("scan (2).pdf"); a copy across file systems is fsynced, with its
//     folder, before the source is removed, and the source is removed
//     only if its name still leads to the very file copied (safefs.MoveIf);
//     a move made from a checked handle moves only that file.
//
// Invariant (claims.go): per target folder, a remote name as the server
// folds and sanitises it belongs to one existing local path; a second path
// meeting it fails naming both, or with on_conflict rename takes the next
// free name(N).ext.
//
// Invariant (strandedJob): work done on the server (an upload, a remote
// delete) or on the file (an after_upload move) is never done again
// because its outcome could not be written (the database held by another
// program, a full disk). The outcome is kept and written later by
// housekeeping, the job staying leased and its remote name claimed
// meanwhile; only a daemon stopped before the database takes it runs the
// job again at its next start.
//
// Invariant (health.flush): a target's recorded state, which gates claims,
// comes to be the daemon's own: a change whose record could not be written
// is kept marked and written by housekeeping until it is.
//
// Invariant (waitHorizon): no wait lasts longer than twice the longest the
// daemon gives; one ending further ahead was set before the wall clock
// stepped back, and the queue takes it as over (queue.SetHorizon).
//
// Invariant (errText): a failure's text is recorded (the database, the
// failure report, a target's state) only through errText, which removes
// every credential the process sent (package redact); targets.Error's
// text has been through it already, this is the net under the rest.
//
// Invariant (stopWrites): once the stop has begun, runners write nothing
// to the database that could wait: a write may wait a busy timeout on a
// database another program holds, and the runners' writes queue for the
// one connection, one after another (12 runners putting back the jobs
// that waited for a slot took 12 s past a 1 s shutdown_timeout). A
// completion, a put-back and an interrupted upload (with its ambiguous
// count) are stranded instead, and releaseStranded writes them once the
// runners are done, each try stopping at the first write that fails: a
// stop takes at most shutdown_timeout and two busy timeouts. What is not
// written then stays leased, as a kill leaves it: the next start returns
// it to pending, ambiguous if its sending mark says its whole file went
// out.
//
// Invariants of the hot path and of idleness:
//   - A delivery counts (is logged, observed, followed by after_upload)
//     only after its outcome is committed; completions of several workers
//     share commits (queue.Complete).
//   - Jobs run on 3×workers runners that share `workers` upload slots,
//     held only around the upload or remote delete and the handling of
//     its failure (pipeline.go), so one job's preparation and another's
//     commit overlap each upload. A job is
//     claimed for a free slot from any backlog, ahead of one only from a
//     backlog larger than 3×workers (so a small backlog goes strictly in
//     each watch's claim order), and claims share transactions with the
//     completions committed at the same moment. A runner whose job ends
//     by a completion claims its next job in that completion's own
//     transaction (queue.CompleteNext); only a runner that finds nothing
//     goes back to the dispatcher.
//   - With nothing pending and nothing in flight, the daemon's own loops
//     run no timer: the dispatcher sleeps on channels (new work, a freed
//     slot) and arms a timer only for the earliest pending job's deadline;
//     housekeeping's progress timer runs only while uploads are in flight
//     or jobs are stranded; work queued by another process (`queue retry`)
//     arrives as a file notification, not by polling.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/redact"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// Options are the daemon's collaborators besides the configuration.
type Options struct {
	Log      *slog.Logger
	Observer Observer // may be nil
	// ProgressInterval is how often upload progress is recorded and
	// reported (default 1s).
	ProgressInterval time.Duration
	// Lifecycle, if set, is told when the daemon is ready, reloads and
	// stops (sd_notify); see reload.go.
	Lifecycle Lifecycle
	// CheckFolders, if set, checks the folders of a configuration for the
	// access the daemon needs, at start and before a reload is applied. It
	// must return in bounded time (sandbox.Checker gives up on a folder on
	// a hung mount) and when its context ends.
	CheckFolders func(context.Context, *config.Config) error
}

// Daemon is a running dropsync.
type Daemon struct {
	cfg     *config.Config // as started: workers, shutdown_timeout, retry, state_dir
	log     *slog.Logger
	obs     Observer
	q       *queue.Queue
	release func()

	wake          *signal
	progressEvery time.Duration
	reloadState
	// timerWakeups counts the dispatcher's and housekeeping's wake-ups
	// by a timer rather than by work; with nothing to do there are none.
	timerWakeups atomic.Int64
	busyWakeups  atomic.Int64 // housekeeping's wake-ups on busy

	busy chan struct{} // poked when uploads start from none or all end, or a job is stranded
	pipe *pipeline     // job runners and upload slots

	mu       sync.Mutex
	gen      *generation // the configuration jobs start with; see reload.go
	inflight map[int64]*flight
	handoffs map[int64]*handoff   // leased job → where the runner running it takes its next job
	ownMoves map[string]time.Time // watch+"\x00"+rel the daemon removed itself
	named    map[string]bool      // watch+"\x00"+rel of leftovers named in a warning (leftover)
	runDone  <-chan struct{}      // Run's runCtx: closed when the stop begins; nil before Run
	stranded []strandedJob        // leased jobs whose outcome or put-back could not be written
	throttle map[string]int       // target → throttled answers since its last delivery
	names    keyLock              // remote names being uploaded, for targets without folders
	changing map[string]int       // watch+"\x00"+rel → uploads in a row the file changed during
	claims   keyLock              // remote names being uploaded, for targets.NameKeyer (claims.go)

	enq   enqueueHealth // watches whose batches the queue refuses now
	opens openGates     // one open at a time per watch (opengate.go)

	runnersLeft bool // Run's own: its stop went on without a blocked runner (waitRunners)

	health *health // every target's state: up, throttled, down, credentials rejected
}

type flight struct {
	job      *queue.Job
	target   string
	total    int64
	sent     atomic.Int64
	recorded int64 // sent as last recorded; housekeeping's own
}

// New checks the configuration against the targets, takes the state
// directory's lock and opens the queue. Watch folders are not walked here:
// a folder that is missing waits, and sub-trees beyond the inotify budget
// are polled (see package watcher).
func New(ctx context.Context, cfg *config.Config, o Options) (*Daemon, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = Observers(nil)
	}
	for _, w := range cfg.Warnings {
		o.Log.Warn(w)
	}
	if o.CheckFolders != nil {
		if err := o.CheckFolders(ctx, cfg); err != nil {
			return nil, err
		}
	}
	set, err := targets.Build(cfg, o.Log)
	if err != nil {
		return nil, err
	}
	if err := prepareStateDir(cfg.StateDir); err != nil {
		set.Close()
		return nil, err
	}
	release, err := lockStateDir(cfg.StateDir)
	if err != nil {
		set.Close()
		return nil, err
	}
	q, err := queue.Open(ctx, cfg.StateDir)
	if err != nil {
		release()
		set.Close()
		return nil, err
	}
	for _, w := range q.StartWarnings() {
		o.Log.Warn("the database could not be brought to this version's shape; deliveries work, more slowly", "err", w)
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	d := &Daemon{cfg: cfg, log: o.Log, obs: o.Observer, progressEvery: o.ProgressInterval, q: q, release: release, gen: newGeneration(cfg, set),
		wake: newSignal(), busy: make(chan struct{}, 1), pipe: newPipeline(cfg.Workers), inflight: map[int64]*flight{}, handoffs: map[int64]*handoff{}, ownMoves: map[string]time.Time{}, named: map[string]bool{}, throttle: map[string]int{}, changing: map[string]int{}}
	q.SetHorizon(waitHorizon(cfg.Retry, cfg.Watches))
	d.initReload(o)
	d.health = newHealth(d)
	if err := d.health.load(ctx); err != nil {
		q.Close()
		release()
		set.Close()
		return nil, err
	}
	return d, nil
}

// Queue is the daemon's queue.
func (d *Daemon) Queue() *queue.Queue { return d.q }

// Health returns nil when the database answers and every watch works.
func (d *Daemon) Health(ctx context.Context) error {
	if err := d.q.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	for _, w := range d.runningWatchers() {
		if err := w.Health(); err != nil {
			return err
		}
	}
	if err := d.enq.health(); err != nil {
		return err
	}
	if err := d.opens.stuck(d.cfg.Metrics.UnhealthyAfter.D()); err != nil {
		return err
	}
	return d.health.unhealthy()
}

// Run runs until ctx ends, then stops claiming work, gives uploads in flight
// the configured shutdown_timeout to finish (chunked ones keep their
// recorded progress if cut), returns unfinished jobs to pending, and closes
// the queue. It returns nil after a clean stop.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.release()
	defer d.retireGeneration()
	defer d.q.Close()

	// runCtx ends with ctx or with a fatal error; uploads run under
	// workCtx, which outlives it by the drain deadline.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	d.runDone = runCtx.Done()
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(runCtx, func() {
		t := time.NewTimer(d.cfg.Shutdown.D())
		defer t.Stop()
		select {
		case <-t.C:
			d.log.Warn("shutdown deadline reached; interrupting uploads in flight", "timeout", d.cfg.Shutdown.D())
			cancelWork()
		case <-workCtx.Done():
		}
	})
	defer stopDrain()

	var wg sync.WaitGroup
	errc := make(chan error, 1)
	d.startWatches(runCtx, &wg, errc)
	d.log.Info("dropsync started", "watches", len(d.cfg.Watches), "targets", len(d.cfg.Targets), "workers", d.cfg.Workers, "state_dir", d.cfg.StateDir)

	var workers sync.WaitGroup
	jobs := make(chan *queue.Job)
	freed := make(chan struct{}, d.pipe.runners())
	for slot := range d.pipe.runners() {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				for j != nil { // the jobs its completions claimed, one by one
					j = d.runJob(runCtx, workCtx, j, slot)
				}
				freed <- struct{}{}
			}
		}()
	}
	workers.Add(1)
	go func() {
		defer workers.Done()
		d.dispatch(runCtx, jobs, freed)
	}()
	wg.Add(2)
	go func() {
		defer wg.Done()
		d.housekeeping(runCtx)
	}()
	go func() {
		defer wg.Done()
		d.health.run(runCtx, workCtx)
	}()

	runErr := d.serveReloads(runCtx, &wg, errc) // watches a reload starts run under runCtx too: a fatal error stops them
	stopRun()
	deadline := time.Now().Add(d.cfg.Shutdown.D() + stopGrace)
	d.waitLoops(&wg, deadline)
	if runErr != nil {
		cancelWork() // a fatal error: do not wait for the drain
	}
	// Housekeeping has ended: what could not be written gets a last try
	// now (a runner may be waiting for a stranded delivery's remote name)
	// and once the runners are done, while the stop's deadline lasts. Each
	// try stops at the first write that fails (each waits for the database
	// at most its busy timeout). Jobs still leased return to pending at
	// the next start.
	last := func() {
		if time.Until(deadline) > 0 {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			d.releaseStranded(ctx)
			cancel()
		}
	}
	last()
	d.waitRunners(&workers, deadline)
	last()
	d.mu.Lock()
	n := len(d.stranded)
	d.mu.Unlock()
	if n > 0 {
		d.log.Warn("stopped with outcomes the database would not take; those jobs run again at the next start", "jobs", n)
	}
	d.log.Info("dropsync stopped")
	return runErr
}

// stopGrace is how long after shutdown_timeout a stop still waits for
// the watches and runners to end: a runner interrupted at the deadline
// needs a moment to put its job back.
const stopGrace = 5 * time.Second

// waitLoops waits for the watches and the daemon's loops (wg) to end once
// the stop has begun, until deadline. A watcher blocked in a file system
// call that does not return (a hard-mounted share whose server is gone)
// cannot be interrupted: the stop goes on without it and names it, where
// it used to wait until the service manager killed the daemon. What such a
// watcher finds if the call ever returns goes nowhere: its enqueue loop
// has ended with the stop.
func (d *Daemon) waitLoops(wg *sync.WaitGroup, deadline time.Time) {
	if !waitUntil(wg, deadline) {
		d.log.Warn("stopping without the watches that have not ended: a file system call under them has not returned (a hung mount?)",
			"watches", d.unended())
	}
}

// waitRunners waits for the runners to end, until deadline: past
// shutdown_timeout their uploads were interrupted, and a runner still
// running is blocked in a file system call (opening or moving a file on a
// mount that hung). The stop goes on without it and names its file; the
// job, still leased, returns to pending at the next start.
func (d *Daemon) waitRunners(workers *sync.WaitGroup, deadline time.Time) {
	if waitUntil(workers, deadline) {
		return
	}
	d.runnersLeft = true
	d.mu.Lock()
	var files []string
	for _, h := range d.handoffs {
		files = append(files, filepath.Join(h.job.Watch, filepath.FromSlash(h.job.Rel)))
	}
	d.mu.Unlock()
	slices.Sort(files)
	d.log.Warn("stopping without the uploads that have not ended: a file system call has not returned (a hung mount?); their files are tried again at the next start",
		"files", files)
}

// waitUntil waits for wg until deadline, or a tenth of a second if that
// is sooner (what has ended gets the time to say so), and reports whether
// it ended.
func waitUntil(wg *sync.WaitGroup, deadline time.Time) bool {
	ended := make(chan struct{})
	go func() {
		wg.Wait()
		close(ended)
	}()
	t := time.NewTimer(max(time.Until(deadline), 100*time.Millisecond))
	defer t.Stop()
	select {
	case <-ended:
		return true
	case <-t.C:
		return false
	}
}

// handoff is the slot in which a job's completion leaves the runner's
// next job (see complete).
type handoff struct {
	job        *queue.Job      // the job the runner processes
	run        context.Context // claiming stops when it ends: the daemon is stopping
	next       *queue.Job
	phaseEnded bool // the job's slot phase ended (pipeline); the runner's own
}

// runJob processes j on a runner and returns the job its completion
// claimed for the same runner, or nil.
func (d *Daemon) runJob(runCtx, workCtx context.Context, j *queue.Job, slot int) *queue.Job {
	h := &handoff{job: j, run: runCtx}
	d.mu.Lock()
	d.handoffs[j.ID] = h
	d.mu.Unlock()
	d.process(context.WithValue(workCtx, runnerSlot{}, slot), j)
	d.endSlotPhase(h)
	d.mu.Lock()
	delete(d.handoffs, j.ID)
	d.mu.Unlock()
	return h.next
}

// noteOwnMove records that the daemon itself removes a file (after_upload,
// failed_to), so the deletion event is not taken for the user's.
func (d *Daemon) noteOwnMove(watch, rel string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	for k, t := range d.ownMoves {
		if now.Sub(t) > time.Hour {
			delete(d.ownMoves, k)
		}
	}
	d.ownMoves[watch+"\x00"+rel] = now
}

// forgetOwnMove drops the record of noteOwnMove when the daemon's own
// move did not happen (a failed rename, a file swapped in and kept): left
// for its hour, it would take the user's next real deletion of that path
// for the daemon's, and the remote copy would stay.
func (d *Daemon) forgetOwnMove(watch, rel string) { d.tookOwnMove(watch, rel) }

func (d *Daemon) tookOwnMove(watch, rel string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := watch + "\x00" + rel
	_, ok := d.ownMoves[k]
	delete(d.ownMoves, k)
	return ok
}

// dispatch claims jobs for idle runners, as many as are idle in one
// transaction (shared with the completions committed at that moment), until
// ctx ends; then it closes jobs. What it claims ahead of a free slot is
// pipeline.want's to say. Between claims it sleeps until new work is
// queued, a runner frees up, or the earliest pending job becomes due: a
// timer is armed for that deadline only, so with nothing pending no timer
// runs, and none for ready jobs held back for a free slot. It never polls.
func (d *Daemon) dispatch(ctx context.Context, jobs chan<- *queue.Job, freed <-chan struct{}) {
	defer close(jobs)
	idle := d.pipe.runners()
	claimFailing := false
	for ctx.Err() == nil {
		for idle == 0 {
			select {
			case <-ctx.Done():
				return
			case <-freed:
				idle++
			}
		}
		for drained := false; !drained; { // claim for every runner that is free by now
			select {
			case <-freed:
				idle++
			default:
				drained = true
			}
		}
		wakeCh := d.wake.wait()
		want := d.pipe.want(idle)
		want.NameKey = claimKeys(d.current())
		js, held, err := d.q.ClaimAhead(ctx, want)
		d.pipe.got(want, len(js))
		if err != nil {
			if ctx.Err() == nil {
				// Said once, and once more when claims work again: a
				// database held for a while is one event, not one a second.
				if !claimFailing {
					d.log.Error("cannot claim work from the database; trying again every second", "err", err)
				} else {
					d.log.Debug("claim failed", "err", err)
				}
				claimFailing = true
				if !sleepCtx(ctx, time.Second) {
					return
				}
			}
			continue
		}
		if claimFailing {
			claimFailing = false
			d.log.Info("claims work again")
		}
		for _, j := range js {
			jobs <- j // a runner is idle for each
			idle--
		}
		if len(js) > 0 {
			continue
		}
		var timer *time.Timer
		var due <-chan time.Time
		var t time.Time
		ok := false
		if !held { // ready jobs held back wait for a slot, not for a time
			t, ok, err = d.q.NextReady(ctx)
		}
		if err != nil || ok {
			wait := time.Minute // the database did not answer: look again later
			if err == nil {
				wait = min(max(time.Until(t), time.Millisecond), time.Minute)
			}
			timer = time.NewTimer(wait)
			due = timer.C
		}
		select {
		case <-ctx.Done():
		case <-wakeCh:
		case <-freed:
			idle++
		case <-due:
			d.timerWakeups.Add(1)
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// housekeeping records upload progress for `dropsync status` while uploads
// are in flight, returns stranded jobs to pending, wakes the dispatcher when
// another process changed the queue (`queue retry`), and applies the
// retention policy (beside it, in pruneLoop). A timer runs only while there
// is something to do: progress and stranded jobs arm one when they appear;
// changes by other processes arrive as file notifications.
func (d *Daemon) housekeeping(ctx context.Context) {
	pruned := make(chan struct{})
	go func() { defer close(pruned); d.pruneLoop(ctx) }()
	defer func() { <-pruned }()
	changes, err := d.q.Changes(ctx)
	if err != nil {
		d.log.Warn("`dropsync queue retry` will take effect at the next file event or restart", "err", err)
	}
	var progress *time.Timer
	var progressC <-chan time.Time
	defer func() {
		if progress != nil {
			progress.Stop()
		}
	}()
	for {
		if progressC == nil && d.hasWork() {
			progress = time.NewTimer(d.progressEvery)
			progressC = progress.C
		}
		select {
		case <-ctx.Done():
			return
		case reply := <-d.alive:
			close(reply) // Alive: this loop turns
		case <-changes:
			d.takeTargetRequests(ctx)
			d.wake.notify()
		case <-d.busy:
			d.busyWakeups.Add(1)
			// uploads started from none or all ended, or a job was
			// stranded: the loop arms the timer, or stops it once nothing
			// is left to record
			if progressC != nil && !d.hasWork() {
				progress.Stop()
				progressC = nil
			}
		case <-progressC:
			d.timerWakeups.Add(1)
			progressC = nil
			d.releaseStranded(ctx)
			d.health.flush(ctx)
			d.recordProgress(ctx)
		}
	}
}

// hasWork reports whether uploads are in flight, jobs are stranded or a
// target's health waits to be recorded.
func (d *Daemon) hasWork() bool {
	d.mu.Lock()
	busy := len(d.inflight) > 0 || len(d.stranded) > 0
	d.mu.Unlock()
	return busy || d.health.anyUnwritten()
}

// pokeBusy tells housekeeping that it has work.
func (d *Daemon) pokeBusy() {
	select {
	case d.busy <- struct{}{}:
	default:
	}
}

// recordProgress reports the progress of uploads in flight and records it
// for `dropsync status`, writing only what moved since the last record.
func (d *Daemon) recordProgress(ctx context.Context) {
	d.mu.Lock()
	fl := make([]*flight, 0, len(d.inflight))
	for _, f := range d.inflight {
		fl = append(fl, f)
	}
	d.mu.Unlock()
	for _, f := range fl {
		sent := f.sent.Load()
		d.obs.Progress(f.target, f.job.Rel, sent, f.total)
		if sent == f.recorded {
			continue
		}
		f.recorded = sent
		if err := d.q.SetProgress(ctx, f.job.ID, sent); err != nil && ctx.Err() == nil {
			d.log.Debug("record progress", "err", err)
		}
	}
}

// process runs one leased job to an outcome: delivered, deleted, retried,
// or failed.
func (d *Daemon) process(ctx context.Context, j *queue.Job) {
	g := d.acquire() // the whole job runs on the configuration it started with
	defer g.done()
	ctx = withJob(ctx, g)
	idx, ok := g.watches[j.Watch]
	if !ok {
		// Not a failure of the file: nothing is recorded about it, so
		// that the watch's scan queues it again if the watch comes back.
		log := jobLogger(d.log, j.Target, j.Rel)
		if err := d.q.Drop(context.WithoutCancel(ctx), j); err != nil {
			log.Error("cannot drop the job of a watch no longer configured; it is tried again", "watch", j.Watch, "err", err)
			d.strand(strandedJob{j: j})
			return
		}
		log.Info("not sent: its watch is no longer configured", "watch", j.Watch)
		return
	}
	wc := g.cfg.Watches[idx]
	// A job queued for another target before a reload pointed its watch
	// here goes here: what its attempt records (the delivery, the remote
	// names) names this target. (A rescan gives pending jobs the new
	// target; this one was claimed before it.)
	j.Target = wc.Target
	tgt := g.set.Targets[wc.Target]
	log := jobLogger(d.log, wc.Target, j.Rel)
	if d.health.holds(j) { // claimed just before its target stopped being up
		d.requeue(ctx, j, time.Now(), j.LastError, true, log)
		return
	}
	path := filepath.Join(wc.Path, filepath.FromSlash(j.Rel))
	prev := j.Prev // read when the job was claimed
	if prev != nil && prev.Target != wc.Target {
		prev = nil // delivered to another target before; this one has no record
	}
	start := time.Now()
	if prev != nil && prev.Intent != "" && d.finishAfterUpload(ctx, j, wc, prev, log) {
		return
	}
	if !g.covers[idx](j.Rel) {
		// Queued before a reload changed include, exclude, recursive or
		// the ready marker: the watch no longer delivers this file. As for
		// a removed watch, nothing is recorded (a scan queues it again if
		// the rules take it back).
		if err := d.q.Drop(context.WithoutCancel(ctx), j); err != nil {
			log.Error("cannot drop the job of a file its watch no longer covers; it is tried again", "err", err)
			d.strand(strandedJob{j: j})
			return
		}
		log.Info("not sent: its watch no longer covers it (include, exclude, recursive or ready_marker changed)")
		return
	}
	src, err := d.openGated(wc, j.Rel, path)
	if errors.Is(err, errOpenHung) {
		// Another runner would only join the open that hangs.
		d.putBackHung(ctx, j, err, log)
		return
	}
	missing := safefs.Missing(err)
	if missing && !j.Gone && d.restoreFailed(ctx, wc, j, log) {
		src, err = d.openGated(wc, j.Rel, path)
		missing = safefs.Missing(err)
	}
	if missing {
		d.noteUnsettled(j.Watch, j.Rel, false, true)
		d.gone(ctx, j, wc, tgt, g.set.Dests[idx], prev, start, log)
		return
	}
	if errors.Is(err, safefs.ErrBusy) {
		d.retry(ctx, j, wc, err, log)
		return
	}
	if err != nil && passing(err) {
		// Retried as a failed upload is, the target's health untouched.
		if !d.attemptsUsedUp(ctx, j, wc, path, err) {
			d.retry(ctx, j, wc, err, log)
		}
		return
	}
	if err != nil {
		d.finishFail(ctx, j, wc, path, err, targets.Permanent)
		return
	}
	defer src.Close()
	fp, fi := src.fp, src.fi
	if prev != nil && prev.FP == fp {
		// Delivered before, unchanged: only after_upload may be left to do
		// (it was switched on since).
		o := queue.Outcome{}
		if !prev.MovedAway {
			o = deliveredOutcome(wc, nil)
		}
		d.recordDelivered(ctx, j, wc, o, nil, nil, log)
		return
	}
	if prev != nil && prev.FP.Size == fp.Size && prev.SHA256 != "" && fp == j.FP {
		// Same size, new mtime or inode (touched, restored from a backup):
		// compare contents before sending them again.
		if sum, err := src.hash(ctx); err == nil && sum == prev.SHA256 {
			log.Debug("content unchanged since delivery; not sent again")
			state := &queue.FileState{FP: fp, SHA256: prev.SHA256, Remote: prev.Remote}
			d.recordDelivered(ctx, j, wc, deliveredOutcome(wc, state), nil, nil, log)
			return
		}
	}
	if fp != j.FP {
		// The file is not what settled (a retry fired while it was being
		// rewritten): send it only once it holds still for settle.
		msg := unsettledMsg(d.noteUnsettled(j.Watch, j.Rel, false, false), wc, "the file changed since it settled; waiting for it to hold still")
		log.Debug(msg)
		if err := d.q.Defer(context.WithoutCancel(ctx), j, fp, time.Now().Add(wc.Settle.D()), msg); err != nil {
			log.Error("cannot put the job back; retrying in the background", "err", err)
			d.strand(strandedJob{j: j})
		}
		return
	}
	f := &targets.File{Watch: wc.Path, Rel: j.Rel, Path: path, Size: fi.Size(), ModTime: fi.ModTime(), OnConflict: wc.OnConflict, Dest: g.set.Dests[idx],
		Source: src.f, Ident: fp, Unchanged: d.sentOnce(ctx, j, src)}
	if prev != nil {
		r := prev.Remote
		f.Previous = &r
	}
	if flat, ok := tgt.(targets.Flattener); ok && flat.FlatNames() {
		// One remote name, one upload at a time (a/x.pdf and b/x.pdf).
		unlock, err := d.names.lock(ctx, wc.Target+"\x00"+f.Name())
		if err != nil {
			d.handleErr(ctx, j, wc, path, err, log)
			return
		}
		defer unlock()
	}
	claim, err := d.checkName(ctx, j, wc, tgt, f)
	if err != nil {
		d.handleErr(ctx, j, wc, path, err, log)
		return
	}
	defer claim.release()
	if done := d.landed(ctx, j, wc, tgt, f, src, fp, claim, log); done {
		return
	}
	var res *targets.Result
	upload := func() (err error) {
		fl := &flight{job: j, target: wc.Target, total: f.Size}
		d.mu.Lock()
		d.inflight[j.ID] = fl
		first := len(d.inflight) == 1
		d.mu.Unlock()
		if first {
			d.pokeBusy() // the first upload in flight arms the progress timer
		}
		res, err = targets.Deliver(ctx, tgt, g.cfg.Targets[wc.Target], f, d.q.Sessions(j.Watch, j.Rel, wc.Target), func(n int64) { fl.sent.Store(n) })
		d.mu.Lock()
		delete(d.inflight, j.ID)
		last := len(d.inflight) == 0
		d.mu.Unlock()
		if last {
			d.pokeBusy() // the last upload's end stops it
		}
		return err
	}
	failed := func(err error) {
		// Called holding the upload slot (see callTarget).
		cerr := src.unchangedWithin(openStuck)
		if errors.Is(cerr, errFSHung) {
			d.putBackHung(ctx, j, errors.Join(err, cerr), log)
			return
		}
		if errors.Is(err, targets.ErrChanged) || cerr != nil {
			// The file changed while it was sent: not delivered, and the
			// commit was refused.
			d.changedWhileSending(ctx, j, wc, errors.Join(err, cerr), log)
			return
		}
		d.handleErr(ctx, j, wc, path, err, log)
	}
	if !d.callTarget(ctx, j, log, upload, failed) {
		return
	}
	// For an adapter whose commit is not the last byte; outside the upload
	// slot: a mount that died meanwhile blocks the look for good, and
	// holds this runner only.
	if err := src.unchanged(); err != nil {
		failed(err)
		return
	}
	state := &queue.FileState{FP: fp, SHA256: res.SHA256, Remote: res.Remote}
	o := deliveredOutcome(wc, state)
	o.Names = claim.keys(f, res.Remote)
	// What follows a delivery happens once it is recorded: now, or when
	// housekeeping records a stranded outcome (bg: the job's context may
	// have ended by then).
	bg := context.WithoutCancel(ctx)
	delivered := func() {
		d.noteUnsettled(j.Watch, j.Rel, false, true)
		step("recorded")
		dl := Delivery{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Bytes: f.Size, Duration: time.Since(start), Attempt: j.Attempts,
			Remote: res.Remote, SHA256: res.SHA256, Skipped: res.Skipped, Chunked: res.Chunked, Resumed: res.Resumed}
		if res.Skipped {
			log.Info("skipped: already on the server (on_conflict: skip)", "remote_id", res.Remote.ID)
		} else if log.Enabled(bg, slog.LevelInfo) {
			attrs := []any{"bytes", f.Size, "duration", dl.Duration.Round(time.Millisecond), "attempt", j.Attempts, "remote_id", res.Remote.ID}
			if res.Remote.Version != "" {
				attrs = append(attrs, "version", res.Remote.Version)
			}
			if res.Remote.Name != "" && res.Remote.Name != filepath.Base(path) {
				attrs = append(attrs, "remote_name", res.Remote.Name)
			}
			if res.Chunked {
				attrs = append(attrs, "chunked", true)
			}
			if res.Resumed {
				attrs = append(attrs, "resumed", true)
			}
			log.Info("delivered", attrs...)
		}
		d.obs.Delivered(dl)
		d.clearThrottle(wc.Target)
		d.health.succeeded(bg, wc.Target)
	}
	d.recordDelivered(ctx, j, wc, o, claim, delivered, log)
	claim.release()
}

// gone handles a job whose file no longer exists. The recorded remote
// object is deleted only with deletes: propagate and when the watcher saw a
// deletion (j.Gone); a file that vanished otherwise (moved by after_upload,
// say) leaves the server alone.
func (d *Daemon) gone(ctx context.Context, j *queue.Job, wc *config.Watch, tgt targets.Target, dest any, prev *queue.FileState, start time.Time, log *slog.Logger) {
	del, canDelete := tgt.(targets.Deleter)
	if wc.Deletes != "propagate" || prev == nil || !canDelete || !j.Gone {
		d.complete(ctx, j, queue.Outcome{}, nil, nil, log)
		return
	}
	// Targets without folders map equal base names to one object: after a
	// folder rename, the object may already hold the file's new path, or
	// an upload of it may be running. The delete takes the name's lock
	// the uploads take, so it runs before such an upload (which then makes
	// the object anew) or after its delivery is recorded (and is seen).
	if flat, ok := tgt.(targets.Flattener); ok && flat.FlatNames() {
		unlock, err := d.names.lock(ctx, wc.Target+"\x00"+filepath.Base(filepath.FromSlash(j.Rel)))
		if err != nil {
			d.handleErr(ctx, j, wc, "", err, log)
			return
		}
		defer unlock()
	}
	shared, err := d.q.RemoteShared(ctx, wc.Target, prev.Remote.ID, j.Watch, j.Rel)
	if err != nil {
		d.retry(ctx, j, wc, err, log)
		return
	}
	if shared {
		log.Info("not deleted on the server: another path is delivered to the same remote object", "remote_id", prev.Remote.ID)
		d.complete(ctx, j, queue.Outcome{Forget: true}, nil, nil, log)
		return
	}
	f := &targets.File{Watch: wc.Path, Rel: j.Rel, Path: filepath.Join(wc.Path, filepath.FromSlash(j.Rel)), OnConflict: wc.OnConflict, Dest: dest, Previous: &prev.Remote}
	del1 := func() error { return del.Delete(ctx, f, prev.Remote) }
	if !d.callTarget(ctx, j, log, del1, func(err error) { d.handleErr(ctx, j, wc, "", err, log) }) {
		return
	}
	deleted := func(bool) {
		log.Info("deleted on the server", "remote_id", prev.Remote.ID)
		d.obs.Delivered(Delivery{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Duration: time.Since(start), Attempt: j.Attempts, Remote: prev.Remote, Deleted: true})
	}
	if ok, requeued := d.complete(ctx, j, queue.Outcome{Forget: true}, nil, deleted, log); ok {
		deleted(requeued)
	}
}

// complete records success; it reports whether that worked and whether
// the job went back to pending because the file changed meanwhile. When a
// runner runs j (runJob), the same commit claims the runner's next job,
// unless the daemon is stopping.
//
// An outcome that cannot be recorded is stranded: housekeeping records it
// later, and then calls then (if set); the job does not run again. The
// name claim hold (if set) stays locked until then, so that no other local
// file takes the remote name while no record says whose it is.
func (d *Daemon) complete(ctx context.Context, j *queue.Job, o queue.Outcome, hold *nameClaim, then func(requeued bool), log *slog.Logger) (ok, requeued bool) {
	d.mu.Lock()
	h := d.handoffs[j.ID]
	d.mu.Unlock()
	var want queue.Want
	if h != nil && h.next == nil && h.run.Err() == nil {
		d.endSlotPhase(h)
		want = d.pipe.want(1) // a runner runs j: it takes its next job from this commit
		want.NameKey = claimKeys(d.current())
	}
	if d.stopping() {
		// The stop has begun: written with the others once the runners
		// are done (see stopWrites).
		d.pipe.got(want, 0)
		d.strand(strandedJob{j: j, o: &o, unlock: hold.take(), then: then})
		return false, false
	}
	requeued, next, err := d.q.CompleteNext(context.WithoutCancel(ctx), j, o, want)
	d.pipe.got(want, len(next))
	if err != nil {
		log.Error("cannot record the outcome; recording it again in the background", "err", err)
		d.strand(strandedJob{j: j, o: &o, unlock: hold.take(), then: then})
		return false, false
	}
	if len(next) > 0 {
		if h.run.Err() == nil {
			h.next = next[0]
		} else { // the stop began while the commit waited: the job stays for the next start
			d.pipe.phaseEnded()
			d.requeue(ctx, next[0], time.Now(), next[0].LastError, true, jobLogger(d.log, next[0].Target, next[0].Rel))
		}
	}
	if requeued {
		d.wake.notify()
	}
	return true, requeued
}

// stopping reports whether the stop has begun (Run's runCtx has ended):
// also true past the drain deadline, when the jobs' context has ended,
// since that ends after runCtx.
func (d *Daemon) stopping() bool {
	select {
	case <-d.runDone:
		return true
	default:
		return false
	}
}

// requeue returns j to pending at the given time; if that cannot be
// recorded, the job is released in the background.
func (d *Daemon) requeue(ctx context.Context, j *queue.Job, at time.Time, msg string, uncounted bool, log *slog.Logger) {
	if d.stopping() { // see stopWrites
		d.strand(strandedJob{j: j, msg: msg, counted: !uncounted})
		return
	}
	if err := d.q.Retry(context.WithoutCancel(ctx), j, at, msg, uncounted); err != nil {
		log.Error("cannot put the job back; retrying in the background", "err", err)
		d.strand(strandedJob{j: j})
		return
	}
	d.wake.notify()
}

// throttled counts a throttling answer from target and returns the streak,
// which sets the backoff when the server gives no Retry-After.
func (d *Daemon) throttled(target string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.throttle[target]++
	return d.throttle[target]
}

// clearThrottle ends a target's throttle streak after a delivery.
func (d *Daemon) clearThrottle(target string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.throttle, target)
}

// strandedJob is a leased job whose outcome or put-back could not be
// written (the database held by another program, a full disk).
type strandedJob struct {
	j *queue.Job
	// o, if set, is the outcome of work that was done (an upload, a remote
	// delete, an after_upload move): housekeeping records it, and the job
	// is not run again for it, which would send the file twice or take a
	// moved file for a deleted one. Without o the job returns to pending.
	o      *queue.Outcome
	unlock func()              // the remote name claim, held until o is recorded
	then   func(requeued bool) // what follows o's recording (the ready marker, the report)
	// A put-back made while the daemon stops (stopWrites): its message,
	// whether its attempt counts, and whether it was ambiguous (the whole
	// file went out before the stop interrupted it: counted as such first).
	msg       string
	counted   bool
	ambiguous bool
}

// strand keeps a job whose outcome or put-back could not be written, so
// housekeeping writes it later instead of leaving the job leased until a
// restart.
func (d *Daemon) strand(s strandedJob) {
	d.mu.Lock()
	d.stranded = append(d.stranded, s)
	d.mu.Unlock()
	d.pokeBusy()
}

// releaseStranded records the stranded outcomes and returns the other
// stranded jobs to pending, in order, until a write fails.
func (d *Daemon) releaseStranded(ctx context.Context) {
	d.mu.Lock()
	js := d.stranded
	d.stranded = nil
	d.mu.Unlock()
	for i := range js {
		if err := d.unstrand(ctx, &js[i]); err != nil {
			d.mu.Lock()
			d.stranded = append(js[i:], d.stranded...)
			d.mu.Unlock()
			return
		}
	}
}

// unstrand writes what s holds; an ambiguous attempt it has counted is
// not counted again if the put-back fails and is tried later.
func (d *Daemon) unstrand(ctx context.Context, s *strandedJob) error {
	if s.o == nil {
		if s.ambiguous {
			if _, err := d.q.CountAttempt(ctx, s.j, s.j.FP, classAmbiguous); err != nil {
				return err
			}
			s.ambiguous = false
		}
		msg := s.msg
		if msg == "" {
			msg = "the outcome could not be recorded; trying again"
		}
		if err := d.q.Retry(ctx, s.j, time.Now(), msg, !s.counted); err != nil {
			return err
		}
		d.wake.notify()
		return nil
	}
	requeued, err := d.q.Complete(ctx, s.j, *s.o)
	if err != nil {
		return err
	}
	jobLogger(d.log, s.j.Target, s.j.Rel).Info("recorded the outcome that could not be written at first")
	if s.unlock != nil {
		s.unlock()
	}
	if s.then != nil {
		s.then(requeued)
	}
	if requeued {
		d.wake.notify()
	}
	return nil
}

// handleErr classifies a failed attempt. A failure about the target
// (credentials rejected, unreachable, throttled, a storm of server errors)
// goes to the health component and the job waits for the target, its
// attempt uncounted; a failure about the file is retried soon or fails.
func (d *Daemon) handleErr(ctx context.Context, j *queue.Job, wc *config.Watch, path string, err error, log *slog.Logger) {
	kind, retryAfter := targets.Classify(err)
	var te *targets.Error
	errors.As(err, &te)
	switch kind {
	case targets.Canceled:
		if d.stopping() {
			// Written once the runners are done (see stopWrites).
			log.Info("upload interrupted by shutdown; it resumes at the next start")
			d.strand(strandedJob{j: j, msg: "interrupted by shutdown", ambiguous: te != nil && te.Ambiguous})
			return
		}
		if te != nil && te.Ambiguous {
			// Stopped after the whole file went out: the next attempt
			// asks the server first (see ambiguous.go).
			if _, err := d.q.CountAttempt(context.WithoutCancel(ctx), j, j.FP, classAmbiguous); err != nil {
				log.Warn("cannot count the ambiguous attempt", "err", err)
			}
		}
		log.Info("upload interrupted by shutdown; it resumes at the next start")
		d.requeue(ctx, j, time.Now(), "interrupted by shutdown", true, log)
	case targets.Throttled, targets.Auth, targets.Unreachable:
		at := d.health.failed(ctx, wc.Target, kind, retryAfter, err)
		log.Debug("the target is not up; the file waits for it", "kind", kind.String(), "err", err)
		d.requeue(context.WithoutCancel(ctx), j, time.Now(), errText(err), true, log)
		d.obs.Failed(Failure{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Kind: kind, Msg: errText(err), Attempt: j.Attempts, RetryAt: at})
	case targets.Retryable:
		if te != nil && te.Ambiguous && d.ambiguous(ctx, j, wc, path, te, log) {
			return
		}
		if te != nil && te.MaxAttempts > 0 {
			n, cerr := d.q.CountAttempt(context.WithoutCancel(ctx), j, j.FP, te.AttemptClass())
			if cerr == nil && n >= te.MaxAttempts {
				d.finishFail(ctx, j, wc, path, fmt.Errorf("gave up after %d attempts: %w", n, err), kind)
				return
			}
		}
		if d.attemptsUsedUp(ctx, j, wc, path, err) {
			return
		}
		if d.health.serverFailed(ctx, wc.Target, err) {
			d.requeue(context.WithoutCancel(ctx), j, time.Now(), errText(err), true, log)
			return
		}
		d.retry(ctx, j, wc, err, log, retryAfter)
	default:
		d.finishFail(ctx, j, wc, path, err, kind)
	}
}

// retry returns j to pending for another attempt after a backoff that
// grows with its attempts (retry.initial doubled per attempt up to
// retry.max, jittered), or after the server's Retry-After, capped by
// retry.max_pause.
func (d *Daemon) retry(ctx context.Context, j *queue.Job, wc *config.Watch, err error, log *slog.Logger, retryAfter ...time.Duration) {
	wait := d.backoff(j.Attempts)
	for _, ra := range retryAfter {
		wait = max(wait, min(ra, d.cfg.Retry.MaxPause.D()))
	}
	at := time.Now().Add(wait)
	log.Warn("upload failed; will retry", "attempt", j.Attempts, "retry_in", wait.Round(time.Millisecond), "err", err)
	d.requeue(ctx, j, at, errText(err), false, log)
	d.obs.Failed(Failure{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Kind: targets.Retryable, Msg: errText(err), Attempt: j.Attempts, RetryAt: at})
}

// attemptsUsedUp fails j for good when it has had retry.max_attempts
// attempts, and reports whether it did: a retryable failure's last word.
func (d *Daemon) attemptsUsedUp(ctx context.Context, j *queue.Job, wc *config.Watch, path string, err error) bool {
	if limit := d.cfg.Retry.MaxAttempts; limit <= 0 || j.Attempts < limit {
		return false
	}
	d.finishFail(ctx, j, wc, path, fmt.Errorf("gave up after %d attempts: %w", j.Attempts, err), targets.Retryable)
	return true
}

// backoff is the wait before attempt n+1: retry.initial doubled per
// attempt, capped at retry.max, with jitter over its upper half.
func (d *Daemon) backoff(attempt int) time.Duration {
	base, ceiling := d.cfg.Retry.Initial.D(), d.cfg.Retry.Max.D()
	w := base
	for i := 1; i < attempt && w < ceiling; i++ {
		w *= 2
	}
	w = min(w, ceiling)
	return w/2 + rand.N(w/2+1)
}

// waitHorizon is twice the longest wait the daemon gives a job or a
// target (a retry's backoff and a pause, capped by retry as started; a
// settle of the watches w): the queue takes a wait that ends further ahead
// for one set before the wall clock stepped back (queue.SetHorizon).
func waitHorizon(r config.Retry, w []*config.Watch) time.Duration {
	h := max(r.Max.D(), r.MaxPause.D())
	for _, wc := range w {
		h = max(h, wc.Settle.D())
	}
	return 2 * h
}

// errText is err's text as the daemon records it: without any credential
// (see package redact).
func errText(err error) string { return redact.String(err.Error()) }

// finishFail puts a job on the failed list and applies failed_to.
func (d *Daemon) finishFail(ctx context.Context, j *queue.Job, wc *config.Watch, path string, err error, kind targets.Kind) {
	msg := errText(err)
	target := j.Target
	if wc != nil {
		target = wc.Target
	}
	log := jobLogger(d.log, target, j.Rel)
	requeued, ferr := d.q.Fail(context.WithoutCancel(ctx), j, msg)
	if ferr != nil {
		log.Error("cannot record failure; the job runs again", "err", ferr)
		d.strand(strandedJob{j: j})
		return
	}
	if err := d.q.ClearAttempts(context.WithoutCancel(ctx)); err != nil {
		log.Warn("cannot clear the attempts of finished jobs", "err", err)
	}
	if requeued {
		log.Warn("upload failed, but the file changed meanwhile; trying the new content", "err", msg)
		d.wake.notify()
		return
	}
	log.Error("upload failed permanently", "kind", kind.String(), "attempt", j.Attempts, "err", msg)
	d.obs.Failed(Failure{Target: target, Watch: j.Watch, Rel: j.Rel, Kind: kind, Msg: msg, Attempt: j.Attempts, Final: true})
	if wc != nil && wc.FailedTo != "" && path != "" {
		note := fmt.Sprintf("file: %s\ntarget: %s\ntime: %s\nattempts: %d\nerror: %s\n", j.Rel, target, time.Now().Format(time.RFC3339), j.Attempts, msg)
		d.park(ctx, wc, j, note, log)
	}
	if wc != nil {
		d.folderMarkerDone(context.WithoutCancel(ctx), wc, j, log) // a failed file may end its batch
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// keyLock is a set of named locks.
type keyLock struct {
	mu   sync.Mutex
	held map[string]chan struct{}
}

// lock takes the lock named key, waiting while another holder has it.
func (k *keyLock) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		k.mu.Lock()
		if k.held == nil {
			k.held = map[string]chan struct{}{}
		}
		ch, busy := k.held[key]
		if !busy {
			ch = make(chan struct{})
			k.held[key] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.held, key)
				k.mu.Unlock()
				close(ch)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// signal wakes every waiting worker at once.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// wait returns a channel closed by the next notify.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// Wake makes idle workers look for work now, e.g. after `queue retry`
// changed the queue from outside the daemon's own paths.
func (d *Daemon) Wake() { d.wake.notify() }
