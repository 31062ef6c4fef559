// Package daemon wires dropsync together: one watcher per watch feeds the
// queue, and a pool of workers claims jobs and delivers files through the
// targets, retrying with backoff, pausing throttled targets, and moving
// permanent failures to the failed list.
//
// Failures are sorted by what they are about. Failures about a target
// (credentials rejected, unreachable, throttled, a storm of server errors)
// belong to the health component (health.go): the target leaves up, its
// jobs wait pending and uncounted, and only its probe talks to it. Failures
// about a file are retried soon or failed. An attempt whose answer was lost
// after the whole file was sent is asked about before it is sent again, or
// its re-sends are bounded (ambiguous.go).
//
// Invariant (claims.go): per target folder, a remote name as the server
// folds and sanitises it belongs to one existing local path; a second path
// meeting it fails naming both, or with on_conflict rename takes the next
// free name(N).ext.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/watcher"
)

// Options are the daemon's collaborators besides the configuration.
type Options struct {
	Log      *slog.Logger
	Observer Observer // may be nil
	// ProgressInterval is how often upload progress is recorded and
	// reported (default 1s).
	ProgressInterval time.Duration
}

// Daemon is a running dropsync.
type Daemon struct {
	cfg     *config.Config
	log     *slog.Logger
	obs     Observer
	q       *queue.Queue
	set     *targets.Set
	watches map[string]int // watch root → index in cfg.Watches
	release func()

	watchers      []*watcher.Watcher
	wake          *signal
	progressEvery time.Duration

	mu       sync.Mutex
	inflight map[int64]*flight
	ownMoves map[string]time.Time // watch+"\x00"+rel the daemon removed itself
	stranded []*queue.Job         // leased jobs whose outcome could not be written
	throttle map[string]int       // target → throttled answers since its last delivery
	names    keyLock              // remote names being uploaded, for targets without folders
	claims   keyLock              // remote names being uploaded, for targets.NameKeyer (claims.go)

	enq enqueueHealth // watches whose batches the queue refuses now

	health *health // every target's state: up, throttled, down, credentials rejected
}

type flight struct {
	job    *queue.Job
	target string
	total  int64
	sent   atomic.Int64
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
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	d := &Daemon{cfg: cfg, log: o.Log, obs: o.Observer, progressEvery: o.ProgressInterval, q: q, set: set, release: release, watches: map[string]int{},
		wake: newSignal(), inflight: map[int64]*flight{}, ownMoves: map[string]time.Time{}, throttle: map[string]int{}}
	for i, w := range cfg.Watches {
		d.watches[w.Path] = i
	}
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
	d.mu.Lock()
	ws := d.watchers
	d.mu.Unlock()
	for _, w := range ws {
		if err := w.Health(); err != nil {
			return err
		}
	}
	if err := d.enq.health(); err != nil {
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
	defer d.set.Close()
	defer d.q.Close()

	// runCtx ends with ctx or with a fatal error; uploads run under
	// workCtx, which outlives it by the drain deadline.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
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
	errc := make(chan error, len(d.cfg.Watches)+1)
	for i, wc := range d.cfg.Watches {
		w, err := watcher.New(watcher.Options{
			Root: wc.Path, Recursive: wc.IsRecursive(), Include: wc.Include, Exclude: wc.Exclude, Ignore: wc.Ignore,
			Settle: wc.Settle.D(), FollowSymlinks: wc.FollowLinks, EmitDeletes: wc.Deletes == "propagate",
			Reconcile: d.cfg.Reconcile.D(), Log: d.log, OnOverflow: d.obs.Overflow, OnEvent: d.obs.WatchEvent,
			Mode: wc.Mode, PollInterval: wc.PollInterval.D(), ReadyMarker: wc.ReadyMarker, MinAge: wc.MinAge.D(),
		})
		if err != nil {
			errc <- fmt.Errorf("watch %s: %w", wc.Path, err)
			break
		}
		d.mu.Lock()
		d.watchers = append(d.watchers, w)
		d.mu.Unlock()
		events := make(chan []watcher.Event, 4)
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := w.Run(runCtx, events); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("watch %s: %w", wc.Path, err)
			}
		}()
		go func() {
			defer wg.Done()
			d.enqueueLoop(runCtx, i, events)
		}()
	}
	d.log.Info("dropsync started", "watches", len(d.cfg.Watches), "targets", len(d.cfg.Targets), "workers", d.cfg.Workers, "state_dir", d.cfg.StateDir)

	var workers sync.WaitGroup
	jobs := make(chan *queue.Job)
	freed := make(chan struct{}, d.cfg.Workers)
	for range d.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				d.process(workCtx, j)
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

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		d.log.Error("stopping: a watch cannot work", "err", runErr)
	}
	stopRun()
	wg.Wait()
	if runErr != nil {
		cancelWork() // a fatal error: do not wait for the drain
	}
	workers.Wait()
	d.log.Info("dropsync stopped")
	return runErr
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

