package watcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/internal/safefs"
)

// scan checks the root and walks the whole tree, watching or polling every
// folder and noting every file. It returns ctx's error when cancelled.
func (w *Watcher) scan(ctx context.Context) error {
	if !w.prepareRoot() {
		return nil // waiting: the root probe finds it again
	}
	mt := takeMountTable()
	defer mt.close()
	// A folder renamed, removed or replaced while events were lost (an
	// overflow) still has its watch under its old path: dropped here, it
	// is watched under its new one by the walk.
	w.staleWatches(slices.Collect(maps.Keys(w.dirs)))
	w.gen++
	w.unread = w.unread[:0]
	if err := w.walk(ctx, w.o.Root, w.pollRoots[w.o.Root], true); err != nil {
		return err
	}
	switch {
	case !w.rootUnchanged():
		// Unmounted while it was walked: nothing is swept.
	case mt.changed():
		// A file system was mounted or unmounted while the tree was
		// walked: what the walk did not find may be on a share that
		// was away for a moment. The next scan sweeps.
	default:
		memo := map[string]bool{}
		w.sweep(memo)
		w.sweepFiles(memo)
		w.pruneFolders(".")
	}
	w.pruneReports()
	return nil
}

// sweepFiles notes as gone every file noted before (files, kept with
// EmitDeletes) that the full walk just made did not find, except below
// folders it could not read: one deleted while events were lost. A file
// whose folder was not listed on the file system it was recorded on
// (listedOn) is forgotten instead.
func (w *Watcher) sweepFiles(memo map[string]bool) {
	for rel, gen := range w.files {
		if gen == w.gen || w.underUnread(rel) {
			continue
		}
		if w.listedOn(path.Dir(rel), memo) {
			w.noteGone(rel)
		} else {
			delete(w.files, rel)
		}
	}
}

// listedOn reports whether a file recorded in the folder dir that the
// walk just made did not find is gone: the walk listed dir to the end on
// the device its files were recorded on (walk forgets them when the
// device differs), or dir is gone and was on the same device as its
// parent, itself listed so or gone so (a folder deleted with its files).
// A folder that was a mount point (another device than its parent's), or
// that has no record, is not: its files are forgotten, never gone. memo
// holds the answers of one sweep.
func (w *Watcher) listedOn(dir string, memo map[string]bool) bool {
	if v, ok := memo[dir]; ok {
		return v
	}
	f, ok := w.folders[dir]
	v := false
	switch {
	case !ok:
	case f.gen == w.gen:
		v = true
	case dir != ".":
		p, ok := w.folders[path.Dir(dir)]
		v = ok && p.dev == f.dev && w.listedOn(path.Dir(dir), memo)
	}
	memo[dir] = v
	return v
}

// pruneFolders forgets the folder records at and below rel that the walk
// just made did not list (gone, or not readable): run after its sweep.
func (w *Watcher) pruneFolders(rel string) {
	for r, f := range w.folders {
		if f.gen != w.gen && under(r, rel) {
			delete(w.folders, r)
		}
	}
}

// under reports whether the slash-separated rel is dir or below it ("."
// holds everything).
func under(rel, dir string) bool {
	return dir == "." || rel == dir || strings.HasPrefix(rel, dir+"/")
}

// forgetFiles forgets the records of the files at and below the folder
// dir (rel; "." for the whole tree): the sweep's (files) and polling's
// (known).
func (w *Watcher) forgetFiles(dir string) {
	for r := range w.files {
		if under(r, dir) {
			delete(w.files, r)
		}
	}
	for r := range w.known {
		if under(r, dir) {
			delete(w.known, r)
		}
	}
}

// forgetBelow forgets what was recorded of the files at and below the
// folder dir (rel; "." for the whole tree), and of its folders: the file
// system they were recorded on went away or was replaced, so a file not
// found there now is not known to be gone. Pending Gone entries there are
// dropped too: nothing is reported gone for a share that is away.
func (w *Watcher) forgetBelow(dir string) {
	w.forgetFiles(dir)
	for r, e := range w.pending {
		if e.gone && under(r, dir) {
			delete(w.pending, r)
		}
	}
	for r := range w.folders {
		if under(r, dir) {
			delete(w.folders, r)
		}
	}
}

