// Package watcher finds files that are ready to upload under a folder tree.
//
// A watch finds changes in one of two ways, chosen per watch (Decide):
//
//   - events: fsnotify is not recursive, so the watcher walks the tree and
//     watches every folder, adding folders created later (a whole tree
//     created at once is walked after its top folder's watch is in place, so
//     nothing created in between is missed);
//   - polling: every PollInterval the tree is walked and compared with the
//     fingerprints the last walk recorded; new and changed files are noted,
//     vanished ones are deletions. Network and FUSE file systems are polled
//     under mode auto (writes made by other machines raise no inotify event),
//     and so is every sub-tree whose folders do not fit the inotify watch
//     budget (running out of watches never stops a watch) or whose path is
//     longer than inotify takes (PATH_MAX). A watch takes an inotify
//     instance only when it uses events; one that cannot get one (the
//     user's inotify instances used up) is polled, with one WARN line,
//     and asks again at every full scan (keeping what it recorded, so
//     the scan still sweeps what was deleted since the last poll):
//     running out never stops the daemon or a reload.
//
// Invariants:
//
//   - A file is emitted only when it has settled: no change for the settle
//     period, and two stats (size, mtime, inode) that agree; with MinAge, not
//     before its mtime is that old; with a ready marker, not before the
//     marker exists. Markers are never emitted. The files of one folder
//     listing, or released by one marker, are noted at one time, so they
//     settle and reach the queue together.
//   - Nothing outside the root is looked at: folders are listed and files
//     and markers stat'ed beneath the root (package safefs), so a folder
//     swapped for a symlink is neither listed nor stat'ed through, and a
//     folder watch added through one is removed when its listing finds
//     the link. (The root itself is configuration.)
//   - A metadata event (chmod, chown, extended attributes: inotify's
//     IN_ATTRIB) is a change of a wanted file, as to its fingerprint (the
//     ctime moved), and has a folder without a watch (it could not be
//     read) walked: a file or folder made readable is taken at once.
//   - With EmitDeletes, the watcher records every file it noted (files),
//     in event mode too, and after a full scan notes as gone every one
//     the walk did not find (except below a folder it could not read):
//     a file deleted while events were lost (an overflow) is reported
//     gone, as a polled one is. It costs a map entry per wanted file,
//     only with deletes: propagate. A root or folder whose device
//     changed (remount, unmount) forgets them instead: nothing is
//     deleted for a share that went away.
//   - A file is reported gone only when the folder it was recorded in was
//     listed on the same file system (device) it was recorded on, and the
//     listing completed; a file system that went away makes its files
//     forgotten, never gone. Every walk records the device of each folder
//     it lists (folders: a map entry per folder), stat'ed before and after
//     the listing: a folder found on another device than recorded, or
//     whose device moved while it was listed, has what was recorded below
//     it forgotten, pending Gone entries included. A file whose folder is
//     gone is gone only if that folder was on its parent's device (not a
//     mount point) and the parent was listed so. No sweep is made after a
//     walk during which the mount table changed (Linux: an open
//     /proc/self/mountinfo polls POLLPRI); the next one sweeps.
//   - The watcher never trusts events alone: it scans the whole tree at
//     start, after an event-queue overflow, after the root's device or inode
//     changed (unmount, remount, another share mounted over it), and every
//     reconcile interval; the queue drops what was already delivered
//     unchanged.
//   - A watched folder's path leads to the folder its watch is on: before
//     every full scan each watched path is stat'ed and compared with the
//     device and inode recorded when its watch was added. A folder renamed,
//     removed or replaced while events were lost (an overflow) has its
//     watch dropped and the walk watches its path afresh; re-adding alone
//     would not do, as inotify hands back the old watch for the same inode
//     and fsnotify keeps it under the old path.
//   - A scan checks its context at every folder and handles the events that
//     arrive meanwhile, so a stop is honoured at once and a busy tree does
//     not overflow the kernel's queue while a huge tree is walked.
//   - A folder inside the watch that a file system is mounted on or
//     unmounted from is watched afresh and walked when the mount table
//     changes (Linux): the folders that are mount points now, and those
//     that were when watched (another device than their parent's), are
//     stat'ed and compared with what their watches are on. One that was
//     a mount point (recorded on another device than its parent) and is
//     gone (an automounter removes it with the unmount) has its files
//     forgotten, and its removal event is no folder Gone.
//   - A root that is missing, or a mount point whose file system went away,
//     makes the watch unhealthy and waiting; nothing is deleted for it. So
//     does a root that cannot be watched or read (permissions): it is
//     tried again every rootProbe, doubling up to 64 times that, until it
//     can be, and is then scanned. The
//     root is checked whenever the mount table changes (Linux: epoll on
//     /proc/self/mountinfo), after inotify reports it removed or renamed,
//     every rootProbe while it is missing or unmounted (and always where
//     mount changes cannot be watched), and otherwise every rootCheck
//     (30s): its path may come to lead to another folder with no event
//     (an ancestor renamed and the path made again, a root symlink
//     retargeted, a root deleted while held open). A root whose device or
//     inode changed is watched afresh and rescanned.
//   - A folder that is gone before its watch is added is no trouble: not
//     logged, not recorded. An error is logged once per path (reports)
//     while it lasts: a path that works again, or is gone (pruned after
//     every full scan), is forgotten, so reports holds only paths that
//     exist and fail.
//   - Run's goroutine notes its progress (each round of its loop, each
//     batch of a folder's entries listed) and clears it while it waits:
//     Health names a watch stuck in a file-system call that does not
//     return (a mount that hangs) once it has made no progress for
//     Options.StuckAfter, and Stalled tells the daemon's readiness the same.
//   - An event-queue overflow is logged in one line; more within
//     overflowLogEvery (5 min) are counted and summed up in one line when
//     it ends (a one-shot deadline of Run's timer, armed only then).
//   - Run's loop sleeps on one timer armed for the earliest thing due (a
//     settle deadline, the root probe or check, the next poll or
//     reconcile): an idle watch with events on Linux wakes only for the
//     root check, at multiples of rootCheck shared by every watch (one
//     wake-up per 30s for the process). What
//     is due is done before another event is read, so a stream of events
//     never holds a deadline back; between two rounds of due work a stop
//     is honoured and one thing that waits (an event, a rescan request, a
//     mount change) is taken, so work that is always due (a tiny
//     reconcile or poll interval) never keeps a stop waiting or starves
//     what comes in. The next reconcile and poll are counted from
//     the end of the last one. Settle passes are at least settleGap
//     apart, so the files of a burst reach the queue in batches: a file is
//     emitted at most settleGap after it settled (the first of a burst, on
//     time).
//
// Events are sent in batches of at most maxBatch, so that the queue never
// holds its write transaction for a whole scan.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/fsnotify/fsnotify"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/internal/safefs"
)

