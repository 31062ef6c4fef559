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
	"os"
	"path"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/internal/sandbox"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/targets"
)

// This file holds the daemon's operations on watched files; the discipline
// they follow is stated in the package comment.

// source is a watched file opened for one attempt: its folder, confined
// below the watch, and a handle on the file itself.
type source struct {
	dir    *safefs.Dir
	base   string
	follow bool
	f      *os.File
	fi     os.FileInfo
	fp     fsid.Fingerprint // from fstat of f
}

// passing reports whether err, from opening or reading a local file, may
// pass by itself: an I/O error or a timeout of a network file system
// (its server restarting), a stale handle, or the process out of file
// descriptors or memory for a moment. Other errors (no permission, a
// symlink refused, not a regular file) stay until someone changes them
// (passingErrors: the system's own codes for these).
func passing(err error) bool {
	for _, e := range passingErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// openSource opens rel below the watch: no symlink in any folder
// component (nor in the last, unless follow_symlinks), without blocking,
// regular files only. safefs.Missing(err) says no such file is there.
func openSource(wc *config.Watch, rel string) (*source, error) {
	dir, f, fi, err := safefs.OpenFile(wc.Path, rel, wc.FollowLinks)
	if err != nil {
		return nil, err
	}
	return &source{dir: dir, base: path.Base(rel), follow: wc.FollowLinks, f: f, fi: fi, fp: fsid.Of(fi)}, nil
}

func (s *source) Close() {
	s.f.Close()
	s.dir.Close()
}

// unchangedWithin is unchanged for a caller that holds an upload slot:
// on a mount that died the stats block in the kernel for good, so they run
// on a goroutine of their own, and after d the check gives up with an
// error wrapping errFSHung (the goroutine is left to end when the mount
// answers; what it finds then is dropped). Only the failure path pays for
// the goroutine.
func (s *source) unchangedWithin(d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- s.unchanged() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%w: looking at %s again has not returned for %s (a mount that hangs?)", errFSHung, s.base, d)
	}
}

// errFSHung marks a file-system call given up on because it did not
// return: the job is put back, uncounted, for retry.max.
var errFSHung = errors.New("the file system does not answer")

// unchanged returns nil while the handle's file is as it was opened (its
// fstat fingerprint, change time included, is the same) and its name
// still leads to it; otherwise an error wrapping targets.ErrChanged. On a
// mount that died it blocks in the kernel for good: a caller holding an
// upload slot uses unchangedWithin.
func (s *source) unchanged() error {
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %v", targets.ErrChanged, err)
	}
	if fsid.Of(fi) != s.fp {
		return fmt.Errorf("%w: it was written to", targets.ErrChanged)
	}
	ino, dev, err := s.dir.Ident(s.base, s.follow)
	if err != nil {
		return fmt.Errorf("%w: its name no longer leads to it: %v", targets.ErrChanged, err)
	}
	if ino != s.fp.Inode || dev != s.fp.Dev {
		return fmt.Errorf("%w: another file took its name", targets.ErrChanged)
	}
	return nil
}

// hash returns the hex SHA-256 of the handle's content.
func (s *source) hash(ctx context.Context) (string, error) {
	h := sha256.New()
	r := io.NewSectionReader(s.f, 0, s.fp.Size)
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", err
		}
	}
}

// stagePrefix starts the names of files the daemon itself makes inside a
// watch: a file staged for after_upload (stageName), a delivered file set
// aside (pendingName), a copy being moved in
// (safefs.CopyPrefix), a source copied away, about to be removed
// (safefs.RemovePrefix), the probe of the sandbox check (sandbox.ProbePrefix).
const stagePrefix = ".dropsync-"

// ownPrefixes start the names the daemon makes; it never queues them. A
// user's own ".dropsync-notes.pdf" is a file like any other.
var ownPrefixes = [...]string{stagePrefix + "stage.", stagePrefix + "pending.", safefs.CopyPrefix, safefs.RemovePrefix, sandbox.ProbePrefix}

// stageName is the name a file takes in its own folder while after_upload
// checks and moves or deletes it.
func stageName(base string) string { return ownFileName("stage.", base) }

