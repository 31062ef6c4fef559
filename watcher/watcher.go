// Package watcher finds files that are ready to upload under a folder tree.
//
// fsnotify is not recursive, so the watcher walks the tree and watches
// every folder, adding folders created later (a whole tree created at once
// is walked after its top folder's watch is in place, so nothing created in
// between is missed). A file is emitted only when it has settled: no events
// for the settle period, and two stats (size, mtime, inode) that agree. The
// watcher never trusts events alone: it scans the whole tree at start, after
// an event-queue overflow, and every reconcile interval; the queue drops
// what was already delivered unchanged.
package watcher

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/fsnotify/fsnotify"

	"github.com/dropsync/dropsync/internal/fsid"
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
	Log            *slog.Logger
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

// Watcher watches one tree. Create it with New, then call Run.
type Watcher struct {
	o   Options
	log *slog.Logger
	fsw *fsnotify.Watcher

	rescan chan struct{}
	dirs   map[string]bool // folders with a watch; owned by Run's goroutine

	mu      sync.Mutex
	health  error
	reports map[string]bool // paths whose errors were already logged
}

// New checks the options and opens the fsnotify watcher.
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
	for _, p := range append(append(append([]string{}, o.Include...), o.Exclude...), o.Ignore...) {
		if !doublestar.ValidatePattern(p) {
			return nil, fmt.Errorf("watcher: bad glob %q", p)
		}
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watcher: %w", limitHint(err))
	}
	return &Watcher{o: o, log: o.Log.With("watch", o.Root), fsw: fsw, rescan: make(chan struct{}, 1), dirs: map[string]bool{}, reports: map[string]bool{}}, nil
}

// Close releases a watcher that was made but will not Run (Run closes
// its own).
func (w *Watcher) Close() error { return w.fsw.Close() }

// Health returns nil while the watch works, or what broke it.
func (w *Watcher) Health() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.health
}

func (w *Watcher) setHealth(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.health = err
}

// rootProbe is how often a missing watch root is looked for.
var rootProbe = 10 * time.Second

// rootLost records that the root is gone, warning once per loss. Nothing is
// deleted for it: a vanished root is far more often an unmounted share than
// an emptied drop folder.
func (w *Watcher) rootLost(err error) {
	if w.Health() == nil {
		w.log.Warn("watch root is gone; nothing is deleted for it, and it is watched again when it comes back", "err", err)
	}
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
	w.mu.Lock()
	seen := w.reports[path]
	w.reports[path] = true
	w.mu.Unlock()
	if !seen {
		w.log.Warn("cannot read, skipping", "path", path, "err", err)
	}
}

type entry struct {
	last time.Time // last event or stat change
	fp   fsid.Fingerprint
	gone bool
	dir  bool // a watched folder that went away
}

// Run watches until ctx ends, sending each tick's settled events as one
// batch to out. It returns ctx's error, or an error if the tree cannot be
// watched at all.
func (w *Watcher) Run(ctx context.Context, out chan<- []Event) error {
	defer w.fsw.Close()
	pending := map[string]*entry{} // owned by this goroutine
	if err := w.scan(pending); err != nil {
		return err
	}
	if w.o.OnScanned != nil {
		w.o.OnScanned()
	}
	tick := time.NewTicker(min(max(w.o.Settle/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	// While the root is missing (an unmounted share, a renamed folder), look
	// for it again every rootProbe.
	probe := time.NewTicker(rootProbe)
	defer probe.Stop()
	var reconcile <-chan time.Time
	if w.o.Reconcile > 0 {
		rt := time.NewTicker(w.o.Reconcile)
		defer rt.Stop()
		reconcile = rt.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return errors.New("watcher: fsnotify closed")
			}
			if w.o.OnEvent != nil {
				w.o.OnEvent()
			}
			w.handle(ev, pending)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return errors.New("watcher: fsnotify closed")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("kernel event queue overflowed; rescanning the tree")
				if w.o.OnOverflow != nil {
					w.o.OnOverflow()
				}
				w.rescanNow(pending)
				continue
			}
			w.log.Error("watch error; rescanning", "err", err)
			w.rescanNow(pending)
		case <-w.rescan:
			w.rescanNow(pending)
		case <-probe.C:
			if w.Health() != nil {
				w.rescanNow(pending)
			}
		case <-reconcile:
			w.rescanNow(pending)
		case now := <-tick.C:
			if batch := w.settled(now, pending); len(batch) > 0 {
				select {
				case out <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
}

func (w *Watcher) rescanNow(pending map[string]*entry) {
	if err := w.scan(pending); err != nil {
		w.log.Error("rescan failed", "err", err)
	}
}

// scan walks the tree, watching every folder and noting every file.
func (w *Watcher) scan(pending map[string]*entry) error {
	st, err := os.Stat(w.o.Root)
	if err != nil || !st.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		w.rootLost(fmt.Errorf("watch root %s is unavailable: %w", w.o.Root, err))
		return nil // keep running: the probe finds it again (an unmounted share)
	}
	if err := w.walk(w.o.Root, pending); err != nil {
		w.setHealth(err)
		return err
	}
	if w.Health() != nil {
		w.log.Warn("watch root is back; watching it again")
	}
	w.setHealth(nil)
	return nil
}

// walk watches dir and everything below it and notes the files found. The
// watch on a folder is added before its entries are read, so a file created
// meanwhile is either listed or reported by an event.
func (w *Watcher) walk(dir string, pending map[string]*entry) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			w.reportOnce(p, err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel := w.rel(p)
		if d.IsDir() {
			if p != w.o.Root && (!w.o.Recursive || w.skipDir(rel)) {
				return fs.SkipDir
			}
			if err := w.fsw.Add(p); err != nil {
				if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
					return fmt.Errorf("watch %s: %w", p, limitHint(err))
				}
				w.reportOnce(p, err)
				return fs.SkipDir
			}
			w.dirs[p] = true
			return nil
		}
		w.note(p, rel, false, pending)
		return nil
	})
}

