package daemon

// Reload: a running daemon takes a new configuration without dropping
// uploads in flight.
//
// Invariants:
//   - Every job runs start to end on one generation: the configuration and
//     target clients that were current when the job started. A reload makes
//     a new generation current; the old one's clients are closed once its
//     last job has finished, and Run returns only after that (unless a
//     runner is blocked in a file system call past the stop's deadline:
//     see waitRunners). Changed targets therefore get new clients for
//     new jobs while uploads in flight finish on the old ones.
//   - A new configuration is applied whole or not at all: its folders are
//     checked (Options.CheckFolders), its targets built and its watchers
//     created before anything changes. A refused configuration leaves the
//     old one running.
//   - Nothing on the loop that applies reloads and takes the stop
//     (serveReloads) waits on a watch's file system, which may hang (a
//     hard-mounted share whose server is gone): the folders are checked
//     on the caller's goroutine (Reload), a new watcher touches no file
//     system before it runs (watcher.New), and a stopped watch is waited
//     for at most shutdown_timeout (waitRun).
//   - As at start, a missing watch folder waits and folders beyond the
//     inotify budget are polled (package watcher).
//   - Watches are matched by path. An added watch starts (with its start-up
//     scan); a removed watch's watcher stops and its uploads in flight
//     finish (its jobs still pending are dropped, not failed, as at a
//     restart: a watch added back queues their files again); a changed watch gets a new watcher (a fresh scan) and new
//     jobs take its new settings.
//   - Settings that only a start reads (state_dir, workers, shutdown_timeout,
//     retry, reconcile_interval, log, metrics) are not applied; the reload
//     says which of them changed. A changed state_dir refuses the reload.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/targets"
	"github.com/dropsync/dropsync/watcher"
)

// Lifecycle is told of the daemon's state, for a service manager
// (sd_notify). Calls must not block.
type Lifecycle interface {
	// Ready: the queue is open and every watch's start-up scan has run.
	Ready()
	// Stopping: a stop has begun; no new uploads start, those in flight
	// get shutdown_timeout to finish.
	Stopping()
}

// generation is one applied configuration with its target clients.
type generation struct {
	cfg     *config.Config
	set     *targets.Set
	watches map[string]int          // watch root → index in cfg.Watches
	covers  []func(rel string) bool // per watch: does it deliver the file at rel (watcher.Covers)
	users   sync.WaitGroup          // jobs running on this generation
}

func newGeneration(c *config.Config, set *targets.Set) *generation {
	g := &generation{cfg: c, set: set, watches: map[string]int{}, covers: make([]func(string) bool, len(c.Watches))}
	for i, w := range c.Watches {
		g.watches[w.Path] = i
		covers, err := watcher.Covers(watchOptions(w))
		if err != nil { // refused by config validation already
			covers = func(string) bool { return true }
		}
		g.covers[i] = covers
	}
	return g
}

// done ends one job's use of g.
func (g *generation) done() { g.users.Done() }

// acquire returns the current generation for one job, which must call done.
func (d *Daemon) acquire() *generation {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen.users.Add(1) // under d.mu: never after the generation was retired
	return d.gen
}

// jobKey is the context key of the generation a job runs on.
type jobKey struct{}

// withJob returns the context of a job that holds g (from acquire until
// done): what its later steps ask of the configuration or the targets
// (jobGeneration) is g's, not that of whatever generation a reload made
// current meanwhile.
func withJob(ctx context.Context, g *generation) context.Context {
	return context.WithValue(ctx, jobKey{}, g)
}

// jobGeneration returns the generation of the job that runs under ctx
// (withJob). Only a job's own steps call it: without one it panics.
func jobGeneration(ctx context.Context) *generation {
	g, ok := ctx.Value(jobKey{}).(*generation)
	if !ok {
		panic("daemon: jobGeneration outside a job")
	}
	return g
}

// current returns the current generation without using it.
func (d *Daemon) current() *generation {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gen
}