// pendingName is the name of a delivered file whose after_upload action
// is still to be done while a newer file holds its name.
//
// Invariant: a file under the pending name is a delivered file: the daemon
// renames a file there only from the staging name, after checking that it
// is the delivered one (stagedDelivered, or the checks of staging), and
// only when its own name is taken. Such a file never re-enters the watch
// under another name (it would be uploaded again as a new file): with
// after_upload move or delete, each later after_upload of its path
// finishes its action first (finishPending) and waits while that fails;
// with keep it gets its own name back if that is free when after_upload is
// found switched to keep, and otherwise stays hidden, named in a warning:
// once the newer file is delivered, giving the older one its name back
// would upload the older content over it as the newest version. A later
// switch back to move or delete finishes it.
func pendingName(base string) string { return ownFileName("pending.", base) }

// ownFileName is stagePrefix+kind+base, or a hash of base for a name too
// long.
func ownFileName(kind, base string) string {
	n := stagePrefix + kind + base
	if len(n) > 255 { // NAME_MAX
		sum := sha256.Sum256([]byte(base))
		n = stagePrefix + kind + hex.EncodeToString(sum[:16])
	}
	return n
}

// ownName reports whether rel is a name the daemon makes (ownPrefixes).
func ownName(rel string) bool {
	base := path.Base(rel)
	for _, p := range ownPrefixes {
		if strings.HasPrefix(base, p) {
			return true
		}
	}
	return false
}

// splitRel splits a slash-separated relative path into folder and name.
func splitRel(rel string) (dir, base string) {
	dir, base = path.Split(rel)
	return strings.TrimSuffix(dir, "/"), base
}

// stepHook, if set, is called at each step of an after_upload action.
var stepHook atomic.Pointer[func(string)]

// SetStepHook makes the daemon call h at each step of an after_upload
// action, with the step's name: "recorded" (the delivery and the intent
// are committed), "synced" (and durable), "staged" (the file has its
// staging name) and "moved" (it is moved or deleted, not yet recorded).
// Crash tests kill the process there; nil removes the hook.
func SetStepHook(h func(step string)) {
	if h == nil {
		stepHook.Store(nil)
		return
	}
	stepHook.Store(&h)
}

func step(name string) {
	if h := stepHook.Load(); h != nil {
		(*h)(name)
	}
}

// deliveredOutcome records state as delivered; with after_upload move or
// delete, the intent goes into the same transaction and the job comes
// back after settle to carry it out.
func deliveredOutcome(wc *config.Watch, state *queue.FileState) queue.Outcome {
	o := queue.Outcome{Delivered: state}
	if wc.AfterUpload == "move" || wc.AfterUpload == "delete" {
		o.Intent, o.Recheck = wc.AfterUpload, time.Now().Add(wc.Settle.D())
	}
	return o
}

// recordDelivered records the outcome of a delivered (or found
// unchanged) file. With after_upload keep, what follows a delivery happens
// now (the ready marker goes); move and delete come in a later attempt
// (finishAfterUpload).
//
// also (if set) runs once the outcome is recorded, after the ready
// marker's removal. A delivery whose outcome cannot be written keeps
// claim (nil: none) until housekeeping has written it, and then runs what
// follows it (complete).
func (d *Daemon) recordDelivered(ctx context.Context, j *queue.Job, wc *config.Watch, o queue.Outcome, claim *nameClaim, also func(), log *slog.Logger) {
	then := func(requeued bool) {
		if !requeued && o.Intent == "" {
			d.readyMarkerDone(context.WithoutCancel(ctx), wc, j, log)
		}
		if also != nil {
			also()
		}
	}
	if ok, requeued := d.complete(ctx, j, o, claim, then, log); ok {
		then(requeued)
	}
}

// unsettledLimit is how many uploads in a row a file may change during
// before status calls it still being written.
const unsettledLimit = 3

// noteUnsettled counts an upload during which the file changed; reset
// clears the count after a delivery or deletion.
func (d *Daemon) noteUnsettled(watch, rel string, add, reset bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !add && len(d.changing) == 0 {
		return 0 // nothing is counted: no key to make
	}
	k := watch + "\x00" + rel
	if reset {
		delete(d.changing, k)
		return 0
	}
	if add {
		d.changing[k]++
	}
	return d.changing[k]
}

// unsettledMsg is the job's message while it waits for the file to hold
// still.
func unsettledMsg(n int, wc *config.Watch, msg string) string {
	if n >= unsettledLimit {
		return fmt.Sprintf("%s: it changed during each of its last %d uploads (nothing was committed); sending it once it holds still for %s", queue.StillWriting, n, wc.Settle.D())
	}
	return msg
}

