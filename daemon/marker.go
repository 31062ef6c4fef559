package daemon

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/fsid"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/watcher"
)

// readyMarkerDone removes the ready marker of the delivered file of job j,
// after its after_upload (ready_marker_keep leaves it). A "{name}.done"
// marker goes with its file; a "{dir}/.ready" marker goes once no other
// job of its folder is pending or in flight, and only if it has not
// changed since j was queued: a marker written again meanwhile (the next
// batch, complete while this one's last upload ran) is the next batch's,
// whose files may still be settling. The watcher never emits markers, so
// their removal is no deletion to propagate.
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
		if m.PerFolder() && d.markerNewer(ctx, dir, filepath.Base(mp), j) {
			dir.Close()
			log.Debug("the folder's ready marker was written again since this batch was queued; it stays for the next", "marker", mp)
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

// markerNewer reports whether the marker name in dir changed after job j
// was queued (a batch's jobs are queued once its marker is there). A
// marker that cannot be looked at is not newer.
func (d *Daemon) markerNewer(ctx context.Context, dir *safefs.Dir, name string, j *queue.Job) bool {
	fi, err := dir.Stat(name, false)
	if err != nil {
		return false
	}
	queued, err := d.q.QueuedAt(ctx, j.ID)
	ct := fsid.Of(fi).CTime / int64(time.Millisecond) // as the queue keeps time
	return err == nil && ct != 0 && ct > queued.UnixMilli()
}