func (d *Daemon) tookOwnMove(watch, rel string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := watch + "\x00" + rel
	_, ok := d.ownMoves[k]
	delete(d.ownMoves, k)
	return ok
}

// dispatch claims jobs for idle workers, as many as are idle in one
// transaction, until ctx ends; then it closes jobs. Between claims it sleeps
// until new work is queued, a worker frees up, or the next retry is due; it
// never polls in a loop.
func (d *Daemon) dispatch(ctx context.Context, jobs chan<- *queue.Job, freed <-chan struct{}) {
	defer close(jobs)
	idle := d.cfg.Workers
	for ctx.Err() == nil {
		for idle == 0 {
			select {
			case <-ctx.Done():
				return
			case <-freed:
				idle++
			}
		}
		for drained := false; !drained; { // claim for every worker that is free by now
			select {
			case <-freed:
				idle++
			default:
				drained = true
			}
		}
		wakeCh := d.wake.wait()
		js, err := d.q.ClaimN(ctx, idle)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("claim failed", "err", err)
				if !sleepCtx(ctx, time.Second) {
					return
				}
			}
			continue
		}
		for _, j := range js {
			jobs <- j // a worker is idle for each
			idle--
		}
		if len(js) > 0 {
			continue
		}
		wait := time.Minute
		if t, ok, err := d.q.NextReady(ctx); err == nil && ok {
			wait = min(max(time.Until(t), time.Millisecond), time.Minute)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-wakeCh:
		case <-freed:
			idle++
		case <-timer.C:
		}
		timer.Stop()
	}
}

// housekeeping persists upload progress for `dropsync status`, notices
// jobs changed by other processes, and applies the retention policy.
func (d *Daemon) housekeeping(ctx context.Context) {
	pruned := make(chan struct{})
	go func() { defer close(pruned); d.pruneLoop(ctx) }()
	defer func() { <-pruned }()
	progress := time.NewTicker(d.progressEvery)
	defer progress.Stop()
	lastVersion, _ := d.q.DataVersion(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-progress.C:
			d.releaseStranded(ctx)
			// Work queued by another process (queue retry) wakes the workers.
			if v, err := d.q.DataVersion(ctx); err == nil && v != lastVersion {
				lastVersion = v
				d.takeTargetRequests(ctx)
				d.wake.notify()
			}
			d.mu.Lock()
			fl := make([]*flight, 0, len(d.inflight))
			for _, f := range d.inflight {
				fl = append(fl, f)
			}
			d.mu.Unlock()
			for _, f := range fl {
				sent := f.sent.Load()
				d.obs.Progress(f.target, f.job.Rel, sent, f.total)
				if err := d.q.SetProgress(ctx, f.job.ID, sent); err != nil && ctx.Err() == nil {
					d.log.Debug("record progress", "err", err)
				}
			}
		}
	}
}