// changedWhileSending re-queues a job whose file changed (or was
// replaced) while it was being sent; the commit was refused, so no
// version reached the server. The attempt does not count.
func (d *Daemon) changedWhileSending(ctx context.Context, j *queue.Job, wc *config.Watch, cause error, log *slog.Logger) {
	n := d.noteUnsettled(j.Watch, j.Rel, true, false)
	msg := unsettledMsg(n, wc, "the file changed while it was being sent; nothing was committed; sending it again once it settles")
	log.Info(msg, "cause", cause)
	d.requeue(ctx, j, time.Now().Add(wc.Settle.D()), msg, true, log)
}

// finishAfterUpload carries out the after_upload intent recorded with the
// delivery of prev. It returns false, doing nothing, when the file at its
// name is no longer the delivered one: it is sent again first.
func (d *Daemon) finishAfterUpload(ctx context.Context, j *queue.Job, wc *config.Watch, prev *queue.FileState, log *slog.Logger) bool {
	action := wc.AfterUpload
	dirRel, base := splitRel(j.Rel)
	stage := stageName(base)
	if action != "move" && action != "delete" {
		// after_upload was set to keep since: forget the intent (what
		// follows a delivery with keep happens: the ready marker goes), and
		// a failure of the action recorded before. A delivered file staged
		// for the action when the daemon stopped (or pending) gets its own
		// name back; never another, where it would be taken for a new file
		// and uploaded again: while a newer file holds its name it stays
		// hidden under the pending name.
		if dir, err := safefs.OpenDir(wc.Path, dirRel); err == nil {
			if f, ok := stagedDelivered(dir, stage, prev, wc.FollowLinks); ok {
				f.Close()
				d.putBackDelivered(dir, stage, base, log)
			}
			if _, err := dir.Stat(pendingName(base), false); err == nil && !putBackOwn(dir, pendingName(base), base, log) {
				log.Warn("an earlier delivered version of the file stays hidden, as a newer file holds its name (after_upload is keep); it is on the server already: remove it, or rename it to send it again", "name", path.Join(dir.Name(), pendingName(base)))
			}
			dir.Close()
		}
		d.recordDelivered(ctx, j, wc, queue.Outcome{Delivered: &queue.FileState{FP: prev.FP, SHA256: prev.SHA256, Remote: prev.Remote}}, nil,
			func() { d.afterUploadResult(context.WithoutCancel(ctx), wc, j.Rel, nil, log) }, log)
		return true
	}
	dir, err := safefs.OpenDir(wc.Path, dirRel)
	if safefs.Missing(err) {
		d.doneAfterUpload(ctx, j, wc, action, "", log) // its folder is gone, and the file with it
		return true
	}
	if err != nil {
		d.retry(ctx, j, wc, err, log)
		return true
	}
	defer dir.Close()
	// An earlier delivered version set aside (pendingName) is finished
	// first; while that fails, the action of this delivery waits (a file
	// changed since is sent meanwhile).
	pendingErr := d.finishPending(dir, dirRel, base, wc, action, log)
	if pendingErr != nil {
		pendingErr = fmt.Errorf("after_upload %s of an earlier delivered version of the file, kept hidden as %s: %w", action, pendingName(base), pendingErr)
		log.Error("after_upload failed; trying again", "err", pendingErr)
		d.afterUploadResult(ctx, wc, j.Rel, pendingErr, log)
	}
	at := base
	f, err := dir.Open(base, wc.FollowLinks)
	switch {
	case err == nil:
		fi, err := f.Stat()
		if err != nil || fsid.Of(fi) != prev.FP {
			f.Close()
			// Changed since the delivery: sent again first. The delivered
			// file may lie staged beside it (the daemon stopped between
			// staging and the action, and a new file took the name):
			// its action is finished, or it is set aside under the pending
			// name, hidden, and finished by the path's next after_upload;
			// never does it come back under a free name to be sent again.
			if !d.finishStaged(dir, dirRel, stage, base, prev, wc, action, log) {
				d.retry(ctx, j, wc, errors.New("after_upload "+action+": the delivered file staged before a stop can neither be finished nor set aside; the new file waits"), log)
				return true
			}
			return false
		}
	case safefs.Missing(err):
		// Not at its name: staged when the daemon stopped, or done.
		f, err = dir.Open(stage, wc.FollowLinks)
		if safefs.Missing(err) && pendingErr != nil {
			d.retry(ctx, j, wc, pendingErr, log)
			return true
		}
		if safefs.Missing(err) {
			d.doneAfterUpload(ctx, j, wc, action, "", log)
			return true
		}
		if err != nil {
			d.retry(ctx, j, wc, err, log)
			return true
		}
		if fi, err := f.Stat(); err != nil || !fsid.Of(fi).SameContent(prev.FP) {
			f.Close()
			d.putBack(dir, stage, base, log)
			d.requeue(ctx, j, time.Now(), "the staged file differs from the delivered one; put back", true, log)
			return true
		}
		at = stage
	default:
		d.retry(ctx, j, wc, err, log)
		return true
	}
	defer f.Close()
	if pendingErr != nil {
		d.retry(ctx, j, wc, pendingErr, log)
		return true
	}
	if wait := time.Until(prev.DeliveredAt.Add(wc.Settle.D())); wait > 0 && at == base {
		d.requeue(ctx, j, time.Now().Add(wait), "delivered; after_upload "+action+" once the file has held still", true, log)
		return true
	}
	if err := d.q.Sync(ctx); err != nil { // the delivery record reaches the disk first
		d.retry(ctx, j, wc, err, log)
		return true
	}
	step("synced")
	// The write lease, held until the action is done, says no other
	// process has the file open (a writer that paused); one that opens it
	// meanwhile waits, and breaks the lease, which puts the file back.
	held, err := safefs.Lease(f)
	if errors.Is(err, safefs.ErrBusy) {
		msg := "delivered; another process still has the file open, so after_upload " + action + " waits"
		log.Debug(msg)
		d.requeue(ctx, j, time.Now().Add(wc.Settle.D()), msg, true, log)
		return true
	}
	defer held.Release()
	if at == base {
		// The check before the lease left a window (the sync, the lease
		// itself) in which the file could be rewritten in place with its
		// size and mtime put back; only its change time tells. With the
		// lease held no writer can come unseen: check it all again.
		if fi, err := f.Stat(); err != nil || fsid.Of(fi) != prev.FP {
			return false // changed since the delivery: sent again first
		}
	}
	d.noteOwnMove(wc.Path, j.Rel)
	if at == base {
		if err := dir.Rename(base, dir, stage); err != nil {
			d.forgetOwnMove(wc.Path, j.Rel)
			if errors.Is(err, fs.ErrExist) { // a staged file left from before: back beside it
				d.putBack(dir, stage, base, log)
			}
			d.retry(ctx, j, wc, err, log)
			return true
		}
		if err := dir.Sync(); err != nil {
			log.Warn("cannot sync the folder", "err", err)
		}
		step("staged")
		// Nobody can open it by name now: is it still the delivered file?
		fi, err := f.Stat()
		same := err == nil && fsid.Of(fi).SameContent(prev.FP)
		if ino, dev, err := dir.Ident(stage, wc.FollowLinks); err != nil || ino != prev.FP.Inode || dev != prev.FP.Dev {
			same = false
		}
		if !same {
			d.putBack(dir, stage, base, log)
			d.requeue(ctx, j, time.Now(), "the file changed at the moment of after_upload; sending it again", true, log)
			return true
		}
	}
	if held.Broken() {
		d.putBackDelivered(dir, stage, base, log)
		d.requeue(ctx, j, time.Now().Add(wc.Settle.D()), "delivered; another process is opening the file, so after_upload "+action+" waits", true, log)
		return true
	}
	used, err := actOnStaged(dir, dirRel, stage, base, f, wc, action)
	if errors.Is(err, errLeftWatch) {
		// The folder was renamed away (out of the watch) since it was
		// opened, found right before the file's removal: what it holds is
		// no longer the daemon's to move or delete (a copy made to
		// move_to stays: the delivered file as it was). The name goes
		// back; the next attempt finds the path gone and records the file
		// as moved away.
		d.putBack(dir, stage, base, log)
		log.Warn("the file's folder left the watch during after_upload; the file is left where it went", "copied_to_move_to_as", used)
		d.requeue(ctx, j, time.Now(), "the file's folder left the watch during after_upload", true, log)
		return true
	}
	if errors.Is(err, safefs.ErrSourceKept) {
		// The delivered file is copied to move_to, but its staging name
		// led to another file at the end (nobody else uses it): the
		// delivered file is moved; that other file is left alone.
		log.Warn("after_upload move copied the delivered file; another file took its staging name meanwhile and is left there", "err", err)
		held.Release()
		d.doneAfterUpload(ctx, j, wc, action, used, log)
		return true
	}
	if errors.Is(err, safefs.ErrNotSame) {
		// Another file took the staging name (nobody else uses it) and
		// was put back there; the delivered file is not where the daemon
		// left it. The next attempt looks again.
		log.Warn("after_upload found another file under the staging name; it is left there", "err", err)
		d.requeue(ctx, j, time.Now().Add(wc.Settle.D()), "after_upload found another file under the staging name", true, log)
		return true
	}
	if errors.Is(err, safefs.ErrChanged) { // written to during the copy to move_to: sent again
		d.putBack(dir, stage, base, log)
		d.requeue(ctx, j, time.Now(), "the file changed during after_upload move; sending it again", true, log)
		return true
	}
	if err != nil {
		d.putBackDelivered(dir, stage, base, log)
		log.Error("after_upload "+action+" failed; trying again", "err", err)
		d.afterUploadResult(ctx, wc, j.Rel, err, log) // counted in status and metrics
		d.retry(ctx, j, wc, err, log)
		return true
	}
	held.Release()
	step("moved")
	d.doneAfterUpload(ctx, j, wc, action, used, log)
	return true
}