// prepareRoot looks at the root before a scan. A missing root, or a mount
// point whose file system went away, makes the watch wait (false). A root
// seen for the first time, back, or changed (another device or inode: a
// remount, another share mounted over it) is watched afresh, and the mode
// is decided for the file system found there.
func (w *Watcher) prepareRoot() bool {
	id, err := statRoot(w.o.Root)
	if err != nil {
		w.rootLost(fmt.Errorf("watch root %s is unavailable: %w", w.o.Root, err))
		return false
	}
	if w.root.mount && !id.mount {
		w.rootLost(fmt.Errorf("watch root %s: the file system mounted there is gone (unmounted); waiting for it to be mounted again", w.o.Root))
		return false
	}
	healthy := w.state() == nil
	same := w.root.seen && id.dev == w.root.dev && id.ino == w.root.ino
	if same && (healthy || w.denied > 0) && w.noInotify == nil {
		return true // a root that could not be read is tried again by the walk
	}
	if same && healthy {
		// Polled for want of an inotify instance: asked for again at
		// every full scan, and nothing recorded is forgotten (a file
		// deleted since the last poll is swept by this scan).
		w.retryInotify()
		return true
	}
	switch {
	case w.denied > 0:
		// The walk says whether it can be read now.
	case !healthy && w.root.seen:
		w.log.Warn("watch root is back; watching it again")
	case !healthy:
		w.log.Warn("watch root appeared; watching it")
	case w.root.seen:
		w.log.Warn("watch root changed (remounted, or another folder or file system is there now); watching it again and rescanning")
	}
	w.unwatchTree(w.o.Root)
	w.root = rootID{seen: true, dev: id.dev, ino: id.ino, mount: id.mount || w.root.mount}
	d := Decide(w.o.Mode, w.o.Root)
	var noInotify error
	if !d.Poll && w.fsw == nil {
		if fsw, err := fsnotify.NewWatcher(); err != nil {
			noInotify = err
			d = Decision{Poll: true, Reason: "no inotify instance"}
		} else {
			w.setInotify(fsw)
		}
	}
	switch {
	case noInotify != nil && w.noInotify == nil:
		w.log.Warn("cannot have file-system events (no inotify instance); polling instead, and asking again at every full scan",
			"poll_interval", w.o.PollInterval, "err", limitHint(noInotify))
	case d == w.decision:
	case d.Poll:
		w.log.Info("watching by polling", "poll_interval", w.o.PollInterval, "reason", d.Reason)
	default:
		w.log.Info("watching with file-system events", "reason", d.Reason)
	}
	w.noInotify = noInotify
	w.decision = d
	if d.Poll {
		w.pollRoots[w.o.Root] = true
	}
	if w.denied == 0 {
		w.setHealth(nil)
	}
	return true
}

// retryInotify asks again for the inotify instance a healthy, unchanged
// root polled for want of one lacks. Got, the watch uses events from the
// walk that follows: the root is no longer polled and what polling knew
// (known) goes, but the files recorded for the sweep (files) stay.
func (w *Watcher) retryInotify() {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		w.noInotify = err
		return
	}
	w.setInotify(fsw)
	w.noInotify = nil
	d := Decide(w.o.Mode, w.o.Root)
	w.decision = d
	if d.Poll {
		w.log.Info("watching by polling", "poll_interval", w.o.PollInterval, "reason", d.Reason)
		return
	}
	w.dropWatches(w.o.Root)
	clear(w.known)
	w.log.Info("watching with file-system events", "reason", d.Reason)
}

// rootDenied records that the root could not be watched or read
// (permissions): the watch is unhealthy, logged once, and the root is
// tried again every rootProbe, doubling up to rootProbeMax, until the
// walk can watch and read it (rootReadable).
func (w *Watcher) rootDenied(err error) {
	if w.denied == 0 {
		w.log.Warn("watch root cannot be read; nothing is watched, and it is tried again (backing off) until it can", "err", err)
	}
	w.denied++
	w.setHealth(fmt.Errorf("watch root %s cannot be read: %w", w.o.Root, err))
}

// rootReadable ends what rootDenied began.
func (w *Watcher) rootReadable() {
	if w.denied > 0 {
		w.denied = 0
		w.log.Warn("watch root can be read now; watching it")
		w.setHealth(nil)
	}
}

// rootProbeMax caps the interval between two tries of a root that could
// not be read.
const rootProbeMax = 64

// probeEvery is the time until the next root probe: rootProbe, or while
// the root cannot be read, rootProbe doubled with every failed try, up to
// rootProbeMax times.
func (w *Watcher) probeEvery() time.Duration {
	if w.denied <= 1 {
		return rootProbe
	}
	return rootProbe * time.Duration(min(1<<min(w.denied-1, 6), rootProbeMax))
}

// probeRoot checks the root between scans; anything other than the root
// watched now (gone, unmounted, replaced, or back) makes a scan.
func (w *Watcher) probeRoot(ctx context.Context) {
	id, err := statRoot(w.o.Root)
	if err == nil && w.state() == nil && w.root.seen && id == (rootStat{dev: w.root.dev, ino: w.root.ino, mount: w.root.mount}) {
		return
	}
	w.rescanNow(ctx)
}

