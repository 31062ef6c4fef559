package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// Target health.
//
// One component decides whether a target is up, and it alone changes that
// state. Failures about the server (its credentials rejected, no
// connection, a storm of 5xx, a throttling answer) change the target's
// state; failures about one file stay with that file. While a target is not
// up its jobs stay pending, uncounted: the queue does not hand them out
// (Claim skips targets that are down or whose credentials are rejected, and
// throttled ones through their pause), and a job claimed just before the
// change goes back untouched. Only the probe talks to such a target: one
// request where the adapter can check its destination, else one real job,
// with a backoff of its own from retry.initial to retry.max (probeWait). The
// first success makes the target up and its backlog moves at once. A
// throttle ends when the server's time (capped by retry.max_pause) has
// passed or `dropsync target resume` ends it.
//
// Invariants: the state is persisted before it is acted on, so `status`,
// `target list` and a restart see it; a restart, a configuration reload,
// `dropsync target retry` and a change of a credential *_file re-test at
// once; exactly one log line is written per change of state.

// serverStorm is how many attempts in a row must fail with a server error
// (5xx, reset, timeout) before the target counts as down; a single stray
// failure among successes is the file's, retried soon.
const serverStorm = 5

// credentialPoll is how often a target whose credentials are rejected
// looks at its credential files for a change.
const credentialPoll = time.Second

type targetState struct {
	name   string
	state  string
	since  time.Time
	reason string
	until  time.Time // throttled: the end of the pause
	next   time.Time // down, credentials rejected: the next probe
	streak int       // server failures in a row while up
	kick   chan struct{}
	// unwritten: the state changed but its record (target_health, and
	// the pause it starts or ends) could not be written; housekeeping
	// writes it (flush). Claims go by the record, so until then they
	// follow the old state.
	unwritten bool
}

// health owns every target's state.
type health struct {
	d *Daemon
	// change serializes changes of state with their records in the queue,
	// so that the recorded state (which gates claims) is always the last
	// one decided; mu guards the fields and is never held while writing.
	change  sync.Mutex
	mu      sync.Mutex
	ts      map[string]*targetState
	probing map[int64]bool // jobs claimed as probes
	// probeSlots are the free slots of the queue's sending marks for
	// probes (after the job runners' slots, see runnerSlot); nextSlot is
	// the next never used.
	probeSlots []int
	nextSlot   int
	workCtx    context.Context
	runCtx     context.Context // the loops' context, once run has started
	loops      sync.WaitGroup
}

// takeSlot returns a slot of the sending marks no job runner and no other
// probe uses: a probe's upload is marked as sent like any other (an
// unmarked one would be sent again after a kill without asking the
// server). Call it with h.mu held.
func (h *health) takeSlot() int {
	if n := len(h.probeSlots); n > 0 {
		s := h.probeSlots[n-1]
		h.probeSlots = h.probeSlots[:n-1]
		return s
	}
	if h.nextSlot == 0 {
		h.nextSlot = h.d.pipe.runners()
	}
	h.nextSlot++
	return h.nextSlot - 1
}

func newHealth(d *Daemon) *health {
	h := &health{d: d, ts: map[string]*targetState{}, probing: map[int64]bool{}}
	now := time.Now()
	for name := range d.cfg.Targets {
		h.ts[name] = &targetState{name: name, state: queue.TargetUp, since: now, kick: make(chan struct{}, 1)}
	}
	return h
}