// retire closes the clients of old, which a reload replaced, once its last
// job has finished; retireGeneration waits for it.
func (d *Daemon) retire(old *generation) {
	d.retiring.Add(1)
	go func() {
		defer d.retiring.Done()
		old.users.Wait()
		old.set.Close()
	}()
}

// retireGeneration, at the end of Run, waits until the clients of every
// generation a reload replaced are closed and closes the current one's:
// nothing of the daemon runs on after Run but what is blocked in a file
// system call (see waitRunners). The wait is bounded by the shutdown
// deadline: Run gets here only after its workers (whose uploads the
// deadline cuts) and health loops have returned, so no job holds a
// generation any more; when a runner was left behind, holding its
// generation, the current clients are closed without waiting.
func (d *Daemon) retireGeneration() {
	if d.runnersLeft {
		d.current().set.Close()
		return
	}
	d.retiring.Wait()
	g := d.current()
	g.users.Wait()
	g.set.Close()
}

// watchRun is one running watcher and its enqueue loop.
type watchRun struct {
	wc     *config.Watch
	w      *watcher.Watcher
	cancel context.CancelFunc
	done   chan struct{} // closed when both goroutines have returned
}

// reloadState is the daemon's part for reloads and readiness.
type reloadState struct {
	lifecycle    Lifecycle
	checkFolders func(context.Context, *config.Config) error
	reloads      chan reloadRequest
	stopped      chan struct{}      // closed when Run stops taking reloads
	alive        chan chan struct{} // Alive's questions; housekeeping closes each

	runMu   sync.Mutex
	running map[string]*watchRun // by watch root; changed only by Run's goroutine
	behind  []*watchRun          // stopped by a reload but not ended (see waitRun)

	retiring sync.WaitGroup // replaced generations whose clients are not closed yet (retire)
}

type reloadRequest struct {
	cfg    *config.Config
	result chan error
}

func (d *Daemon) initReload(o Options) {
	d.lifecycle = o.Lifecycle
	d.checkFolders = o.CheckFolders
	d.reloads = make(chan reloadRequest)
	d.stopped = make(chan struct{})
	d.alive = make(chan chan struct{})
	d.running = map[string]*watchRun{}
}

// ErrNotRunning is returned by Reload when the daemon is not running.
var ErrNotRunning = errors.New("the daemon is not running")