// Options configures a Watcher.
type Options struct {
	Root           string        // the folder to watch
	Recursive      bool          // watch sub-folders
	Include        []string      // globs on the slash-separated relative path; default "**"
	Exclude        []string      // globs on the relative path
	Ignore         []string      // globs on the base name (temporary files)
	Settle         time.Duration // quiet period before a file is emitted
	FollowSymlinks bool          // follow symlinked files (symlinked folders are never followed)
	EmitDeletes    bool          // emit Gone events for deleted files
	Reconcile      time.Duration // full rescan interval; 0: only at start and after overflows
	// Mode is auto (default: poll network and FUSE file systems), events
	// or poll.
	Mode string
	// PollInterval is the time between two polls (default 10s).
	PollInterval time.Duration
	// ReadyMarker, if set, is "{name}.done"-style (any pattern with {name}:
	// a file waits for its own marker) or "{dir}/NAME" (the files of a
	// folder wait for the marker NAME in it). Markers are never emitted.
	ReadyMarker string
	// MinAge makes a file wait until its mtime is at least this old.
	MinAge time.Duration
	// StuckAfter is how long the watch may go without progress (a round of
	// its loop, a batch of a folder's entries listed) before Health
	// reports it stuck in a file-system call (default 1m).
	StuckAfter time.Duration
	Log        *slog.Logger
	// OnOverflow, if set, is called when the kernel dropped events.
	OnOverflow func()
	// OnEvent, if set, is called for every file-system event received.
	OnEvent func()
	// OnScanned, if set, is called once Run's start-up scan has walked the
	// tree: every file found is then settling towards the queue.
	OnScanned func()
}

// Event is a settled file (or, with EmitDeletes, a deleted one).
type Event struct {
	Rel  string // slash-separated path below Root
	FP   fsid.Fingerprint
	Gone bool
	// Dir, with Gone, says a whole folder was deleted or renamed away:
	// every file delivered from below it is gone.
	Dir bool
}

// maxBatch is the most events sent in one batch (one queue transaction).
const maxBatch = 1000

// settleGap is the least time between two settle passes. Files noted one
// event at a time settle one by one; without it, a burst would be sent a
// file or two per pass (a queue transaction each, and a walk of every
// pending entry).
const settleGap = 10 * time.Millisecond

// Watcher watches one tree. Create it with New, then call Run.
type Watcher struct {
	o      Options
	log    *slog.Logger
	fsw    *fsnotify.Watcher // set by Run's goroutine (setInotify); nil until the root is watched with events
	marker Marker

	rescan chan struct{}
	busyAt atomic.Int64 // monoNow: Run's goroutine works on the file system since (0: it waits); see Health

	// Owned by Run's goroutine.
	pending       map[string]*entry
	dirs          map[string]dirID  // folders with an inotify watch, and what their path led to then
	pollRoots     map[string]bool   // folders polled with all below them
	known         map[string]*known // polled files as the last walk saw them
	files         map[string]uint64 // with EmitDeletes: every file noted, with the gen of the walk (or the walk before the event) that saw it
	gen           uint64            // walk generation, for known
	folders       map[string]folder // folders (rel) as their last listing found them: what a sweep trusts
	unread        []string          // folders the current walk could not read (rel)
	root          rootID
	decision      Decision
	settleAt      time.Time // earliest time a pending entry may be due; zero: none
	lastPass      time.Time // when the last settle pass began
	again         bool      // events were lost during a scan: scan again
	budgetLogged  bool      // the inotify budget warning was logged
	noInotify     error     // events were wanted but no inotify instance could be had: polled
	overflowQuiet time.Time // until then overflows are counted, not logged
	overflowsHeld int       // overflows not logged since the last line
	denied        int       // failed tries to watch and read the root (permissions); 0: none
	goneDirs      []string  // folders gone whose pending entry a file took over: sent as Gone with the next batch
	stamp         time.Time // if set, the time noted for files (one per folder listing)
	listing       listing   // the folder a walk is listing, or a settle pass looking at, now
	wakes         int       // loop wake-ups, for tests

	mu      sync.Mutex
	health  error
	reports map[string]bool // paths whose errors were already logged
}