// rootUnchanged reports whether the root is still the one watched, so that
// files a walk did not find really are gone and not on an unmounted share.
func (w *Watcher) rootUnchanged() bool {
	id, err := statRoot(w.o.Root)
	return err == nil && w.root.seen && id.dev == w.root.dev && id.ino == w.root.ino && id.mount == w.root.mount
}

// poll walks the polled parts of the tree and notes what changed since the
// last walk.
func (w *Watcher) poll(ctx context.Context) {
	if !w.rootUnchanged() {
		w.rescanNow(ctx)
		return
	}
	roots := make([]string, 0, len(w.pollRoots))
	for r := range w.pollRoots {
		roots = append(roots, r)
	}
	mt := takeMountTable()
	defer mt.close()
	w.gen++
	w.unread = w.unread[:0]
	for _, r := range roots {
		if err := w.walk(ctx, r, true, false); err != nil {
			return
		}
	}
	// As after a full scan: no sweep if the root or the mount table
	// changed meanwhile, and a polled file whose folder was not listed on
	// the device it was recorded on is forgotten, not gone (listedOn).
	if w.rootUnchanged() && !mt.changed() {
		w.sweep(map[string]bool{})
		for _, r := range roots {
			w.pruneFolders(w.rel(r))
		}
	}
}

// walkNew walks a folder that was just created.
func (w *Watcher) walkNew(ctx context.Context, dir string) {
	if err := w.walk(ctx, dir, false, true); err != nil && ctx.Err() == nil {
		w.log.Error("cannot watch new folder", "err", err)
	}
}

// walk watches (or, when polled, polls) dir and everything below it. With
// all, every file is noted; otherwise only polled files that are new or
// changed since the last walk. The watch on a folder is added before its
// entries are read, so a file created meanwhile is either listed or
// reported by an event. At every folder it checks ctx, and before each
// sub-folder it handles the events that arrived meanwhile: a new folder's
// own watch and listing come first (its files are noted when it is
// found), and the walk of a folder without sub-folders, the usual new
// one, handles no event, so it never keeps Run's loop from a deadline.
func (w *Watcher) walk(ctx context.Context, dir string, polled, all bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if scanHook != nil {
		scanHook(dir)
	}
	rel := w.rel(dir)
	// The folder's identity is taken before its watch is added and its
	// entries read: one swapped meanwhile is found stale by the next
	// check, never trusted.
	id, idErr := w.dirIdent(rel)
	if !polled {
		if w.pollRoots[dir] {
			polled = true
		} else if poll, ok := w.watch(dir, rel, id); !ok {
			return nil
		} else {
			polled = poll
		}
	}
	d, err := safefs.OpenDir(w.o.Root, beneath(rel))
	if err != nil {
		if _, ok := w.dirs[dir]; ok && errors.Is(err, safefs.ErrOutside) {
			// Swapped for a link since its parent was listed: the watch
			// just added may be on the folder the link points to.
			_ = w.fsw.Remove(dir)
			delete(w.dirs, dir)
		}
		if !missing(err) {
			if rel == "." {
				w.rootDenied(err)
			} else {
				w.reportOnce(dir, err)
			}
			w.unread = append(w.unread, rel)
		}
		return nil
	}
	if rel == "." {
		w.rootReadable()
	}
	if f, ok := w.folders[rel]; idErr != nil || ok && f.dev != id.dev {
		// Its files were recorded on another file system (a share
		// mounted or unmounted there): none of them is known to be gone.
		w.forgetBelow(rel)
	}
	w.forgetReport(dir)
	complete := false
	var subdirs []string
	unstamp := w.stampFiles()
	w.listing = listing{rel: rel, d: d}
	for {
		w.busy()
		ents, err := d.ReadDir(512)
		for _, d := range ents {
			name := d.Name()
			crel := name
			if rel != "." {
				crel = rel + "/" + name
			}
			if d.IsDir() {
				subdirs = append(subdirs, name)
				continue
			}
			switch {
			case !w.wanted(crel):
				if polled && w.marker.Is(name) {
					w.pollFile(crel, true)
				}
			case polled:
				if fp, changed, ok := w.pollFile(crel, false); ok && (changed || all) {
					w.noteFP(crel, fp)
				}
			case all:
				w.note(crel, false)
			}
		}
		if err != nil {
			if err != io.EOF {
				w.reportOnce(dir, err)
				w.unread = append(w.unread, rel)
			}
			complete = err == io.EOF
			break
		}
	}
	w.listing = listing{}
	unstamp()
	d.Close()
	if after, err := w.dirIdent(rel); idErr != nil || err != nil || after.dev != id.dev {
		// Mounted or unmounted while it was listed: what the listing
		// found or missed says nothing of the files recorded there.
		w.forgetBelow(rel)
	} else if complete {
		w.folders[rel] = folder{dev: id.dev, gen: w.gen}
	} else if _, ok := w.folders[rel]; !ok {
		w.folders[rel] = folder{dev: id.dev} // recorded, not listed: nothing is swept for it
	}
	if !w.o.Recursive {
		return nil
	}
	for _, name := range subdirs {
		crel := name
		if rel != "." {
			crel = rel + "/" + name
		}
		if w.skipDir(crel) {
			continue
		}
		w.pump(ctx)
		if err := w.walk(ctx, filepath.Join(dir, name), polled, all); err != nil {
			return err
		}
	}
	return nil
}