// Reload applies c to the running daemon, or refuses it and keeps the
// configuration it runs with. It returns once the new configuration is in
// effect (or refused). The folders are checked here, on the caller's
// goroutine, not on the loop that applies reloads and takes the stop: a
// folder on a mount that hangs holds this reload only.
func (d *Daemon) Reload(ctx context.Context, c *config.Config) error {
	if d.checkFolders != nil {
		if err := d.checkFolders(ctx, c); err != nil {
			d.log.Error("reload refused; the running configuration stays", "err", err)
			return err
		}
	}
	r := reloadRequest{cfg: c, result: make(chan error, 1)}
	select {
	case d.reloads <- r:
	case <-d.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runningWatchers lists the watchers that run now.
func (d *Daemon) runningWatchers() []*watcher.Watcher {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	ws := make([]*watcher.Watcher, 0, len(d.running))
	for _, r := range d.running {
		ws = append(ws, r.w)
	}
	return ws
}

// Alive returns nil while the daemon's housekeeping loop answers and its
// database does, within ctx: what a service manager's watchdog asks. The
// loop is asked, not timed, so an idle daemon needs no timer of its own. A
// missing watch folder does not count (Health reports it; a restart would
// not bring it back).
func (d *Daemon) Alive(ctx context.Context) error {
	if err := d.q.Ping(ctx); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	reply := make(chan struct{})
	select {
	case d.alive <- reply:
	case <-d.stopped:
		return ErrNotRunning
	case <-ctx.Done():
		return fmt.Errorf("housekeeping does not answer: %w", ctx.Err())
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("housekeeping does not answer: %w", ctx.Err())
	}
}

// startWatches starts a watcher for every watch of the first generation
// and tells the lifecycle Ready once all of them have scanned, or are
// stuck in a file-system call (readyStuck without progress: a mount that
// hangs), which would otherwise hold READY, and with it a systemd start,
// for as long as the mount hangs. A large tree scanned slowly is
// progress: Ready waits for it.
func (d *Daemon) startWatches(ctx context.Context, wg *sync.WaitGroup, errc chan<- error) {
	g := d.current()
	var scans sync.WaitGroup
	type starting struct {
		w       *watcher.Watcher
		path    string
		scanned atomic.Bool
	}
	var started []*starting
	for _, wc := range g.cfg.Watches {
		var once sync.Once
		scans.Add(1)
		st := &starting{path: wc.Path}
		scanned := func() { once.Do(func() { st.scanned.Store(true); scans.Done() }) }
		w, err := d.newWatcher(wc, scanned)
		if err != nil {
			scanned()
			fail(errc, fmt.Errorf("watch %s: %w", wc.Path, err))
			break
		}
		st.w = w
		started = append(started, st)
		d.runWatch(ctx, wg, errc, wc, w, scanned)
	}
	if d.lifecycle == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		scanned := make(chan struct{})
		go func() { scans.Wait(); close(scanned) }()
		tick := time.NewTicker(readyStuck / 10) // only until ready
		defer tick.Stop()
		for {
			select {
			case <-scanned:
				if ctx.Err() == nil {
					d.lifecycle.Ready()
				}
				return
			case <-tick.C:
				var stuck []string
				for _, st := range started {
					if !st.scanned.Load() {
						if !st.w.Stalled(readyStuck) {
							stuck = nil
							break
						}
						stuck = append(stuck, st.path)
					}
				}
				if len(stuck) == 0 {
					continue
				}
				for _, p := range stuck {
					d.log.Warn("the watch's first scan has made no progress for "+readyStuck.String()+" (a mount that hangs?); ready without it, and it goes on when the mount answers", "watch", p)
				}
				if ctx.Err() == nil {
					d.lifecycle.Ready()
				}
				return
			case <-ctx.Done():
				return
			}
		}
	}()
}

// readyStuck is how long a watch's first scan may make no progress before
// the daemon is ready without it.
var readyStuck = 10 * time.Second

func (d *Daemon) newWatcher(wc *config.Watch, scanned func()) (*watcher.Watcher, error) {
	o := watchOptions(wc)
	o.Reconcile, o.Log, o.OnOverflow, o.OnEvent, o.OnScanned = d.cfg.Reconcile.D(), d.log, d.obs.Overflow, d.obs.WatchEvent, scanned
	o.StuckAfter = d.cfg.Metrics.UnhealthyAfter.D() // /healthz fails for a watch stuck that long, as for a target down
	return watcher.New(o)
}

// watchOptions are the watcher options the watch's configuration gives.
func watchOptions(wc *config.Watch) watcher.Options {
	return watcher.Options{
		Root: wc.Path, Recursive: wc.IsRecursive(), Include: wc.Include, Exclude: wc.Exclude, Ignore: wc.Ignore,
		Settle: wc.Settle.D(), FollowSymlinks: wc.FollowLinks, EmitDeletes: wc.Deletes == "propagate",
		Mode: wc.Mode, PollInterval: wc.PollInterval.D(), ReadyMarker: wc.ReadyMarker, MinAge: wc.MinAge.D(),
	}
}

// runWatch runs w and its enqueue loop until ctx ends or the watch is
// stopped by a reload. A watcher that fails is fatal, as at start.
func (d *Daemon) runWatch(ctx context.Context, wg *sync.WaitGroup, errc chan<- error, wc *config.Watch, w *watcher.Watcher, scanned func()) {
	wctx, cancel := context.WithCancel(ctx)
	r := &watchRun{wc: wc, w: w, cancel: cancel, done: make(chan struct{})}
	d.runMu.Lock()
	d.running[wc.Path] = r
	d.runMu.Unlock()
	events := make(chan []watcher.Event, 4)
	var both sync.WaitGroup
	both.Add(2)
	wg.Add(3)
	go func() {
		defer wg.Done()
		defer both.Done()
		defer scanned() // also when the start-up scan failed
		if err := w.Run(wctx, events); err != nil && !errors.Is(err, context.Canceled) {
			fail(errc, fmt.Errorf("watch %s: %w", wc.Path, err))
		}
	}()
	go func() {
		defer wg.Done()
		defer both.Done()
		d.enqueueLoop(wctx, wc, events)
	}()
	go func() {
		defer wg.Done()
		both.Wait()
		cancel()
		close(r.done)
	}()
}

// fail reports a fatal error; the first one stops the daemon.
func fail(errc chan<- error, err error) {
	select {
	case errc <- err:
	default:
	}
}

// serveReloads waits for the end of ctx or a fatal error, applying
// reloads meanwhile, and returns the fatal error.
func (d *Daemon) serveReloads(ctx context.Context, wg *sync.WaitGroup, errc chan error) error {
	defer close(d.stopped)
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			n := len(d.inflight)
			d.mu.Unlock()
			d.log.Info("stopping: no new uploads start; waiting for the uploads in flight", "in_flight", n, "timeout", d.cfg.Shutdown.D())
			if d.lifecycle != nil {
				d.lifecycle.Stopping()
			}
			return nil
		case err := <-errc:
			d.log.Error("stopping: a watch cannot work", "err", err)
			if d.lifecycle != nil {
				d.lifecycle.Stopping()
			}
			return err
		case r := <-d.reloads:
			err := d.apply(ctx, wg, errc, r.cfg)
			if err != nil {
				d.log.Error("reload refused; the running configuration stays", "err", err)
			}
			r.result <- err
		}
	}
}