// listing is a folder being listed (or whose files a settle pass looks
// at), open beneath the root: stat looks up its files through d.
type listing struct {
	rel string // slash-separated, "." for the root
	d   *safefs.Dir
}

// rootID is the root as last watched; mount says it is expected to be a
// mount point (it was one when seen).
type rootID struct {
	seen     bool
	dev, ino uint64
	mount    bool
}

// dirID is the folder a watched path led to when its watch was added (or
// last checked): inotify watches that inode, whatever its name now.
type dirID struct{ dev, ino uint64 }

type known struct {
	fp  fsid.Fingerprint
	gen uint64
}

// folder is the file system (device) a folder's files were recorded on,
// and the gen of the walk that last listed it on that device to the end.
type folder struct{ dev, gen uint64 }

// New checks the options and, for a watch that will use events, opens
// an fsnotify watcher (failing that, Run asks again, then polls).
func New(o Options) (*Watcher, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if len(o.Include) == 0 {
		o.Include = []string{"**"}
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 10 * time.Second
	}
	if o.Mode == "" {
		o.Mode = "auto"
	}
	if o.StuckAfter <= 0 {
		o.StuckAfter = time.Minute
	}
	for _, p := range append(append(append([]string{}, o.Include...), o.Exclude...), o.Ignore...) {
		if !doublestar.ValidatePattern(p) {
			return nil, fmt.Errorf("watcher: bad glob %q", p)
		}
	}
	m, err := ParseMarker(o.ReadyMarker)
	if err != nil {
		return nil, fmt.Errorf("watcher: %w", err)
	}
	w := &Watcher{o: o, log: o.Log.With("watch", o.Root), marker: m, rescan: make(chan struct{}, 1),
		pending: map[string]*entry{}, dirs: map[string]dirID{}, pollRoots: map[string]bool{}, known: map[string]*known{},
		files: map[string]uint64{}, folders: map[string]folder{}, reports: map[string]bool{}}
	// New touches no file system: the root is looked at, its mode decided
	// (Decide: a statfs) and an inotify instance asked for by Run, on the
	// watch's own goroutine (prepareRoot). A statfs on a hung mount made
	// in New held its caller, a reload, and with it the daemon's stop.
	return w, nil
}

// setInotify gives the watch its inotify instance. Only Run's goroutine
// sets or reads w.fsw without the lock; it sets it under the lock, for
// what reads it from elsewhere (tests).
func (w *Watcher) setInotify(fsw *fsnotify.Watcher) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fsw = fsw
}

// Close releases a watcher that was made but will not Run (Run closes
// its own); closing the inotify instance of a running watch ends it with
// an error.
func (w *Watcher) Close() error {
	w.mu.Lock()
	fsw := w.fsw
	w.mu.Unlock()
	if fsw == nil {
		return nil
	}
	return fsw.Close()
}

// eventChans returns fsnotify's channels, nil (never ready) while the
// watch has no inotify instance.
func (w *Watcher) eventChans() (<-chan fsnotify.Event, <-chan error) {
	if w.fsw == nil {
		return nil, nil
	}
	return w.fsw.Events, w.fsw.Errors
}

// Health returns nil while the watch works, or what broke it: also a
// file-system call that has not returned for Options.StuckAfter (a hung
// mount, which nothing can interrupt), named until it returns.
func (w *Watcher) Health() error {
	if at := w.busyAt.Load(); at != 0 && w.Stalled(w.o.StuckAfter) {
		d := monoSince(at)
		return fmt.Errorf("watch root %s: a file-system call has not returned for %s (a mount that hangs?); the watch goes on when it returns", w.o.Root, d.Round(time.Second))
	}
	return w.state()
}

// state is what broke the watch, as Run's goroutine itself knows it.
func (w *Watcher) state() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.health
}

// Stalled reports whether Run's goroutine has been working on the file
// system for longer than d without progress (a call that does not return).
func (w *Watcher) Stalled(d time.Duration) bool {
	at := w.busyAt.Load()
	return at != 0 && monoSince(at) > d
}

// busy notes that Run's goroutine makes progress now; idle, that it waits
// for something to do.
func (w *Watcher) busy() { w.busyAt.Store(monoNow()) }
func (w *Watcher) idle() { w.busyAt.Store(0) }

// monoStart is the origin of monoNow.
var monoStart = time.Now()

// monoNow is the time since the process started, by the monotonic clock
// (never 0): a step of the wall clock does not make a watch look stuck.
func monoNow() int64 { return int64(time.Since(monoStart)) + 1 }

// monoSince is the time since a monoNow reading.
func monoSince(at int64) time.Duration { return time.Duration(monoNow() - at) }

func (w *Watcher) setHealth(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.health = err
}

// rootProbe is how often a missing or unmounted root is looked for (and,
// where mount table changes cannot be watched, how often the root is
// checked for a remount).
var rootProbe = 2 * time.Second