// stagedDelivered opens the staged file stage if it is the delivered one
// (prev): a daemon stopped between staging it and the after_upload action
// left it under that name, which the watcher does not list.
func stagedDelivered(dir *safefs.Dir, stage string, prev *queue.FileState, follow bool) (*os.File, bool) {
	f, err := dir.Open(stage, follow)
	if err != nil {
		return nil, false
	}
	fi, err := f.Stat()
	if err != nil || !fsid.Of(fi).SameContent(prev.FP) {
		f.Close()
		return nil, false
	}
	return f, true
}

// finishStaged carries out the after_upload action on a delivered file
// that was staged when the daemon stopped, now that another file holds its
// name; a staged file that is not the delivered one is left alone. If the
// action fails, the file is set aside under the pending name, whose action
// the path's next after_upload finishes first (finishPending): it never
// comes back under a free name to be uploaded again. It reports false if
// the delivered file is still under the staging name (it could not be set
// aside): the new file at its name must then wait. As
// every action, it removes the file only while its folder is in the watch
// (actOnStaged checks right before the removal): a folder moved out of the
// watch keeps it, under its own name if that is free there.
func (d *Daemon) finishStaged(dir *safefs.Dir, dirRel, stage, base string, prev *queue.FileState, wc *config.Watch, action string, log *slog.Logger) bool {
	f, ok := stagedDelivered(dir, stage, prev, wc.FollowLinks)
	if !ok {
		return true
	}
	defer f.Close()
	used, err := actOnStaged(dir, dirRel, stage, base, f, wc, action)
	switch {
	case errors.Is(err, errLeftWatch):
		putBackOwn(dir, stage, base, log)
		log.Warn("the folder of the delivered file staged before a stop left the watch; the file is left where it went", "copied_to_move_to_as", used)
		return true
	case errors.Is(err, safefs.ErrSourceKept), errors.Is(err, safefs.ErrNotSame):
		log.Warn("after_upload of the delivered file staged before a stop found another file under the staging name; it is left there", "err", err)
		return true
	case err != nil:
		log.Error("after_upload "+action+" of the delivered file staged before a stop failed; it is set aside and tried again", "name", stage, "err", err)
		return d.putBackDelivered(dir, stage, base, log)
	}
	log.Info("after_upload "+action+" done for the delivered file staged before a stop; a new file has its name", "moved_as", used)
	return true
}