// watch adds the watch on dir. It reports whether dir is to be polled
// instead (out of the inotify budget, or a path too long), and whether
// it is either watched or polled (ok): a folder that can be neither is
// left out (and reported).
func (w *Watcher) watch(dir, rel string, id dirID) (poll, ok bool) {
	err := addWatch(w, dir)
	switch {
	case err == nil:
		w.dirs[dir] = id
		return false, true
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EMFILE):
		w.overBudget(dir, err)
	case errors.Is(err, syscall.ENAMETOOLONG):
		w.tooLong(dir, err)
	case missing(err) || errors.Is(err, syscall.ENOTDIR):
		// Gone (or replaced by a file) since it was found: nothing to
		// watch and no trouble; its parent's events or the next walk
		// tell the rest.
		if rel == "." {
			w.rootLost(fmt.Errorf("watch root %s is unavailable: %w", w.o.Root, err))
		}
		return false, false
	default:
		// Unreadable: what was known below it is not swept as gone.
		w.unread = append(w.unread, rel)
		if rel == "." {
			w.rootDenied(err)
		} else {
			w.reportOnce(dir, err)
		}
		return false, false
	}
	return true, true
}

// scanHook, if set (by tests), is called at every folder a walk enters.
var scanHook func(dir string)

// addWatch adds an inotify watch; tests make it run out of the budget.
var addWatch = func(w *Watcher, dir string) error { return w.fsw.Add(dir) }

// pollFile records a polled file's fingerprint and reports whether it is
// new or changed since the last walk (ok is false for what is not a
// regular file, or is gone meanwhile: the sweep notices that). A marker
// that appeared notes the files waiting for it.
func (w *Watcher) pollFile(rel string, isMarker bool) (fp fsid.Fingerprint, changed, ok bool) {
	fp, fi, err := w.stat(rel)
	if err != nil || !fi.Mode().IsRegular() {
		return fp, false, false
	}
	k := w.known[rel]
	if k == nil {
		k = &known{}
		w.known[rel] = k
	}
	changed = k.gen == 0 || k.fp != fp
	k.fp, k.gen = fp, w.gen
	if isMarker && changed {
		w.markerSeen(rel, false)
	}
	return fp, changed, true
}

// sweep notes as gone every polled file the last walk did not find, except
// below folders it could not read; one whose folder was not listed on the
// file system it was recorded on (listedOn) is forgotten instead.
func (w *Watcher) sweep(memo map[string]bool) {
	for rel, k := range w.known {
		if k.gen == w.gen || w.underUnread(rel) {
			continue
		}
		delete(w.known, rel)
		if !w.wanted(rel) || !w.listedOn(path.Dir(rel), memo) {
			continue
		}
		if w.o.EmitDeletes {
			w.noteGone(rel)
		} else {
			delete(w.pending, rel)
		}
	}
}

func (w *Watcher) underUnread(rel string) bool {
	for _, d := range w.unread {
		if d == "." || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

// overBudget makes dir and everything below it polled, because its folders
// do not fit the inotify watch budget.
func (w *Watcher) overBudget(dir string, err error) {
	w.pollRoots[dir] = true
	if !w.budgetLogged {
		w.budgetLogged = true
		w.log.Warn("the inotify watch limit is reached: this folder and everything below it (and any other that does not fit) is polled every poll_interval instead",
			"folder", dir, "poll_interval", w.o.PollInterval, "err", limitHint(err))
	}
}

// tooLong makes dir and everything below it polled, because inotify
// watches a folder by its path and dir's is longer than the kernel takes
// (PATH_MAX); safefs looks its files up beneath the root one component at
// a time, so polling reaches them. Logged once per folder.
func (w *Watcher) tooLong(dir string, err error) {
	w.pollRoots[dir] = true
	if w.firstReport(dir) {
		w.log.Warn("folder path is too long for file-system events (inotify takes at most PATH_MAX bytes): this folder and everything below it is polled every poll_interval instead",
			"folder", dir, "poll_interval", w.o.PollInterval, "err", err)
	}
}