// process runs one leased job to an outcome: delivered, deleted, retried,
// or failed.
func (d *Daemon) process(ctx context.Context, j *queue.Job) {
	idx, ok := d.watches[j.Watch]
	if !ok {
		d.finishFail(ctx, j, nil, "", fmt.Errorf("the watch %s is no longer configured", j.Watch), targets.Permanent)
		return
	}
	wc := d.cfg.Watches[idx]
	tgt := d.set.Targets[wc.Target]
	log := d.log.With("target", wc.Target, "path", j.Rel)
	if d.health.holds(j) { // claimed just before its target stopped being up
		d.requeue(ctx, j, time.Now(), j.LastError, true, log)
		return
	}
	path := filepath.Join(wc.Path, filepath.FromSlash(j.Rel))
	prev, err := d.q.FileState(ctx, j.Watch, j.Rel)
	if err != nil {
		d.retry(ctx, j, wc, err, log)
		return
	}
	if prev != nil && prev.Target != wc.Target {
		prev = nil // delivered to another target before; this one has no record
	}
	start := time.Now()
	fp, fi, err := fsid.StatFollow(path, wc.FollowLinks)
	missing := errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular())
	if missing && !j.Gone && d.restoreFailed(ctx, wc, j, path, log) {
		fp, fi, err = fsid.StatFollow(path, wc.FollowLinks)
		missing = errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular())
	}
	if missing {
		d.gone(ctx, j, wc, tgt, prev, start, log)
		return
	}
	if err != nil {
		d.finishFail(ctx, j, wc, path, err, targets.Permanent)
		return
	}
	if prev != nil && prev.FP == fp {
		// Delivered before, unchanged: only after_upload may be left to do
		// (a stop between recording the delivery and moving the file).
		if ok, requeued := d.complete(ctx, j, queue.Outcome{}, log); ok && !requeued {
			d.afterUpload(ctx, wc, path, j.Rel, log)
		}
		return
	}
	if prev != nil && prev.FP.Size == fp.Size && prev.SHA256 != "" && fp == j.FP {
		// Same size, new mtime or inode (touched, restored from a backup):
		// compare contents before sending them again.
		if sum, err := hashFile(ctx, path); err == nil && sum == prev.SHA256 {
			log.Debug("content unchanged since delivery; not sent again")
			state := &queue.FileState{FP: fp, SHA256: prev.SHA256, Remote: prev.Remote}
			if ok, requeued := d.complete(ctx, j, queue.Outcome{Delivered: state}, log); ok && !requeued {
				d.afterUpload(ctx, wc, path, j.Rel, log)
			}
			return
		}
	}
	if fp != j.FP {
		// The file is not what settled (a retry fired while it was being
		// rewritten): send it only once it holds still for settle.
		msg := "the file changed since it settled; waiting for it to hold still"
		log.Debug(msg)
		if err := d.q.Defer(context.WithoutCancel(ctx), j, fp, time.Now().Add(wc.Settle.D()), msg); err != nil {
			log.Error("cannot put the job back; retrying in the background", "err", err)
			d.strand(j)
		}
		return
	}
	f := &targets.File{Watch: wc.Path, Rel: j.Rel, Path: path, Size: fi.Size(), ModTime: fi.ModTime(), OnConflict: wc.OnConflict, Dest: d.set.Dests[idx]}
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
	claim, err := d.checkName(ctx, wc, tgt, f)
	if err != nil {
		d.handleErr(ctx, j, wc, path, err, log)
		return
	}
	defer claim.release()
	if done := d.landed(ctx, j, wc, tgt, f, fp, claim, log); done {
		return
	}
	fl := &flight{job: j, target: wc.Target, total: f.Size}
	d.mu.Lock()
	d.inflight[j.ID] = fl
	d.mu.Unlock()
	res, err := targets.Deliver(ctx, tgt, d.cfg.Targets[wc.Target], f, d.q.Sessions(j.Watch, j.Rel, wc.Target), func(n int64) { fl.sent.Store(n) })
	d.mu.Lock()
	delete(d.inflight, j.ID)
	d.mu.Unlock()
	if err != nil {
		d.handleErr(ctx, j, wc, path, err, log)
		return
	}
	after, _, err := fsid.StatFollow(path, wc.FollowLinks)
	if err != nil || after != fp {
		// The file changed while it was sent: do not mark it delivered.
		msg := "the file changed while it was being sent; sending it again once it settles"
		log.Info(msg)
		d.requeue(ctx, j, time.Now().Add(wc.Settle.D()), msg, true, log)
		return
	}
	state := &queue.FileState{FP: fp, SHA256: res.SHA256, Remote: res.Remote}
	ok, requeued := d.complete(ctx, j, queue.Outcome{Delivered: state, Names: claim.keys(f, res.Remote)}, log)
	claim.release()
	if !ok {
		return
	}
	dl := Delivery{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Bytes: f.Size, Duration: time.Since(start), Attempt: j.Attempts,
		Remote: res.Remote, SHA256: res.SHA256, Skipped: res.Skipped, Chunked: res.Chunked, Resumed: res.Resumed}
	if res.Skipped {
		log.Info("skipped: already on the server (on_conflict: skip)", "remote_id", res.Remote.ID)
	} else {
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
	d.health.succeeded(ctx, wc.Target)
	if !requeued { // the file changed meanwhile: it must stay for its next upload
		d.afterUpload(ctx, wc, path, j.Rel, log)
	}
}