// rootCheck is how often a healthy root's identity is checked otherwise:
// its path may lead to another folder with no event, mount change or
// error to say so (an ancestor renamed and the path made again, a root
// symlink pointed elsewhere, a root deleted while something holds it
// open, which sends IN_DELETE_SELF only when the last reference goes).
// A check is two stats; the checks of all watches fall due at the same
// instants (multiples of rootCheck), so the process wakes once per
// rootCheck for all of them: 1/30 wake-up per second when idle.
var rootCheck = 30 * time.Second

// nextRootCheck is the first multiple of rootCheck after now.
func nextRootCheck(now time.Time) time.Time { return now.Truncate(rootCheck).Add(rootCheck) }

// rootLost records that the root is gone or unusable, logging once per
// loss, and drops every watch. Nothing is deleted for it: a vanished root
// is far more often an unmounted share than an emptied drop folder.
func (w *Watcher) rootLost(err error) {
	if w.state() == nil {
		if w.root.seen {
			w.log.Warn("watch root is gone; nothing is deleted for it, and it is watched again when it comes back", "err", err)
		} else {
			w.log.Warn("watch root does not exist yet; this watch waits for it and starts when it appears (the other watches run)", "err", err)
		}
	}
	w.unwatchTree(w.o.Root)
	w.denied = 0 // whether it can be read is seen when it is back
	w.setHealth(err)
}

// Rescan asks Run to scan the whole tree soon.
func (w *Watcher) Rescan() {
	select {
	case w.rescan <- struct{}{}:
	default:
	}
}

// reportOnce logs err for path the first time only, so an unreadable file
// or folder is reported once, not on every scan.
func (w *Watcher) reportOnce(path string, err error) {
	if w.firstReport(path) {
		w.log.Warn("cannot read, skipping", "path", path, "err", err)
	}
}

// firstReport reports whether nothing was logged for path yet, and
// records that something is now.
func (w *Watcher) firstReport(path string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := w.reports[path]
	w.reports[path] = true
	return !seen
}

// forgetReport forgets that something was logged for path, which works
// now: should it fail again, that is logged again.
func (w *Watcher) forgetReport(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.reports, path)
}

// forgetFileReport is forgetReport for the file rel, as settled calls it
// for every file it sends: with no report at all (the usual case) it
// builds no path.
func (w *Watcher) forgetFileReport(rel string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.reports) > 0 {
		delete(w.reports, w.abs(rel))
	}
}

// pruneReports forgets the reports of paths that are gone, so that
// reports holds only paths that exist (and failed): it does not grow
// with short-lived folders and files. Run after every full scan.
func (w *Watcher) pruneReports() {
	w.mu.Lock()
	paths := slices.Collect(maps.Keys(w.reports))
	w.mu.Unlock()
	for _, p := range paths {
		rel := w.rel(p)
		if rel == "." || strings.HasPrefix(rel, "../") {
			continue
		}
		if _, err := safefs.Stat(w.o.Root, rel, false); missing(err) || errors.Is(err, syscall.ENOTDIR) {
			w.forgetReport(p)
		}
	}
}

type entry struct {
	last      time.Time // last event or stat change
	notBefore time.Time // min_age: not due before this
	fp        fsid.Fingerprint
	gone      bool
	dir       bool // a watched folder that went away
}

