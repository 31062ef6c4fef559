package daemon

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/watcher"
)

// readyMarkerDone removes the ready marker of the delivered file of job j,
// after its after_upload (ready_marker_keep leaves it). A "{name}.done"
// marker goes with its file; a "{dir}/.ready" marker goes once no job of
// its folder is pending or in flight and every file of its batch has had
// its outcome (batchPending): the batch is the files the watch covers that
// were in the folder when the marker was written (change time not after
// the marker's), so a file still waiting in the watcher (min_age, a settle
// pushed back) keeps the marker, and a marker written again for the next
// batch stays until that batch is through too. The watcher never emits
// markers, so their removal is no deletion to propagate.
func (d *Daemon) readyMarkerDone(ctx context.Context, wc *config.Watch, j *queue.Job, log *slog.Logger) {
	rel := j.Rel
	if wc.ReadyMarker == "" || wc.ReadyMarkerKeep {
		return
	}
	m, err := watcher.ParseMarker(wc.ReadyMarker)
	if err != nil || m.None() {
		return
	}
	if m.PerFolder() {
		busy, err := d.q.ActiveInFolder(context.WithoutCancel(ctx), wc.Path, path.Dir(rel))
		if err != nil {
			log.Warn("cannot tell whether the folder's files are all delivered; its ready marker stays", "err", err)
			return
		}
		if busy {
			return
		}
	}
	mp := m.For(filepath.Join(wc.Path, filepath.FromSlash(rel)))
	dirRel, _ := splitRel(rel)
	dir, err := safefs.OpenDir(wc.Path, dirRel) // never through a folder swapped for a link
	if err == nil {
		if m.PerFolder() && d.batchPending(ctx, wc, dir, dirRel, filepath.Base(mp), log) {
			dir.Close()
			log.Debug("a file of the folder's batch has not been delivered yet; its ready marker stays", "marker", mp)
			return
		}
		err = dir.Remove(filepath.Base(mp))
		dir.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("cannot remove the ready marker", "marker", mp, "err", err)
		return
	}
	log.Debug("ready marker removed", "marker", mp)
}

// folderMarkerDone is readyMarkerDone for a file that failed for good: a
// "{dir}/.ready" marker goes if that file was the last of its batch to
// have an outcome (a failed file counts as done, queue.Settled); a
// "{name}.done" marker stays with its file.
func (d *Daemon) folderMarkerDone(ctx context.Context, wc *config.Watch, j *queue.Job, log *slog.Logger) {
	if m, err := watcher.ParseMarker(wc.ReadyMarker); err == nil && m.PerFolder() {
		d.readyMarkerDone(ctx, wc, j, log)
	}
}

// batchPending reports whether a file of the batch of the marker name in
// dir (below the watch at dirRel) has had no outcome yet (queue.Settled):
// a regular file the watch covers whose change time is not after the
// marker's. A marker or folder that cannot be read keeps the marker.
func (d *Daemon) batchPending(ctx context.Context, wc *config.Watch, dir *safefs.Dir, dirRel, name string, log *slog.Logger) bool {
	mfi, err := dir.Stat(name, false)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	written := fsid.Of(mfi).CTime
	g, ok := ctx.Value(jobKey{}).(*generation)
	if !ok {
		g = d.current()
	}
	idx, ok := g.watches[wc.Path]
	if !ok {
		return true
	}
	for {
		ents, err := dir.ReadDir(256)
		for _, e := range ents {
			if e.Name() == name || e.IsDir() || ownName(e.Name()) {
				continue
			}
			rel := path.Join(dirRel, e.Name())
			if !g.covers[idx](rel) {
				continue
			}
			fi, err := dir.Stat(e.Name(), wc.FollowLinks)
			if err != nil || !fi.Mode().IsRegular() {
				continue // gone meanwhile, or nothing the watch sends
			}
			fp := fsid.Of(fi)
			if written != 0 && fp.CTime > written {
				continue // arrived after the marker: the next batch's
			}
			done, err := d.q.Settled(context.WithoutCancel(ctx), wc.Path, rel, fp)
			if err != nil {
				log.Warn("cannot tell whether the folder's files are all delivered; its ready marker stays", "err", err)
				return true
			}
			if !done {
				return true
			}
		}
		if err == io.EOF {
			return false
		}
		if err != nil {
			log.Warn("cannot list the folder; its ready marker stays", "err", err)
			return true
		}
	}
}