// gone handles a job whose file no longer exists. The recorded remote
// object is deleted only with deletes: propagate and when the watcher saw a
// deletion (j.Gone); a file that vanished otherwise (moved by after_upload,
// say) leaves the server alone.
func (d *Daemon) gone(ctx context.Context, j *queue.Job, wc *config.Watch, tgt targets.Target, prev *queue.FileState, start time.Time, log *slog.Logger) {
	del, canDelete := tgt.(targets.Deleter)
	if wc.Deletes != "propagate" || prev == nil || !canDelete || !j.Gone {
		d.complete(ctx, j, queue.Outcome{}, log)
		return
	}
	// Targets without folders map equal base names to one object: after a
	// folder rename, the object may already hold the file's new path.
	shared, err := d.q.RemoteShared(ctx, wc.Target, prev.Remote.ID, j.Watch, j.Rel)
	if err != nil {
		d.retry(ctx, j, wc, err, log)
		return
	}
	if shared {
		log.Info("not deleted on the server: another path is delivered to the same remote object", "remote_id", prev.Remote.ID)
		d.complete(ctx, j, queue.Outcome{Forget: true}, log)
		return
	}
	f := &targets.File{Watch: wc.Path, Rel: j.Rel, Path: filepath.Join(wc.Path, filepath.FromSlash(j.Rel)), OnConflict: wc.OnConflict, Dest: d.set.Dests[d.watches[wc.Path]], Previous: &prev.Remote}
	if err := del.Delete(ctx, f, prev.Remote); err != nil {
		d.handleErr(ctx, j, wc, "", err, log)
		return
	}
	if ok, _ := d.complete(ctx, j, queue.Outcome{Forget: true}, log); ok {
		log.Info("deleted on the server", "remote_id", prev.Remote.ID)
		d.obs.Delivered(Delivery{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Duration: time.Since(start), Attempt: j.Attempts, Remote: prev.Remote, Deleted: true})
	}
}

// complete records success; it reports whether that worked and whether
// the job went back to pending because the file changed meanwhile. A job
// whose outcome cannot be recorded is released in the background and runs
// again.
func (d *Daemon) complete(ctx context.Context, j *queue.Job, o queue.Outcome, log *slog.Logger) (ok, requeued bool) {
	requeued, err := d.q.Complete(context.WithoutCancel(ctx), j, o)
	if err != nil {
		log.Error("cannot record the outcome; the job runs again", "err", err)
		d.strand(j)
		return false, false
	}
	if requeued {
		d.wake.notify()
	}
	return true, requeued
}