// Run watches until ctx ends, sending settled events in batches to out. It
// returns ctx's error.
func (w *Watcher) Run(ctx context.Context, out chan<- []Event) error {
	defer w.Close()
	defer w.idle()
	w.busy()
	if err := w.scan(ctx); err != nil {
		return err
	}
	if w.o.OnScanned != nil {
		w.o.OnScanned()
	}
	now := time.Now()
	nextProbe := now.Add(rootProbe)
	nextCheck := nextRootCheck(now)
	nextPoll := now.Add(w.o.PollInterval)
	var nextReconcile time.Time
	if w.o.Reconcile > 0 {
		nextReconcile = now.Add(w.o.Reconcile)
	}
	mountCh, unsubscribe, notified := subscribeMounts()
	defer unsubscribe()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// dueWork does what is due at now; every deadline it meets moves on.
	dueWork := func(now time.Time, probing bool) error {
		w.wakes++
		w.overflowSummary(now)
		if probing && !now.Before(nextProbe) {
			w.probeRoot(ctx)
			nextProbe = time.Now().Add(w.probeEvery())
		}
		if !now.Before(nextCheck) {
			nextCheck = nextRootCheck(now)
			if !probing {
				w.probeRoot(ctx)
			}
		}
		if w.polling() && !now.Before(nextPoll) {
			w.poll(ctx)
			nextPoll = time.Now().Add(w.o.PollInterval) // a gap, also after a long poll
		}
		if !nextReconcile.IsZero() && !now.Before(nextReconcile) {
			w.rescanNow(ctx)
			nextReconcile = time.Now().Add(w.o.Reconcile) // a gap, also after a long scan
		}
		if at := w.passAt(); !at.IsZero() && !now.Before(at) {
			w.lastPass = time.Now()
			return w.send(ctx, out, w.settled(w.lastPass))
		}
		return nil
	}
	errClosed := errors.New("watcher: fsnotify closed")
	onEvent := func(ev fsnotify.Event, ok bool) error {
		if !ok {
			return errClosed
		}
		w.event(ctx, ev)
		return nil
	}
	onError := func(err error, ok bool) error {
		if !ok {
			return errClosed
		}
		w.watchError(err)
		w.again = false
		w.rescanNow(ctx)
		return nil
	}
	onMount := func(ok bool) {
		if !ok {
			notified, mountCh = false, nil
		}
		w.probeRoot(ctx)
		w.checkMounts(ctx)
	}
	for {
		now = time.Now()
		w.busy() // a round of the loop is progress
		if w.again {
			w.again = false
			w.Rescan()
		}
		// The root is probed by timer every rootProbe while it is
		// missing or unmounted, and where mount table changes cannot be
		// watched; otherwise its identity is checked every rootCheck.
		probing := !notified || w.state() != nil
		due := nextCheck
		if probing {
			due = nextProbe
		}
		if w.polling() && nextPoll.Before(due) {
			due = nextPoll
		}
		if !nextReconcile.IsZero() && nextReconcile.Before(due) {
			due = nextReconcile
		}
		if at := w.passAt(); !at.IsZero() && at.Before(due) {
			due = at
		}
		if w.overflowsHeld > 0 && w.overflowQuiet.Before(due) {
			due = w.overflowQuiet
		}
		if !now.Before(due) {
			// Due already: done before another event is read, which
			// would otherwise push the timer on for as long as events
			// keep coming. Then a stop is honoured, and one thing that
			// waits (an event, a rescan, a mount change) is taken
			// without waiting, so that work which is always due (a
			// tiny reconcile or poll interval) can neither keep a stop
			// waiting nor starve what comes in.
			if err := dueWork(now, probing); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			var err error
			evs, errs := w.eventChans()
			select {
			case ev, ok := <-evs:
				err = onEvent(ev, ok)
			case werr, ok := <-errs:
				err = onError(werr, ok)
			case <-w.rescan:
				w.rescanNow(ctx)
			case _, ok := <-mountCh:
				onMount(ok)
			default:
			}
			if err != nil {
				return err
			}
			continue
		}
		timer.Reset(due.Sub(now))
		var err error
		evs, errs := w.eventChans()
		w.idle()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-evs:
			w.busy()
			err = onEvent(ev, ok)
		case werr, ok := <-errs:
			w.busy()
			err = onError(werr, ok)
		case <-w.rescan:
			w.busy()
			w.rescanNow(ctx)
		case _, ok := <-mountCh:
			w.busy()
			onMount(ok)
		case <-timer.C:
			w.busy()
			err = dueWork(time.Now(), probing)
		}
		if err != nil {
			return err
		}
	}
}

// passAt is when the next settle pass is due: the earliest settle
// deadline, but not within settleGap of the last pass; zero if nothing is
// pending.
func (w *Watcher) passAt() time.Time {
	if w.settleAt.IsZero() {
		return time.Time{}
	}
	if gap := w.lastPass.Add(settleGap); gap.After(w.settleAt) {
		return gap
	}
	return w.settleAt
}

// send hands batch to out in pieces of at most maxBatch.
func (w *Watcher) send(ctx context.Context, out chan<- []Event, batch []Event) error {
	for len(batch) > 0 {
		n := min(len(batch), maxBatch)
		select {
		case out <- batch[:n:n]:
		case <-ctx.Done():
			return ctx.Err()
		}
		batch = batch[n:]
	}
	return nil
}

func (w *Watcher) event(ctx context.Context, ev fsnotify.Event) {
	if w.o.OnEvent != nil {
		w.o.OnEvent()
	}
	w.handle(ctx, ev)
}

// watchError handles an error from fsnotify: every one costs a rescan.
func (w *Watcher) watchError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		if now := time.Now(); now.Before(w.overflowQuiet) {
			w.overflowsHeld++ // summed up by overflowSummary
		} else {
			w.log.Warn("kernel event queue overflowed; rescanning the tree (more overflows are summed up in one line at most every " + overflowLogEvery.String() + ")")
			w.overflowQuiet = now.Add(overflowLogEvery)
		}
		if w.o.OnOverflow != nil {
			w.o.OnOverflow()
		}
		return
	}
	w.log.Error("watch error; rescanning", "err", err)
}

// overflowLogEvery is the least time between two log lines about
// event-queue overflows: a tree that overflows again and again gets one
// line, then a count per period (OnOverflow counts every one).
const overflowLogEvery = 5 * time.Minute

// overflowSummary logs how many overflows were not logged in the period
// that ended, if any; Run calls it when overflowQuiet is due.
func (w *Watcher) overflowSummary(now time.Time) {
	if w.overflowsHeld == 0 || now.Before(w.overflowQuiet) {
		return
	}
	w.log.Warn("kernel event queue overflowed again; each was rescanned", "overflows", w.overflowsHeld, "period", overflowLogEvery)
	w.overflowsHeld = 0
	w.overflowQuiet = now.Add(overflowLogEvery)
}

// pump handles the events that are waiting, without blocking: a scan calls
// it at every folder, so the kernel's queue is read while a big tree is
// walked. An error (overflow) makes Run scan again after this scan.
func (w *Watcher) pump(ctx context.Context) {
	evs, errs := w.eventChans()
	if evs == nil {
		return
	}
	for {
		select {
		case ev, ok := <-evs:
			if !ok {
				return
			}
			w.event(ctx, ev)
		case err, ok := <-errs:
			if !ok {
				return
			}
			w.watchError(err)
			w.again = true
		default:
			return
		}
	}
}