// load takes over the recorded states: a target that was down or had its
// credentials rejected stays so, and is probed at once (a restart
// re-tests). A pause longer than retry.max_pause is shortened. The records
// of targets the configuration no longer has are dropped (forgetRemoved).
func (h *health) load(ctx context.Context) error {
	if err := h.d.q.CapPauses(ctx, time.Now().Add(h.d.cfg.Retry.MaxPause.D())); err != nil {
		return err
	}
	rec, err := h.d.q.TargetsHealth(ctx)
	if err != nil {
		return err
	}
	if err := h.forgetRemoved(ctx, rec, h.d.cfg); err != nil {
		return err
	}
	if _, err := h.d.q.TakeTargetRequests(ctx); err != nil { // requests made while no daemon ran are done by now
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for name, r := range rec {
		t, ok := h.ts[name]
		if !ok || r.State == queue.TargetUp {
			continue
		}
		t.state, t.since, t.reason = r.State, r.Since, r.Reason
		switch r.State {
		case queue.TargetThrottled:
			t.until = r.NextProbe
		default:
			t.next = now
		}
	}
	return nil
}

// forgetRemoved drops the recorded health of the targets in rec that c
// does not configure. Nothing shows it (status and target list show the
// configured targets), but a recorded "down" keeps the jobs queued for
// the target from being claimed: a job of a file deleted since, which no
// scan queues again for the watch's new target, would stay pending
// forever. h.change is held, or the loops do not run yet.
func (h *health) forgetRemoved(ctx context.Context, rec map[string]queue.TargetHealth, c *config.Config) error {
	var gone []string
	for name := range rec {
		if _, ok := c.Targets[name]; !ok {
			gone = append(gone, name)
		}
	}
	return h.d.q.ForgetTargetHealth(ctx, gone...)
}

// run probes and ends pauses until ctx ends: one loop per target. A probe
// job runs under workCtx, which outlives ctx by the shutdown drain, as
// every upload does.
func (h *health) run(ctx, workCtx context.Context) {
	h.mu.Lock()
	h.workCtx, h.runCtx = workCtx, ctx
	for _, t := range h.ts {
		h.startLoop(ctx, t)
	}
	h.mu.Unlock()
	<-ctx.Done()
	h.loops.Wait()
}

// stopping returns a channel closed when the daemon begins to stop (the
// end of run's ctx), for the probe's job: only run's loops call it.
func (h *health) stopping() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.runCtx.Done()
}

// startLoop runs t's loop until ctx ends; h.mu is held.
func (h *health) startLoop(ctx context.Context, t *targetState) {
	h.loops.Add(1)
	go func() {
		defer h.loops.Done()
		h.loop(ctx, t)
	}()
}

