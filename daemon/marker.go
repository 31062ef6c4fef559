package daemon

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/watcher"
)

// readyMarkerDone removes the ready marker of the delivered file rel, after
// its after_upload (ready_marker_keep leaves it). A "{name}.done" marker goes
// with its file; a "{dir}/.ready" marker goes once no other job of its
// folder is pending or in flight. The watcher never emits markers, so
// their removal is no deletion to propagate.
func (d *Daemon) readyMarkerDone(ctx context.Context, wc *config.Watch, rel string, log *slog.Logger) {
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
		err = dir.Remove(filepath.Base(mp))
		dir.Close()
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Warn("cannot remove the ready marker", "marker", mp, "err", err)
		return
	}
	log.Debug("ready marker removed", "marker", mp)
}