// apply checks c and makes it current (see the invariants above).
func (d *Daemon) apply(ctx context.Context, wg *sync.WaitGroup, errc chan<- error, c *config.Config) error {
	old := d.current()
	if c.StateDir != old.cfg.StateDir {
		return fmt.Errorf("state_dir changed (%s → %s): that needs a restart", old.cfg.StateDir, c.StateDir)
	}
	set, err := targets.Build(c, d.log)
	if err != nil {
		return err
	}
	for _, w := range c.Warnings {
		d.log.Warn(w)
	}

	// What changes; new watchers are made before anything is applied.
	d.runMu.Lock()
	running := make(map[string]*watchRun, len(d.running))
	for p, r := range d.running {
		running[p] = r
	}
	d.runMu.Unlock()
	ng := newGeneration(c, set)
	var added, removed, changed []string
	var stop []*watchRun
	type start struct {
		wc *config.Watch
		w  *watcher.Watcher
	}
	var starts []start
	abort := func(err error) error {
		for _, s := range starts {
			s.w.Close()
		}
		set.Close()
		return err
	}
	for p, r := range running {
		i, ok := ng.watches[p]
		switch {
		case !ok:
			removed = append(removed, p)
			stop = append(stop, r)
		case !r.wc.Same(c.Watches[i]):
			changed = append(changed, p)
			stop = append(stop, r)
			w, err := d.newWatcher(c.Watches[i], func() {})
			if err != nil {
				return abort(fmt.Errorf("watch %s: %w", p, err))
			}
			starts = append(starts, start{c.Watches[i], w})
		}
	}
	for _, wc := range c.Watches {
		if _, ok := running[wc.Path]; ok {
			continue
		}
		w, err := d.newWatcher(wc, func() {})
		if err != nil {
			return abort(fmt.Errorf("watch %s: %w", wc.Path, err))
		}
		added = append(added, wc.Path)
		starts = append(starts, start{wc, w})
	}

	// Apply: new jobs take the new generation; the old one's clients close
	// after its last job.
	d.mu.Lock()
	d.gen = ng
	d.mu.Unlock()
	d.q.SetHorizon(waitHorizon(d.cfg.Retry, c.Watches))
	d.health.reconfigure(ctx, c)
	d.retire(old)
	for _, r := range stop {
		r.cancel()
		d.waitRun(ctx, r)
		d.runMu.Lock()
		if d.running[r.wc.Path] == r {
			delete(d.running, r.wc.Path)
		}
		d.runMu.Unlock()
	}
	for _, s := range starts {
		d.runWatch(ctx, wg, errc, s.wc, s.w, func() {})
	}
	d.wake.notify()

	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	attrs := []any{"watches", len(c.Watches), "watches_added", added, "watches_removed", removed, "watches_changed", changed}
	tAdded, tRemoved, tChanged := diffTargets(old.cfg.Targets, c.Targets)
	attrs = append(attrs, "targets_added", tAdded, "targets_removed", tRemoved, "targets_changed", tChanged)
	if later := restartOnly(old.cfg, c); len(later) > 0 {
		attrs = append(attrs, "needs_restart", later)
	}
	d.log.Info("configuration reloaded", attrs...)
	return nil
}