func (w *Watcher) rescanNow(ctx context.Context) {
	if err := w.scan(ctx); err != nil && ctx.Err() == nil {
		w.log.Error("rescan failed", "err", err)
	}
}

// polling reports whether some part of the tree is polled.
func (w *Watcher) polling() bool { return len(w.pollRoots) > 0 }

func (w *Watcher) rel(p string) string {
	r, err := filepath.Rel(w.o.Root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}

func (w *Watcher) abs(rel string) string {
	if rel == "." || rel == "" {
		return w.o.Root
	}
	return filepath.Join(w.o.Root, filepath.FromSlash(rel))
}

// wanted applies the ready marker, the ignore list, include and exclude to
// a file.
func (w *Watcher) wanted(rel string) bool {
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	if w.marker.Is(base) {
		return false
	}
	for _, p := range w.o.Ignore {
		if ok, _ := doublestar.Match(p, base); ok {
			return false
		}
	}
	for _, p := range w.o.Exclude {
		if ok, _ := doublestar.Match(p, rel); ok {
			return false
		}
	}
	for _, p := range w.o.Include {
		if p == "**" {
			return true
		}
		if ok, _ := doublestar.Match(p, rel); ok {
			return true
		}
	}
	return false
}

// skipDir reports whether a folder is excluded as a whole.
func (w *Watcher) skipDir(rel string) bool {
	for _, p := range w.o.Exclude {
		if ok, _ := doublestar.Match(p, rel); ok {
			return true
		}
	}
	return false
}

// stat returns the fingerprint of the file rel, looked up beneath the root
// (safefs.Stat): a folder swapped for a symlink is never stat'ed through,
// a final symlink is followed only with FollowSymlinks. During a walk's
// listing the listed folder's open handle serves its files.
func (w *Watcher) stat(rel string) (fsid.Fingerprint, os.FileInfo, error) {
	var fi os.FileInfo
	var err error
	if l := w.listing; l.d != nil && path.Dir(rel) == l.rel {
		fi, err = l.d.Stat(path.Base(rel), w.o.FollowSymlinks)
	} else {
		fi, err = safefs.Stat(w.o.Root, rel, w.o.FollowSymlinks)
	}
	if err != nil {
		return fsid.Fingerprint{}, nil, err
	}
	return fsid.Of(fi), fi, nil
}

// listFolder makes the folder rel (slash-separated, "." for the root) the
// one whose files stat looks up through an open handle, opened beneath the
// root, unless it already is. If it cannot be opened, stat looks each file
// up on its own and meets the same error.
func (w *Watcher) listFolder(rel string) {
	if w.listing.d != nil && w.listing.rel == rel {
		return
	}
	w.closeListing()
	if d, err := safefs.OpenDir(w.o.Root, beneath(rel)); err == nil {
		w.listing = listing{rel: rel, d: d}
	}
}

// closeListing closes the handle listFolder opened, if any.
func (w *Watcher) closeListing() {
	if w.listing.d != nil {
		w.listing.d.Close()
	}
	w.listing = listing{}
}

// beneath turns a folder's rel into safefs's: "" for the root.
func beneath(rel string) string {
	if rel == "." {
		return ""
	}
	return rel
}

// missing reports whether err means that nothing is at a path in the
// watch: absent, or behind a symlink or a file where a folder was.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, safefs.ErrOutside)
}

// note records a file event: the settle clock restarts.
func (w *Watcher) note(rel string, gone bool) { w.noteSeen(rel, gone, nil) }

// noteSeen is note with the file's information when the caller has just
// looked it up as stat would (nil: look it up).
func (w *Watcher) noteSeen(rel string, gone bool, seen os.FileInfo) {
	if !w.wanted(rel) {
		w.markerSeen(rel, gone)
		return
	}
	if !gone {
		var fp fsid.Fingerprint
		fi, err := seen, error(nil)
		if fi == nil {
			fp, fi, err = w.stat(rel)
		} else {
			fp = fsid.Of(fi)
		}
		if err != nil {
			gone = true
		} else if !fi.Mode().IsRegular() {
			delete(w.pending, rel)
			return
		} else {
			w.noteFP(rel, fp)
			return
		}
	}
	w.noteGone(rel)
}

// noteFP records a file seen with fingerprint fp.
func (w *Watcher) noteFP(rel string, fp fsid.Fingerprint) {
	e := w.entry(rel)
	if e.dir && e.gone {
		// A folder went away and a file took its name before the
		// folder's Gone settled: the Gone is sent with the next batch
		// (goneDirs), the file is noted as any.
		w.goneDirs = append(w.goneDirs, rel)
	}
	e.fp, e.gone, e.dir = fp, false, false
	if w.o.EmitDeletes {
		w.files[rel] = w.gen
	}
}

// noteGone records that a file is gone.
func (w *Watcher) noteGone(rel string) {
	e := w.entry(rel)
	e.gone = true
	delete(w.files, rel)
}

func (w *Watcher) entry(rel string) *entry {
	e := w.pending[rel]
	if e == nil {
		e = &entry{}
		w.pending[rel] = e
	}
	e.last, e.notBefore = w.stamp, time.Time{}
	if e.last.IsZero() {
		e.last = time.Now()
	}
	w.due(e.last.Add(w.o.Settle))
	return e
}

