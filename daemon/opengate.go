package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/queue"
)

// Opening source files on a mount that hangs.
//
// An open(2) on a hard network mount whose server is gone blocks in the
// kernel, and nothing interrupts it: a runner that makes one is lost until
// the mount answers. Every runner would follow it, one job of that watch
// after another, and the daemon would deliver nothing from any watch.
//
// Invariant: a watch's files are opened one at a time (its openGate). A
// runner that finds the gate held waits at most openStuck, counted from
// when the open in flight began; an open that old is taken as hung, and
// the job is put back, uncounted, for retry.max: of the runners, only the
// one in the hung open and those that came within openStuck of it wait,
// the rest of the daemon goes on. The gate costs a healthy open one
// uncontended channel send and receive; when runners of one watch meet,
// the later one waits for an open (microseconds). Health names an open
// that has not returned for metrics.unhealthy_after.
//
// A file already open when its mount dies is looked at again (fstat, and
// its name: source.unchanged) after it was sent. After a delivery that
// look runs outside the upload slot, so it holds its runner only; after a
// failure it runs inside the slot (callTarget's fail), so it gives up
// after openStuck (unchangedWithin) and the job is put back the same way,
// freeing the slot. The look at the last byte of a body runs in the
// transport; the request's stall watch ends it. The after_upload rename
// or removal of a delivered file is not bounded: a mount that dies at that
// moment holds that runner (but no upload slot).
type openGate struct {
	sem   chan struct{}          // the open in flight holds it
	since atomic.Int64           // monoNow when the open in flight began; 0: none
	path  atomic.Pointer[string] // the file it opens
}

// openStuck is how long an open may take before the next runner of its
// watch stops waiting for it.
var openStuck = 5 * time.Second

// openGates holds a gate per watch folder (by path, so a reload keeps the
// gate of a watch it keeps, and its hung open with it).
type openGates struct {
	mu    sync.Mutex
	gates map[string]*openGate
}

// of returns the gate of the watch at root.
func (o *openGates) of(root string) *openGate {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gates == nil {
		o.gates = map[string]*openGate{}
	}
	g := o.gates[root]
	if g == nil {
		g = &openGate{sem: make(chan struct{}, 1)}
		o.gates[root] = g
	}
	return g
}

// stuck returns an error naming every open that has not returned for
// after, or nil.
func (o *openGates) stuck(after time.Duration) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	for _, g := range o.gates {
		if err := g.hung(after); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// enter takes the gate for opening path, waiting while an open younger
// than openStuck holds it. It returns the error that names the hung open
// instead when it cannot.
func (g *openGate) enter(path string) error {
	var t *time.Timer
	for {
		select {
		case g.sem <- struct{}{}:
			if t != nil {
				t.Stop()
			}
			g.path.Store(&path)
			g.since.Store(monoNow())
			return nil
		default:
		}
		if err := g.hung(openStuck); err != nil {
			if t != nil {
				t.Stop()
			}
			return err
		}
		// Wait until the open in flight would count as hung (or, between
		// two opens, a whole openStuck), then look again.
		wait := openStuck
		if at := g.since.Load(); at != 0 {
			wait = max(openStuck-monoSince(at), time.Millisecond)
		}
		if t == nil {
			t = time.NewTimer(wait)
		} else {
			t.Reset(wait)
		}
		select {
		case g.sem <- struct{}{}:
			t.Stop()
			g.path.Store(&path)
			g.since.Store(monoNow())
			return nil
		case <-t.C:
		}
	}
}

// leave releases the gate after the open returned.
func (g *openGate) leave() {
	g.since.Store(0)
	<-g.sem
}

// hung returns an error naming the open in flight if it began more than
// after ago, or nil.
func (g *openGate) hung(after time.Duration) error {
	at := g.since.Load()
	if at == 0 {
		return nil
	}
	d := monoSince(at)
	if d <= after {
		return nil
	}
	p := ""
	if pp := g.path.Load(); pp != nil {
		p = *pp
	}
	return fmt.Errorf("opening %s has not returned for %s (a mount that hangs?)", p, d.Round(time.Second))
}

// errOpenHung marks an open not tried because another open in the same
// watch hangs.
var errOpenHung = errors.New("an open in this watch hangs")

// openGated opens rel of wc through the watch's gate; path names it in
// messages.
func (d *Daemon) openGated(wc *config.Watch, rel, path string) (*source, error) {
	g := d.opens.of(wc.Path)
	if err := g.enter(path); err != nil {
		return nil, fmt.Errorf("%w: %w", errOpenHung, err)
	}
	defer g.leave()
	return openSource(wc, rel)
}

// putBackHung puts j back, uncounted (the file is not at fault), for
// retry.max: its watch's mount does not answer. A job that did not get
// past the gate says so at debug level only: there may be thousands, and
// the health names the open that hangs.
func (d *Daemon) putBackHung(ctx context.Context, j *queue.Job, err error, log *slog.Logger) {
	level := slog.LevelWarn
	if errors.Is(err, errOpenHung) {
		level = slog.LevelDebug
	}
	log.Log(ctx, level, "put back: its mount does not answer; tried again later", "retry_in", d.cfg.Retry.Max.D(), "err", err)
	d.requeue(ctx, j, time.Now().Add(d.cfg.Retry.Max.D()), errText(err), true, log)
}

// monoStart is the origin of monoNow.
var monoStart = time.Now()

// monoNow is the time since the process started, by the monotonic clock
// (never 0): a step of the wall clock (NTP at boot) neither ages an open
// that just began nor makes a hung one young.
func monoNow() int64 { return int64(time.Since(monoStart)) + 1 }

// monoSince is the time since a monoNow reading.
func monoSince(at int64) time.Duration { return time.Duration(monoNow() - at) }