// reconfigure follows a reload (c is the new configuration): a target it
// adds starts up with a loop of its own, a target it removes is no longer
// tracked (its loop ends; it neither fails health nor is probed; its
// record is dropped), and every target that is not up is re-tested at
// once, as at a restart.
func (h *health) reconfigure(ctx context.Context, c *config.Config) {
	h.change.Lock() // no record of a removed target is written after it is dropped
	defer h.change.Unlock()
	// A target added back may have a recorded state that still gates its
	// claims: take it over, as load does at a restart, so its probe runs.
	rec, err := h.d.q.TargetsHealth(ctx)
	if err != nil {
		h.d.log.Warn("cannot read the recorded target health; added targets start up", "err", err)
	}
	if err := h.forgetRemoved(ctx, rec, c); err != nil {
		h.d.log.Warn("cannot drop the recorded health of removed targets", "err", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	for name, t := range h.ts {
		if _, ok := c.Targets[name]; !ok {
			delete(h.ts, name)
			select {
			case t.kick <- struct{}{}:
			default:
			}
		}
	}
	for name := range c.Targets {
		if _, ok := h.ts[name]; ok {
			continue
		}
		t := &targetState{name: name, state: queue.TargetUp, since: now, kick: make(chan struct{}, 1)}
		if r, ok := rec[name]; ok && r.State != queue.TargetUp {
			t.state, t.since, t.reason = r.State, r.Since, r.Reason
			if r.State == queue.TargetThrottled {
				t.until = r.NextProbe
			} else {
				t.next = now
			}
		}
		h.ts[name] = t
		if h.runCtx != nil && h.runCtx.Err() == nil {
			h.startLoop(h.runCtx, t)
		}
	}
	for _, t := range h.ts {
		if t.state == queue.TargetDown || t.state == queue.TargetCredentials {
			t.next = now
			select {
			case t.kick <- struct{}{}:
			default:
			}
		}
	}
}

func (h *health) loop(ctx context.Context, t *targetState) {
	cfg := h.d.current().cfg.Targets[t.name]
	if cfg == nil {
		return // removed by a reload before its loop started
	}
	stamp := targets.CredentialStamp(cfg.Auth)
	for {
		if c := h.d.current().cfg.Targets[t.name]; c != nil && c != cfg { // reloaded: its credentials may have moved
			cfg, stamp = c, targets.CredentialStamp(c.Auth)
		}
		h.mu.Lock()
		state, due := t.state, time.Time{}
		switch state {
		case queue.TargetThrottled:
			due = t.until
		case queue.TargetDown, queue.TargetCredentials:
			due = t.next
		}
		h.mu.Unlock()
		wait := time.Duration(-1)
		if !due.IsZero() {
			wait = max(time.Until(due), 0)
		}
		if state == queue.TargetCredentials && len(targets.CredentialFiles(cfg.Auth)) > 0 && (wait < 0 || wait > credentialPoll) {
			wait = credentialPoll
		}
		var timer <-chan time.Time
		var tm *time.Timer
		if wait >= 0 {
			tm = time.NewTimer(wait)
			timer = tm.C
		}
		select {
		case <-ctx.Done():
		case <-t.kick:
		case <-timer:
		}
		if tm != nil {
			tm.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		h.mu.Lock()
		state, until, next := t.state, t.until, t.next
		removed := h.ts[t.name] != t // by a reload
		h.mu.Unlock()
		if removed {
			return
		}
		switch state {
		case queue.TargetThrottled:
			if !now.Before(until) {
				h.setUp(ctx, t.name, "the pause has ended")
			}
		case queue.TargetDown, queue.TargetCredentials:
			changed := false
			if st := targets.CredentialStamp(cfg.Auth); st != stamp {
				stamp, changed = st, true
			}
			if changed || !now.Before(next) {
				h.probe(ctx, t.name)
			}
		}
	}
}

// probe tests a target that is not up: a request where the adapter can
// check a destination without uploading, else one real job.
func (h *health) probe(ctx context.Context, name string) {
	d := h.d
	g := d.acquire()
	tgt := g.set.Targets[name]
	if dc, ok := tgt.(targets.DestinationChecker); ok {
		for i, w := range g.cfg.Watches {
			if w.Target != name {
				continue
			}
			err := dc.CheckDestination(ctx, g.set.Dests[i])
			g.done()
			if ctx.Err() != nil {
				return
			}
			kind, ra := targets.Classify(err)
			if err == nil || kind == targets.Permanent {
				// The server answers and takes the credentials; what is
				// wrong with a destination is for its files to say.
				h.setUp(ctx, name, "the probe succeeded")
			} else {
				h.failed(ctx, name, kind, ra, err)
			}
			return
		}
	}
	g.done()
	j, err := d.q.ClaimTarget(ctx, name)
	if err != nil || j == nil {
		if err != nil && ctx.Err() == nil {
			d.log.Warn("cannot claim a probe job", "target", name, "err", err)
		}
		h.reschedule(name) // nothing to test with yet
		return
	}
	h.mu.Lock()
	h.probing[j.ID] = true
	workCtx := h.workCtx
	slot := h.takeSlot()
	h.mu.Unlock()
	d.process(context.WithValue(workCtx, runnerSlot{}, slot), j)
	h.mu.Lock()
	h.probeSlots = append(h.probeSlots, slot)
	delete(h.probing, j.ID)
	t, ok := h.ts[name]
	stillDown := ok && (t.state == queue.TargetDown || t.state == queue.TargetCredentials)
	h.mu.Unlock()
	if stillDown {
		h.reschedule(name)
	}
}

// reschedule sets the next probe of a target that is not up, after its
// backoff.
func (h *health) reschedule(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.ts[name]
	if !ok || t.next.After(time.Now()) {
		return // removed by a reload, or a failure already set it
	}
	t.next = time.Now().Add(h.d.probeWait(time.Since(t.since)))
}

// holds reports whether job j must not be sent now: its target is down or
// has its credentials rejected and j is not the probe. Such a job goes
// back to pending, uncounted. A throttle is held by its recorded pause
// alone, which `dropsync target resume` may end from another process.
func (h *health) holds(j *queue.Job) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.ts[j.Target]
	if !ok || h.probing[j.ID] {
		return false
	}
	return t.state == queue.TargetDown || t.state == queue.TargetCredentials
}

// throttledNow reports whether job j's target is throttled (a pause in
// force in the daemon's view; its record may already have been ended by
// `dropsync target resume`).
func (h *health) throttledNow(j *queue.Job) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.ts[j.Target]
	return ok && !h.probing[j.ID] && t.state == queue.TargetThrottled && time.Now().Before(t.until)
}

// pausedNow reports whether a claim now would hold job j back for its
// target's recorded pause; the record is read only while the target is
// throttled. A job that waited for an upload slot while its target was
// throttled is held by it as a claim is, and only then.
func (h *health) pausedNow(ctx context.Context, j *queue.Job) bool {
	if !h.throttledNow(j) {
		return false
	}
	ps, err := h.d.q.Pauses(context.WithoutCancel(ctx))
	if err != nil {
		return false // as a claim that found no pause: it is sent
	}
	for _, p := range ps {
		if p.Target == j.Target {
			return true
		}
	}
	return false
}

// succeeded notes a delivery: a target that was down or had its
// credentials rejected is up.
func (h *health) succeeded(ctx context.Context, name string) {
	h.mu.Lock()
	t, ok := h.ts[name]
	if !ok {
		h.mu.Unlock()
		return
	}
	t.streak = 0
	// A throttle ends with its time: an upload sent before the server
	// asked for the pause does not end it.
	down := t.state == queue.TargetDown || t.state == queue.TargetCredentials
	h.mu.Unlock()
	if down {
		h.setUp(ctx, name, "a delivery succeeded")
	}
}

// serverFailed notes a retryable server failure of one file and reports
// whether it made the target down (a storm): then the file waits for the
// target instead of retrying on its own. A delivery in between ends the
// streak, so one file the server keeps refusing (a locked document), which
// backs off on its own, does not take the target down for the others.
func (h *health) serverFailed(ctx context.Context, name string, err error) bool {
	h.mu.Lock()
	t, ok := h.ts[name]
	if !ok {
		h.mu.Unlock()
		return false
	}
	t.streak++
	storm := t.streak >= serverStorm || t.state == queue.TargetDown
	h.mu.Unlock()
	if storm {
		h.failed(ctx, name, targets.Unreachable, 0, fmt.Errorf("%d attempts in a row failed: %w", serverStorm, err))
	}
	return storm
}

// failed records a failure about the target: kind Auth (credentials
// rejected), Throttled (paused for ra, or a growing backoff without one)
// or anything else (down). It returns when the target may be tried again.
func (h *health) failed(ctx context.Context, name string, kind targets.Kind, ra time.Duration, err error) time.Time {
	h.change.Lock() // the change and its record, in the order they happen
	defer h.change.Unlock()
	d := h.d
	now := time.Now()
	h.mu.Lock()
	t, ok := h.ts[name]
	if !ok {
		h.mu.Unlock()
		return now
	}
	prev := t.state
	t.reason = errText(err)
	var at time.Time
	switch kind {
	case targets.Throttled:
		if ra <= 0 {
			ra = d.backoff(d.throttled(name))
		}
		at = now.Add(min(ra, d.cfg.Retry.MaxPause.D()))
		if prev == queue.TargetDown || prev == queue.TargetCredentials {
			t.next = at // a probe was throttled: probe again after the pause
		} else {
			t.state = queue.TargetThrottled
			if at.After(t.until) || prev != queue.TargetThrottled {
				t.until = at
			}
			at = t.until
		}
	case targets.Auth:
		t.state = queue.TargetCredentials
	default:
		t.state = queue.TargetDown
	}
	if prev != t.state {
		t.since = now
	}
	if t.state == queue.TargetDown || t.state == queue.TargetCredentials {
		if kind != targets.Throttled {
			t.next = now.Add(d.probeWait(now.Sub(t.since)))
		}
		at = t.next
	}
	rec := t.record()
	state, until := t.state, t.until
	h.mu.Unlock()

	if werr := h.write(context.WithoutCancel(ctx), rec); werr != nil {
		d.log.Error("cannot record the target's health; retrying in the background", "target", name, "err", werr)
		h.markUnwritten(name)
	}
	if prev != state {
		attrs := []any{"target", name, "state", state, "err", errText(err)}
		switch state {
		case queue.TargetThrottled:
			attrs = append(attrs, "until", until.Format(time.RFC3339))
		default:
			attrs = append(attrs, "next_probe", rec.NextProbe.Format(time.RFC3339))
		}
		d.log.Warn("target "+state+"; its files wait", attrs...)
	}
	h.kickLoop(name)
	return at
}

// write records a target's state: its health record, and the pause a
// throttled state holds (or, for any other state, the end of a pause).
// h.change is held.
func (h *health) write(ctx context.Context, rec queue.TargetHealth) error {
	q := h.d.q
	if rec.State == queue.TargetThrottled {
		if err := q.PauseTarget(ctx, rec.Target, rec.NextProbe, rec.Reason); err != nil {
			return err
		}
	} else if err := q.ResumeTarget(ctx, rec.Target); err != nil {
		return err
	}
	return q.SetTargetHealth(ctx, rec)
}

// markUnwritten notes that a target's record could not be written, for
// housekeeping to write (flush).
func (h *health) markUnwritten(name string) {
	h.mu.Lock()
	if t, ok := h.ts[name]; ok {
		t.unwritten = true
	}
	h.mu.Unlock()
	h.d.pokeBusy()
}

// anyUnwritten reports whether a target's record waits to be written.
func (h *health) anyUnwritten() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.ts {
		if t.unwritten {
			return true
		}
	}
	return false
}