// finishPending carries out the after_upload action on the delivered file
// set aside under the pending name of base (see pendingName), if there is
// one. An error says the action failed: the file stays pending.
func (d *Daemon) finishPending(dir *safefs.Dir, dirRel, base string, wc *config.Watch, action string, log *slog.Logger) error {
	pending := pendingName(base)
	f, err := dir.Open(pending, false)
	if safefs.Missing(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	used, err := actOnStaged(dir, dirRel, pending, base, f, wc, action)
	switch {
	case errors.Is(err, errLeftWatch):
		return nil // gone with its folder, as the path is: the attempt finds it out
	case errors.Is(err, safefs.ErrSourceKept), errors.Is(err, safefs.ErrNotSame):
		log.Warn("after_upload of an earlier delivered version of the file found another file under its pending name; it is left there", "err", err)
		return nil
	case err != nil:
		return err
	}
	log.Info("after_upload "+action+" done for an earlier delivered version of the file, set aside while a newer file held its name", "moved_as", used)
	return nil
}

// errLeftWatch says that the folder of a staged file left the watch
// (renamed away) before the after_upload action removed it: nothing was
// removed.
var errLeftWatch = errors.New("the file's folder left the watch")

// actOnStaged carries out the after_upload action (delete, or move to
// move_to under base or a free name, returned) on the file staged in dir,
// open as f.
//
// Invariant: the staged file is removed from dir only while dir is still
// the folder dirRel of the watch: stillInWatch is checked at the last
// moment, right before the unlink or the rename, and, for a move across
// file systems, again after the (long) copy, right before the source is
// removed (safefs.MoveIf). A folder renamed out of the watch meanwhile
// keeps its file, and the error matches errLeftWatch (and, if the copy was
// made, safefs.ErrSourceKept, with used the copy's name in move_to). What
// is left is the moment between the last check and the unlink itself.
func actOnStaged(dir *safefs.Dir, dirRel, stage, base string, f *os.File, wc *config.Watch, action string) (used string, err error) {
	inWatch := func() error {
		if !stillInWatch(wc, dirRel, dir) {
			return errLeftWatch
		}
		return nil
	}
	switch action {
	case "delete":
		if err = inWatch(); err != nil {
			return "", err
		}
		if err = dir.Remove(stage); err == nil {
			err = dir.Sync()
		}
	case "move":
		var dst *safefs.Dir
		if dst, err = safefs.MkdirAll(wc.MoveTo, dirRel); err == nil {
			used, err = safefs.MoveIf(dir, stage, f, dst, base, true, inWatch)
			dst.Close()
		}
	}
	return used, err
}

// stillInWatch reports whether dir, opened for the folder dirRel below the
// watch, is still the folder found there now: a folder renamed out of the
// watch after it was opened keeps its descriptor, through which the daemon
// would act on files outside the watch.
func stillInWatch(wc *config.Watch, dirRel string, dir *safefs.Dir) bool {
	cur, err := safefs.OpenDir(wc.Path, dirRel)
	if err != nil {
		return false
	}
	defer cur.Close()
	same, err := cur.SameFolder(dir)
	return err == nil && same
}

// doneAfterUpload records that the after_upload action is done (in one
// transaction with the end of the job); the path's remote object is never
// deleted for the file's absence.
func (d *Daemon) doneAfterUpload(ctx context.Context, j *queue.Job, wc *config.Watch, action, used string, log *slog.Logger) {
	then := func(bool) {
		bg := context.WithoutCancel(ctx)
		d.afterUploadResult(bg, wc, j.Rel, nil, log) // clears a recorded failure
		d.readyMarkerDone(bg, wc, j, log)
	}
	if ok, _ := d.complete(ctx, j, queue.Outcome{MovedAway: true}, nil, then, log); !ok {
		return
	}
	then(false)
	if used != "" && used != path.Base(j.Rel) {
		log.Info("moved after upload under a free name", "name", used)
	} else {
		log.Debug("after_upload done", "action", action)
	}
}

// putBackOwn gives a staged file its own name again if that is free, and
// reports whether it did; otherwise the file keeps its staging name.
func putBackOwn(dir *safefs.Dir, stage, base string, log *slog.Logger) bool {
	if err := dir.Rename(stage, dir, base); err != nil {
		return false
	}
	if err := dir.Sync(); err != nil {
		log.Warn("cannot sync the folder", "err", err)
	}
	return true
}

// putBackDelivered gives a staged delivered file its own name again, or,
// if a newer file holds it, the pending name (see pendingName): never a
// free name, where it would be uploaded a second time as a new file. It
// reports whether the file left the staging name.
func (d *Daemon) putBackDelivered(dir *safefs.Dir, stage, base string, log *slog.Logger) bool {
	if putBackOwn(dir, stage, base, log) {
		return true
	}
	if err := dir.Rename(stage, dir, pendingName(base)); err != nil {
		log.Error("cannot set the delivered staged file aside; it stays under its staging name", "name", stage, "err", err)
		return false
	}
	if err := dir.Sync(); err != nil {
		log.Warn("cannot sync the folder", "err", err)
	}
	log.Info("a newer file holds the name of the delivered staged file; it is set aside, hidden, until its after_upload is done or its name is free", "name", pendingName(base))
	return true
}

// putBack gives a staged file its name again (or the next free one): for
// a file that is not (or no longer) the delivered one, which is to be sent.
func (d *Daemon) putBack(dir *safefs.Dir, stage, base string, log *slog.Logger) {
	used, err := safefs.Move(dir, stage, nil, dir, base, true)
	if err != nil {
		log.Error("cannot put the staged file back; it stays under its staging name", "name", stage, "err", err)
		return
	}
	if used != base {
		log.Warn("put the staged file back under a free name", "name", used)
	}
}

// park moves a failed file to failed_to under a free name, with its
// .error.txt note beside the name used. Only the very file that failed is
// parked (its fstat fingerprint is the job's): a version saved since has
// not been tried, and stays to be queued. The path is recorded as moved
// away before the move, so its absence never deletes a remote object; a
// file swapped in at the name between the check and the move is moved
// back, never removed; the move is made from the handle checked, and moves
// only that file (same inode and device at the moment of the move).
// Nothing in failed_to is removed or overwritten but
// dropsync's own note of a file parked before under the name used (and
// taken away since): a note whose name a parked file holds goes under a
// free name.
func (d *Daemon) park(ctx context.Context, wc *config.Watch, j *queue.Job, note string, log *slog.Logger) {
	dirRel, base := splitRel(j.Rel)
	src, err := safefs.OpenDir(wc.Path, dirRel)
	if err != nil {
		log.Error("failed_to move failed", "err", err)
		return
	}
	defer src.Close()
	f, err := src.Open(base, wc.FollowLinks) // only a regular file is parked
	if err != nil {
		log.Error("failed_to move failed", "err", err)
		return
	}
	fi, err := f.Stat()
	if err != nil || fsid.Of(fi) != j.FP {
		f.Close()
		log.Info("not parked in failed_to: the file changed since the attempt that failed; the new version is sent")
		return
	}
	// The move is made from this handle, checked to be the file that
	// failed: only that file is parked.
	from := f
	if runtime.GOOS == "windows" {
		f.Close() // Windows renames no open file; it has no inode to tell files apart either
		from = nil
	} else {
		defer f.Close()
	}
	dst, err := safefs.MkdirAll(wc.FailedTo, dirRel)
	if err != nil {
		log.Error("failed_to move failed", "err", err)
		return
	}
	defer dst.Close()
	if err := d.q.MarkMovedAway(context.WithoutCancel(ctx), wc.Path, j.Rel); err != nil {
		log.Error("cannot record the move to failed_to; the file stays", "err", err)
		return
	}
	d.noteOwnMove(wc.Path, j.Rel)
	// Only the file open as from is moved (its inode and device, checked
	// at the moment of the move): one swapped in at the name since the
	// check keeps its name (safefs.ErrNotSame) and is sent; across file
	// systems the copy reads from, and the name is removed only if it
	// still leads to that file (else safefs.ErrSourceKept: the failed file
	// is parked as copied, the new one stays). Where there is no inode
	// (Windows), a swap is told afterwards by size and mtime, which a move
	// and a copy keep, and moved back.
	used, err := safefs.Move(src, base, from, dst, base, true)
	if err != nil {
		d.forgetOwnMove(wc.Path, j.Rel) // the name was left to a file (the failed one, or a new version)
	}
	if errors.Is(err, safefs.ErrNotSame) {
		log.Info("not parked in failed_to: the file was replaced at that moment; the new version is sent", "err", err)
		return
	}
	kept := errors.Is(err, safefs.ErrSourceKept)
	if err != nil && !kept {
		log.Error("failed_to move failed", "err", err)
		return
	}
	if kept {
		// Copied across file systems; the name now leads to another file
		// (a new version saved during the copy), which keeps it and is
		// sent.
		log.Info("the failed file was copied to failed_to; a new file took its name meanwhile and stays to be sent", "err", err)
	}
	if pi, err := dst.Stat(used, false); err == nil && (pi.Size() != j.FP.Size || pi.ModTime().UnixNano() != j.FP.ModTime) {
		// Another file took the name in between; it was not tried.
		if _, err := safefs.Move(dst, used, nil, src, base, true); err != nil {
			log.Error("a file saved at the moment of failed_to was parked with the failed one's name; move it back by hand", "name", path.Join(dst.Name(), used), "err", err)
		} else {
			log.Info("not parked in failed_to: the file was replaced at that moment; the new version is sent")
		}
		return
	}
	if stale := noteName(used); isNoteFor(dst, stale, j.Rel) {
		dst.Remove(stale) // our note of a file parked before and taken away since
	}
	nf, written, err := createFree(dst, noteName(used))
	if err == nil {
		_, err = nf.WriteString(note)
		if cerr := nf.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		log.Error("cannot write error note", "err", err)
	} else if written != noteName(used) {
		log.Info("the error note's name is taken in failed_to; written under a free one", "note", written)
	}
	if used != base {
		log.Info("parked in failed_to under a free name", "name", used)
	}
}

// createFree creates the first free name of name, name itself or
// safefs.FreeName(name, n), never replacing a file.
func createFree(dir *safefs.Dir, name string) (*os.File, string, error) {
	for n := 1; ; n++ {
		cand := safefs.FreeName(name, n)
		f, err := dir.Create(cand)
		if err == nil || !errors.Is(err, fs.ErrExist) || n >= 100 {
			return f, cand, err
		}
	}
}

// noteName is the name of the .error.txt note beside the file parked as
// name: name + ".error.txt", name shortened by safefs.Fit (with a hash of
// the whole) when that is too long (a parked name of over 245 bytes had no
// note: its name was too long).
func noteName(name string) string { return safefs.Fit(name, ".error.txt") }

// isNoteFor reports whether the file name in dir is dropsync's .error.txt
// note for rel: a parked file may bear a note's name.
func isNoteFor(dir *safefs.Dir, name, rel string) bool {
	f, err := dir.Open(name, false)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, len("file: ")+len(rel)+1)
	_, err = io.ReadFull(f, head)
	return err == nil && string(head) == "file: "+rel+"\n"
}