// stampFiles makes the files noted until the returned func is called share
// one time, so that they settle, and reach the queue, together: the files
// of one folder listing, or of one folder marker.
func (w *Watcher) stampFiles() (done func()) {
	if !w.stamp.IsZero() {
		return func() {} // an outer listing's time holds
	}
	w.stamp = time.Now()
	return func() { w.stamp = time.Time{} }
}

// due makes Run wake at t at the latest.
func (w *Watcher) due(t time.Time) {
	if w.settleAt.IsZero() || t.Before(w.settleAt) {
		w.settleAt = t
	}
}

// handle handles one event. A metadata change (Chmod: inotify's IN_ATTRIB,
// for a mode, owner, extended attribute or times set) counts as a change
// of a wanted file, which it is to the fingerprint (it moves the ctime),
// and makes a folder that has no watch (it could not be read) be walked:
// a file or folder that could not be read is taken as soon as its
// permissions are fixed, not at the next reconcile.
func (w *Watcher) handle(ctx context.Context, ev fsnotify.Event) {
	attrib := ev.Op == fsnotify.Chmod
	rel := w.rel(ev.Name)
	if rel == "." || strings.HasPrefix(rel, "../") {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			// Renamed, its watches would report the old paths.
			w.rootLost(fmt.Errorf("watch root %s was removed or renamed", w.o.Root))
		}
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if old, ok := w.dirs[ev.Name]; ok && w.wasMountPoint(ev.Name, old) {
			// A mount point removed after its unmount: the share's
			// files are away, not deleted.
			w.forgetTree(ev.Name)
			return
		}
		if w.covered(ev.Name) {
			w.unwatchTree(ev.Name)
			if w.o.EmitDeletes {
				e := w.entry(rel)
				e.gone, e.dir = true, true
			}
			return
		}
		if w.o.EmitDeletes {
			w.note(rel, true)
		} else {
			delete(w.pending, rel)
			w.markerSeen(rel, true)
		}
		return
	}
	fi, err := safefs.Stat(w.o.Root, rel, false)
	if err != nil {
		return // already gone again (a Remove event follows), or behind a link
	}
	if fi.IsDir() {
		unwatched := !w.covered(ev.Name)
		if (ev.Has(fsnotify.Create) || attrib && unwatched) && w.o.Recursive && !w.skipDir(rel) {
			w.walkNew(ctx, ev.Name)
		}
		return
	}
	if attrib && !w.wanted(rel) {
		return // a marker's or an ignored file's metadata releases nothing
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		fi = nil // stat follows it or not, as FollowSymlinks says
	}
	w.noteSeen(rel, false, fi)
}

// covered reports whether the folder dir has a watch or is polled.
func (w *Watcher) covered(dir string) bool {
	_, ok := w.dirs[dir]
	return ok || w.pollRoots[dir]
}

// unwatchTree drops the watches of a folder that was renamed or removed and
// of every folder below it, with what polling knew of them. inotify
// watches follow the inode, so a renamed folder's watches would go on
// reporting the old paths; the folder's new name arrives as a Create and is
// walked and watched afresh.
func (w *Watcher) unwatchTree(dir string) {
	w.dropWatches(dir)
	w.forgetFiles(w.rel(dir))
}

// dropWatches removes the watches of dir and of every folder below it,
// and forgets which of them were polled; what was known of their files
// stays, so that the sweep after the next walk notes the files it does
// not find there again as gone.
func (w *Watcher) dropWatches(dir string) {
	prefix := dir + string(filepath.Separator)
	if dir == w.o.Root {
		prefix = "" // everything
	}
	under := func(d string) bool { return d == dir || strings.HasPrefix(d, prefix) }
	for d := range w.dirs {
		if under(d) {
			_ = w.fsw.Remove(d) // fsnotify may have dropped it already
			delete(w.dirs, d)
		}
	}
	for d := range w.pollRoots {
		if under(d) {
			delete(w.pollRoots, d)
		}
	}
}

// staleWatches drops the watch of every folder in dirs (and of those
// below it) whose path no longer leads to the folder that was watched
// (renamed, removed, replaced, or covered or uncovered by a mount): its
// events would be reported under a path that is not its own, and inotify,
// asked to watch its new path, returns the same watch, which fsnotify
// keeps under the old path. It returns the folders whose watches it
// dropped, parents first; a walk then watches what the paths lead to now.
// A folder now on another device (a file system mounted or unmounted
// there), or gone and recorded as a mount point, is treated like the
// root: what was known of its files is forgotten, so nothing is deleted
// for them.
func (w *Watcher) staleWatches(dirs []string) []string {
	slices.Sort(dirs)
	var stale []string
	for _, d := range dirs {
		old, ok := w.dirs[d]
		if !ok || d == w.o.Root {
			continue // dropped with a parent already; the root is prepareRoot's
		}
		id, err := w.dirIdent(w.rel(d))
		if err == nil && id == old {
			continue
		}
		if err == nil && id.dev != old.dev || w.wasMountPoint(d, old) {
			// Another file system there now, or a mount point gone
			// (an automounter removes the folder with the unmount).
			w.forgetTree(d)
		} else {
			w.dropWatches(d)
		}
		stale = append(stale, d)
	}
	return stale
}

// wasMountPoint reports whether the watched folder dir was a mount point
// when recorded (old): on another device than its parent's record.
func (w *Watcher) wasMountPoint(dir string, old dirID) bool {
	if dir == w.o.Root {
		return false
	}
	if p, ok := w.dirs[filepath.Dir(dir)]; ok {
		return p.dev != old.dev
	}
	p, ok := w.folders[path.Dir(w.rel(dir))]
	return ok && p.dev != old.dev
}