func (w *Watcher) rel(p string) string {
	r, err := filepath.Rel(w.o.Root, p)
	if err != nil {
		return filepath.ToSlash(p)
	}
	return filepath.ToSlash(r)
}

// wanted applies the ignore list, include and exclude to a file.
func (w *Watcher) wanted(rel string) bool {
	base := rel[strings.LastIndexByte(rel, '/')+1:]
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

// note records a file event: the settle clock restarts.
func (w *Watcher) note(p, rel string, gone bool, pending map[string]*entry) {
	if !w.wanted(rel) {
		return
	}
	e := pending[rel]
	if e == nil {
		e = &entry{}
		pending[rel] = e
	}
	e.last, e.gone = time.Now(), gone
	if !gone {
		e.dir = false // a file now stands where a folder went away
	}
	if !gone {
		fp, fi, err := fsid.StatFollow(p, w.o.FollowSymlinks)
		if err != nil {
			e.gone = true
			return
		}
		if !fi.Mode().IsRegular() {
			delete(pending, rel)
			return
		}
		e.fp = fp
	}
}

func (w *Watcher) handle(ev fsnotify.Event, pending map[string]*entry) {
	if ev.Op == fsnotify.Chmod {
		return // metadata noise from indexers and virus scanners
	}
	rel := w.rel(ev.Name)
	if rel == "." || strings.HasPrefix(rel, "../") {
		if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			w.unwatchTree(w.o.Root) // renamed, its watches would report the old paths
			w.rootLost(fmt.Errorf("watch root %s was removed or renamed", w.o.Root))
		}
		return
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if w.dirs[ev.Name] {
			w.unwatchTree(ev.Name)
			if w.o.EmitDeletes {
				pending[rel] = &entry{last: time.Now(), gone: true, dir: true}
			}
			return
		}
		if w.o.EmitDeletes {
			w.note(ev.Name, rel, true, pending)
		} else {
			delete(pending, rel)
		}
		return
	}
	fi, err := os.Lstat(ev.Name)
	if err != nil {
		return // already gone again; a Remove event follows
	}
	if fi.IsDir() {
		if ev.Has(fsnotify.Create) && w.o.Recursive && !w.skipDir(rel) {
			if err := w.walk(ev.Name, pending); err != nil {
				w.setHealth(err)
				w.log.Error("cannot watch new folder", "err", err)
			}
		}
		return
	}
	w.note(ev.Name, rel, false, pending)
}

// unwatchTree drops the watches of a folder that was renamed or removed and
// of every folder below it. inotify watches follow the inode, so a renamed
// folder's watches would go on reporting the old paths; the folder's new
// name arrives as a Create and is walked and watched afresh.
func (w *Watcher) unwatchTree(dir string) {
	prefix := dir + string(filepath.Separator)
	for d := range w.dirs {
		if d == dir || strings.HasPrefix(d, prefix) {
			_ = w.fsw.Remove(d) // fsnotify may have dropped it already
			delete(w.dirs, d)
		}
	}
}

// settled returns the entries that have been quiet for the settle period
// and whose second stat agrees with the first; the others wait again.
func (w *Watcher) settled(now time.Time, pending map[string]*entry) []Event {
	var batch []Event
	for rel, e := range pending {
		if now.Sub(e.last) < w.o.Settle {
			continue
		}
		p := filepath.Join(w.o.Root, filepath.FromSlash(rel))
		fp, fi, err := fsid.StatFollow(p, w.o.FollowSymlinks)
		switch {
		case e.dir:
			if errors.Is(err, fs.ErrNotExist) {
				batch = append(batch, Event{Rel: rel, Gone: true, Dir: true})
			} // else it came back: its Create is walked as usual
			delete(pending, rel)
		case err != nil:
			if errors.Is(err, fs.ErrNotExist) && e.gone && w.o.EmitDeletes {
				batch = append(batch, Event{Rel: rel, Gone: true})
			} else if !errors.Is(err, fs.ErrNotExist) {
				w.reportOnce(p, err)
			}
			delete(pending, rel)
		case !fi.Mode().IsRegular():
			delete(pending, rel)
		case e.gone || fp != e.fp:
			e.fp, e.gone, e.last = fp, false, now // changed since the last look: wait again
		default:
			batch = append(batch, Event{Rel: rel, FP: fp})
			delete(pending, rel)
		}
	}
	return batch
}