// flush writes the records that could not be written when their states
// changed (another program held the database, a full disk), so that the
// recorded state, which gates claims, comes to be the daemon's: a target
// back up while the database was held moved no backlog until a restart.
// The state written is the current one, under h.change like any change.
func (h *health) flush(ctx context.Context) {
	h.change.Lock()
	defer h.change.Unlock()
	h.mu.Lock()
	var recs []queue.TargetHealth
	for _, t := range h.ts {
		if t.unwritten {
			recs = append(recs, t.record())
		}
	}
	h.mu.Unlock()
	for _, rec := range recs {
		if err := h.write(ctx, rec); err != nil {
			return // still held: the next round tries again
		}
		h.mu.Lock()
		if t, ok := h.ts[rec.Target]; ok {
			t.unwritten = false
		}
		h.mu.Unlock()
		h.d.log.Info("target's health recorded", "target", rec.Target, "state", rec.State)
		h.d.wake.notify()
	}
}

// setUp makes a target up and moves its backlog.
func (h *health) setUp(ctx context.Context, name, why string) {
	h.change.Lock()
	defer h.change.Unlock()
	h.mu.Lock()
	t, ok := h.ts[name]
	if !ok || t.state == queue.TargetUp {
		h.mu.Unlock()
		return
	}
	prev, since := t.state, t.since
	t.state, t.since, t.reason, t.until, t.next, t.streak = queue.TargetUp, time.Now(), "", time.Time{}, time.Time{}, 0
	rec := t.record()
	h.mu.Unlock()
	if err := h.write(context.WithoutCancel(ctx), rec); err != nil {
		h.d.log.Error("cannot record the target's health; retrying in the background", "target", name, "err", err)
		h.markUnwritten(name)
	}
	h.d.log.Info("target up", "target", name, "was", prev, "for", time.Since(since).Round(time.Millisecond), "because", why)
	h.d.wake.notify()
}