// requeue returns j to pending at the given time; if that cannot be
// recorded, the job is released in the background.
func (d *Daemon) requeue(ctx context.Context, j *queue.Job, at time.Time, msg string, uncounted bool, log *slog.Logger) {
	if err := d.q.Retry(context.WithoutCancel(ctx), j, at, msg, uncounted); err != nil {
		log.Error("cannot put the job back; retrying in the background", "err", err)
		d.strand(j)
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

// strand keeps a job whose outcome could not be written (database busy,
// disk full) so housekeeping returns it to pending instead of leaving it
// leased until a restart.
func (d *Daemon) strand(j *queue.Job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stranded = append(d.stranded, j)
}

// releaseStranded returns stranded jobs to pending.
func (d *Daemon) releaseStranded(ctx context.Context) {
	d.mu.Lock()
	js := d.stranded
	d.stranded = nil
	d.mu.Unlock()
	for i, j := range js {
		if err := d.q.Retry(ctx, j, time.Now(), "the outcome could not be recorded; trying again", true); err != nil {
			d.mu.Lock()
			d.stranded = append(d.stranded, js[i:]...)
			d.mu.Unlock()
			return
		}
		d.wake.notify()
	}
}

// restoreFailed moves a file back from failed_to for another attempt (after
// `queue retry`), removing its .error.txt note; it reports whether it did.
// Only the very file that failed comes back (same size and mtime as the
// job recorded): a copy parked there earlier must not replace a file the
// user has deleted since.
func (d *Daemon) restoreFailed(ctx context.Context, wc *config.Watch, j *queue.Job, path string, log *slog.Logger) bool {
	if wc.FailedTo == "" {
		return false
	}
	src := filepath.Join(wc.FailedTo, filepath.FromSlash(j.Rel))
	fp, fi, err := fsid.Stat(src)
	if err != nil || !fi.Mode().IsRegular() || fp.Size != j.FP.Size || fp.ModTime != j.FP.ModTime {
		return false
	}
	if err := moveFile(src, path); err != nil {
		log.Error("cannot move the file back from failed_to", "err", err)
		return false
	}
	os.Remove(src + ".error.txt")
	log.Info("moved back from failed_to for another attempt", "from", src)
	return true
}

// afterUpload applies after_upload: keep, delete or move. The state
// records that dropsync moved the file away itself, so that neither the
// file's deletion event nor a later deletion of its folder is taken for the
// user's.
func (d *Daemon) afterUpload(ctx context.Context, wc *config.Watch, path, rel string, log *slog.Logger) {
	var err error
	switch wc.AfterUpload {
	case "delete":
		d.noteOwnMove(wc.Path, rel)
		err = os.Remove(path)
	case "move":
		d.noteOwnMove(wc.Path, rel)
		err = moveFile(path, filepath.Join(wc.MoveTo, filepath.FromSlash(rel)))
	default:
		d.readyMarkerDone(ctx, wc, path, rel, log)
		return
	}
	if err != nil {
		log.Error("after_upload "+wc.AfterUpload+" failed; trying again at the next scan", "err", err)
		return
	}
	if err := d.q.MarkMovedAway(context.WithoutCancel(ctx), wc.Path, rel); err != nil {
		log.Error("cannot record the after_upload "+wc.AfterUpload, "err", err)
	}
	d.readyMarkerDone(ctx, wc, path, rel, log)
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
		log.Info("upload interrupted by shutdown; it resumes at the next start")
		d.requeue(ctx, j, time.Now(), "interrupted by shutdown", true, log)
	case targets.Throttled, targets.Auth, targets.Unreachable:
		at := d.health.failed(ctx, wc.Target, kind, retryAfter, err)
		log.Debug("the target is not up; the file waits for it", "kind", kind.String(), "err", err)
		d.requeue(context.WithoutCancel(ctx), j, time.Now(), err.Error(), true, log)
		d.obs.Failed(Failure{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Kind: kind, Msg: err.Error(), Attempt: j.Attempts, RetryAt: at})
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
		if limit := d.cfg.Retry.MaxAttempts; limit > 0 && j.Attempts >= limit {
			d.finishFail(ctx, j, wc, path, fmt.Errorf("gave up after %d attempts: %w", j.Attempts, err), kind)
			return
		}
		if d.health.serverFailed(ctx, wc.Target, err) {
			d.requeue(context.WithoutCancel(ctx), j, time.Now(), err.Error(), true, log)
			return
		}
		d.retry(ctx, j, wc, err, log, retryAfter)
	default:
		d.finishFail(ctx, j, wc, path, err, kind)
	}
}

// retry returns j to pending for another attempt soon (see soon), or
// after the server's Retry-After, capped by retry.max_pause.
func (d *Daemon) retry(ctx context.Context, j *queue.Job, wc *config.Watch, err error, log *slog.Logger, retryAfter ...time.Duration) {
	wait := d.soon()
	for _, ra := range retryAfter {
		wait = max(wait, min(ra, d.cfg.Retry.MaxPause.D()))
	}
	at := time.Now().Add(wait)
	log.Warn("upload failed; will retry", "attempt", j.Attempts, "retry_in", wait.Round(time.Millisecond), "err", err)
	d.requeue(ctx, j, at, err.Error(), false, log)
	d.obs.Failed(Failure{Target: wc.Target, Watch: wc.Path, Rel: j.Rel, Kind: targets.Retryable, Msg: err.Error(), Attempt: j.Attempts, RetryAt: at})
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

// finishFail puts a job on the failed list and applies failed_to.
func (d *Daemon) finishFail(ctx context.Context, j *queue.Job, wc *config.Watch, path string, err error, kind targets.Kind) {
	msg := err.Error()
	target := j.Target
	if wc != nil {
		target = wc.Target
	}
	log := d.log.With("target", target, "path", j.Rel)
	requeued, ferr := d.q.Fail(context.WithoutCancel(ctx), j, msg)
	if ferr != nil {
		log.Error("cannot record failure; the job runs again", "err", ferr)
		d.strand(j)
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
		dst := filepath.Join(wc.FailedTo, filepath.FromSlash(j.Rel))
		d.noteOwnMove(wc.Path, j.Rel)
		if err := moveFile(path, dst); err != nil {
			log.Error("failed_to move failed", "err", err)
			return
		}
		if err := d.q.MarkMovedAway(context.WithoutCancel(ctx), j.Watch, j.Rel); err != nil {
			log.Error("cannot record the move to failed_to", "err", err)
		}
		note := fmt.Sprintf("file: %s\ntarget: %s\ntime: %s\nattempts: %d\nerror: %s\n", j.Rel, target, time.Now().Format(time.RFC3339), j.Attempts, msg)
		if err := os.WriteFile(dst+".error.txt", []byte(note), 0o600); err != nil {
			log.Error("cannot write error note", "err", err)
		}
	}
}

// moveFile renames src to dst, creating dst's folders (0700), falling back
// to copy and remove across file systems.
func moveFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.ReadFrom(in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if fi, err := in.Stat(); err == nil {
		_ = os.Chtimes(dst, fi.ModTime(), fi.ModTime()) // keep the identity restoreFailed checks
	}
	return os.Remove(src)
}

// hashFile returns the hex SHA-256 of the file at path.
func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
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