// parkedName finds, among the files parked in dir for base (base and its
// free names, safefs.FreeName, shortened when long), the one whose size
// and mtime are fp's. It lists the folder dir
// holds open, never its path, which may be a link by now.
func parkedName(dir *safefs.Dir, base string, fp fsid.Fingerprint) (string, bool) {
	ents, err := dir.ReadDir(-1)
	if err != nil {
		return "", false
	}
	for _, e := range ents {
		n := e.Name()
		if _, ok := safefs.FreeNameIndex(base, n); !ok {
			continue
		}
		f, err := dir.Open(n, false)
		if err != nil {
			continue
		}
		fi, err := f.Stat()
		f.Close()
		if err == nil && fi.Size() == fp.Size && fi.ModTime().UnixNano() == fp.ModTime {
			return n, true
		}
	}
	return "", false
}

// restoreFailed moves a file back from failed_to for another attempt (after
// `queue retry`), removing its .error.txt note; it reports whether it did.
// Only the very file that failed comes back (same size and mtime as the
// job recorded): a copy parked there earlier must not replace a file the
// user has deleted since, and nothing at the file's name is overwritten.
func (d *Daemon) restoreFailed(ctx context.Context, wc *config.Watch, j *queue.Job, log *slog.Logger) bool {
	if wc.FailedTo == "" {
		return false
	}
	dirRel, base := splitRel(j.Rel)
	src, err := safefs.OpenDir(wc.FailedTo, dirRel)
	if err != nil {
		return false
	}
	defer src.Close()
	name, ok := parkedName(src, base, j.FP)
	if !ok {
		return false
	}
	dst, err := safefs.MkdirAll(wc.Path, dirRel)
	if err != nil {
		log.Error("cannot move the file back from failed_to", "err", err)
		return false
	}
	defer dst.Close()
	_, err = safefs.Move(src, name, nil, dst, base, false)
	switch {
	case errors.Is(err, safefs.ErrSourceKept):
		// Copied back across file systems; what is at its name in
		// failed_to now is another file, left there with the note.
		log.Warn("copied back from failed_to; another file took its name there meanwhile and stays", "err", err)
	case err != nil:
		log.Error("cannot move the file back from failed_to", "err", err)
		return false
	default:
		if note := noteName(name); isNoteFor(src, note, j.Rel) {
			src.Remove(note)
		}
	}
	log.Info("moved back from failed_to for another attempt", "from", path.Join(src.Name(), name))
	return true
}