// waitRun waits for the stopped run r to end, at most shutdown_timeout
// and not past the daemon's stop (ctx). A watcher blocked in a file system
// call that does not return (a hard-mounted share whose server is gone)
// cannot be interrupted: the reload goes on without it, naming it, and it
// is left behind (its enqueue loop has ended, so what it finds if the call
// ever returns goes nowhere; the stop names it again). Waiting for it held
// the loop that takes reloads and the stop, for as long as the mount hung.
func (d *Daemon) waitRun(ctx context.Context, r *watchRun) {
	t := time.NewTimer(d.cfg.Shutdown.D())
	defer t.Stop()
	select {
	case <-r.done:
		return
	case <-ctx.Done():
	case <-t.C:
		d.log.Warn("watch stopped by the reload has not ended: a file system call under it has not returned (a hung mount?); going on without it",
			"watch", r.wc.Path, "waited", d.cfg.Shutdown.D())
	}
	d.runMu.Lock()
	d.behind = append(d.behind, r)
	d.runMu.Unlock()
}

// unended names the watches whose goroutines have not ended, running or
// left behind by a reload.
func (d *Daemon) unended() []string {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	var out []string
	for _, r := range append(slices.Collect(maps.Values(d.running)), d.behind...) {
		select {
		case <-r.done:
		default:
			out = append(out, r.wc.Path)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// diffTargets names the targets added, removed and changed from a to b.
func diffTargets(a, b map[string]*config.Target) (added, removed, changed []string) {
	for n, t := range a {
		switch nt, ok := b[n]; {
		case !ok:
			removed = append(removed, n)
		case !t.Same(nt):
			changed = append(changed, n)
		}
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			added = append(added, n)
		}
	}
	sort.Strings(added)
	sort.Strings(removed)
	sort.Strings(changed)
	return added, removed, changed
}

// restartOnly names the changed settings that a reload does not apply.
func restartOnly(a, b *config.Config) []string {
	var out []string
	for _, f := range []struct {
		name string
		x, y any
	}{
		{"workers", a.Workers, b.Workers},
		{"shutdown_timeout", a.Shutdown, b.Shutdown},
		{"retry", a.Retry, b.Retry},
		{"reconcile_interval", a.Reconcile, b.Reconcile},
		{"log", a.Log, b.Log},
		{"metrics", a.Metrics, b.Metrics},
	} {
		if !reflect.DeepEqual(f.x, f.y) {
			out = append(out, f.name)
		}
	}
	return out
}

// Watches is how many watches run now.
func (d *Daemon) Watches() int {
	d.runMu.Lock()
	defer d.runMu.Unlock()
	return len(d.running)
}
