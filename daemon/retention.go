package daemon

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/queue"
)

// pruneEvery is how often housekeeping applies the retention policy r:
// hourly, or more often when a retention is shorter, so nothing outlives
// its retention by more than half of it.
func pruneEvery(r config.Retention) time.Duration {
	every := time.Hour
	for _, v := range []time.Duration{r.Done.D(), r.Failed.D(), r.ForgottenState.D()} {
		if v/2 < every {
			every = v / 2
		}
	}
	return max(every, 10*time.Millisecond)
}

// pruneLoop applies the retention policy at start and then every
// pruneEvery, until ctx ends. It runs beside housekeeping's other work: a
// pass over a million records takes seconds (an lstat each), and must not
// delay progress reports or noticing `queue retry`. The policy is the
// current generation's: a reload that changes it (the daemon's wake-up
// follows every reload) prunes by the new one at once and from then on.
func (d *Daemon) pruneLoop(ctx context.Context) {
	r := d.current().cfg.Retention
	t := time.NewTicker(pruneEvery(r))
	defer t.Stop()
	for {
		d.prune(ctx, r)
		for again := false; !again; {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				again = true
			case <-d.wake.wait():
				if nr := d.current().cfg.Retention; nr != r {
					r, again = nr, true
					t.Reset(pruneEvery(r))
				}
			}
		}
	}
}

// prune applies the retention policy r (see queue.Retention for what is
// kept forever and why).
func (d *Daemon) prune(ctx context.Context, r config.Retention) {
	p, err := d.q.Prune(ctx, queue.Retention{Done: r.Done.D(), Failed: r.Failed.D(), ForgottenState: r.ForgottenState.D(), Forgettable: d.forgettable()})
	if err != nil {
		if ctx.Err() == nil {
			d.log.Warn("prune failed", "err", err)
		}
		return
	}
	if p != (queue.Pruned{}) {
		d.log.Debug("pruned", "done_jobs", p.Done, "failed_jobs", p.Failed, "file_states", p.States)
	}
}

// forgettable returns the test of one prune pass: a record serves nothing
// when its file is gone from its watch and no deletion waits for it. A
// watch whose root cannot be seen right now (an unmounted share) keeps all
// its records; a watch no longer configured is not looked into (nothing
// outside a watch is read), its records are forgettable. A file is looked
// up beneath its watch (safefs.Stat): one behind a folder swapped for a
// symlink is gone from the watch, whatever lies where the link points.
func (d *Daemon) forgettable() func(queue.StateRef) bool {
	roots := map[string]bool{} // watch root → visible now, for this pass
	g := d.current()           // the configuration of this pass
	return func(s queue.StateRef) bool {
		i, ok := g.watches[s.Watch]
		if !ok {
			return true
		}
		wc := g.cfg.Watches[i]
		if wc.Deletes == "propagate" && !s.MovedAway {
			return false // the record is what a deletion of this file needs
		}
		visible, seen := roots[s.Watch]
		if !seen {
			fi, err := os.Stat(s.Watch)
			visible = err == nil && fi.IsDir()
			roots[s.Watch] = visible
		}
		if !visible {
			return false
		}
		_, err := safefs.Stat(s.Watch, s.Rel, false)
		return errors.Is(err, fs.ErrNotExist) || errors.Is(err, safefs.ErrOutside)
	}
}