// forgetTree drops the watches of dir and below, and forgets what was
// recorded of the files there (forgetBelow): its file system went away.
func (w *Watcher) forgetTree(dir string) {
	w.dropWatches(dir)
	w.forgetBelow(w.rel(dir))
}

// checkMounts re-checks, after a mount table change, the watched folders
// whose mount status may have changed: those that are mount points now
// (the mount table) and those that were one when watched (on another
// device than their parent folder). A folder a file system was mounted on
// or unmounted from is watched afresh and walked: inotify's watch stays
// on the folder beneath a new mount, and an unmount (IN_UNMOUNT) only
// drops the watch, with no event. It costs a read of the mount table and
// a stat per candidate, and runs only when the mount table changes.
func (w *Watcher) checkMounts(ctx context.Context) {
	if w.state() != nil || len(w.dirs) == 0 {
		return // the root's own check decides
	}
	var cand []string
	for d, id := range w.dirs {
		if d == w.o.Root {
			continue
		}
		if p, ok := w.dirs[filepath.Dir(d)]; !ok || p.dev != id.dev {
			cand = append(cand, d)
		}
	}
	if mps, err := mountPoints(); err == nil && len(mps) > 0 {
		if real, err := filepath.EvalSymlinks(w.o.Root); err == nil {
			prefix := strings.TrimSuffix(real, "/") + "/"
			for _, mp := range mps {
				if r, ok := strings.CutPrefix(mp, prefix); ok && r != "" {
					if d := filepath.Join(w.o.Root, r); w.covered(d) {
						cand = append(cand, d)
					}
				}
			}
		}
	}
	for _, d := range w.staleWatches(cand) {
		w.walkNew(ctx, d)
	}
}

// dirIdent returns the identity of the folder at rel, looked up beneath
// the root; anything but a folder there is an error.
func (w *Watcher) dirIdent(rel string) (dirID, error) {
	if rel == "." {
		id, err := statRoot(w.o.Root)
		return dirID{dev: id.dev, ino: id.ino}, err
	}
	fi, err := safefs.Stat(w.o.Root, rel, false)
	if err != nil {
		return dirID{}, err
	}
	if !fi.IsDir() {
		return dirID{}, fmt.Errorf("%s is no longer a folder", rel)
	}
	fp := fsid.Of(fi)
	return dirID{dev: fp.Dev, ino: fp.Inode}, nil
}

// settled returns the entries that have been quiet for the settle period
// and whose second stat agrees with the first; the others wait again. It
// sets settleAt to the earliest time a remaining entry may be due.
//
// The due entries are looked at in path order, and the files of one folder
// through one handle on it, opened beneath the root for this pass as a
// walk's listing is (stat), not once per file.
func (w *Watcher) settled(now time.Time) []Event {
	var batch []Event
	for _, rel := range w.goneDirs {
		batch = append(batch, Event{Rel: rel, Gone: true, Dir: true})
	}
	w.goneDirs = nil
	var due []string
	w.settleAt = time.Time{}
	for rel, e := range w.pending {
		if t := e.last.Add(w.o.Settle); now.Before(t) {
			w.due(t)
			continue
		}
		if now.Before(e.notBefore) {
			w.due(e.notBefore)
			continue
		}
		due = append(due, rel)
	}
	slices.Sort(due)
	defer w.closeListing()
	for _, rel := range due {
		e := w.pending[rel]
		w.listFolder(path.Dir(rel))
		fp, fi, err := w.stat(rel)
		switch {
		case e.dir:
			if missing(err) {
				batch = append(batch, Event{Rel: rel, Gone: true, Dir: true})
			} // else it came back: its Create is walked as usual
			delete(w.pending, rel)
		case err != nil:
			if missing(err) && e.gone && w.o.EmitDeletes {
				batch = append(batch, Event{Rel: rel, Gone: true})
			} else if !missing(err) {
				w.reportOnce(w.abs(rel), err)
			} else {
				w.forgetFileReport(rel)
			}
			delete(w.pending, rel)
		case !fi.Mode().IsRegular():
			if e.gone && w.o.EmitDeletes {
				// The file went and a folder (or something else the
				// watch never sends) took its name: the file is gone.
				batch = append(batch, Event{Rel: rel, Gone: true})
			}
			delete(w.pending, rel)
		case e.gone || fp != e.fp:
			e.fp, e.gone, e.last = fp, false, now // changed since the last look: wait again
			w.due(now.Add(w.o.Settle))
		case w.o.MinAge > 0 && now.Before(fp.Time().Add(w.o.MinAge)):
			// Too young by its mtime; an mtime in the future waits
			// min_age, not until then.
			e.notBefore = fp.Time().Add(w.o.MinAge)
			if lim := now.Add(w.o.MinAge); e.notBefore.After(lim) {
				e.notBefore = lim
			}
			w.due(e.notBefore)
		case !w.markerReady(rel):
			// Waits for its marker, whose arrival notes it again.
			delete(w.pending, rel)
		default:
			batch = append(batch, Event{Rel: rel, FP: fp})
			delete(w.pending, rel)
			w.forgetFileReport(rel)
		}
	}
	return batch
}