// request carries out a CLI request: retry probes now, resume ends a pause.
func (h *health) request(ctx context.Context, name, req string) {
	h.mu.Lock()
	t, ok := h.ts[name]
	var state string
	if ok {
		state = t.state
		if req == queue.RequestRetry && state != queue.TargetUp {
			t.next = time.Now()
		}
	}
	h.mu.Unlock()
	if !ok {
		return
	}
	switch {
	case req == queue.RequestResume && state == queue.TargetThrottled:
		h.setUp(ctx, name, "dropsync target resume")
	case req == queue.RequestRetry:
		h.kickLoop(name)
	}
	h.d.wake.notify()
}

func (h *health) kickLoop(name string) {
	h.mu.Lock()
	t, ok := h.ts[name]
	h.mu.Unlock()
	if !ok {
		return
	}
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// unhealthy returns why /healthz must fail: a target down or with its
// credentials rejected for longer than metrics.unhealthy_after.
func (h *health) unhealthy() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	limit := h.d.cfg.Metrics.UnhealthyAfter.D()
	var errs []error
	for _, t := range h.ts {
		if (t.state == queue.TargetDown || t.state == queue.TargetCredentials) && time.Since(t.since) > limit {
			errs = append(errs, fmt.Errorf("target %s: %s since %s: %s", t.name, t.state, t.since.Format(time.RFC3339), t.reason))
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errors.Join(errs...)
}

// states returns every target's health, for status and tests.
func (h *health) states() []queue.TargetHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]queue.TargetHealth, 0, len(h.ts))
	for _, t := range h.ts {
		out = append(out, t.record())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

func (t *targetState) record() queue.TargetHealth {
	r := queue.TargetHealth{Target: t.name, State: t.state, Since: t.since, Reason: t.reason}
	switch t.state {
	case queue.TargetThrottled:
		r.NextProbe = t.until
	case queue.TargetDown, queue.TargetCredentials:
		r.NextProbe = t.next
	}
	return r
}

// probeWait is the wait before the next probe of a target that has been
// down (or had its credentials rejected) for downFor: a fifth of that
// time, at least retry.initial and at most retry.max, jittered by a tenth
// either way. Probes are few (their number grows with the logarithm of the
// outage's length) and the first delivery after an outage follows within
// about a fifth of its length, or retry.initial after a short one. It is
// never below minProbeWait, whatever the configuration holds.
func (d *Daemon) probeWait(downFor time.Duration) time.Duration {
	w := max(min(max(downFor/5, d.cfg.Retry.Initial.D()), d.cfg.Retry.Max.D()), minProbeWait)
	return max(w*9/10+rand.N(w/5+1), minProbeWait)
}

// minProbeWait is the least wait between two probes of a target: config
// refuses a retry.max below it, and a Config that escaped validation (or a
// retry.initial below it) still cannot probe a down target in a busy loop
// of requests and target_health writes.
const minProbeWait = config.MinRetryMax
