package daemon

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/internal/safefs"
	"github.com/dropsync/dropsync/queue"
	"github.com/dropsync/dropsync/watcher"
)

// Enqueue retry: a batch the queue refuses (database busy past its busy
// timeout, disk full) is held and retried with backoff, and the batches
// that arrive meanwhile are merged into it, one item per path (the latest
// event wins). Nothing the watcher reported is dropped, deletions
// included; the watch reports unhealthy until the queue takes it.
const (
	enqueueRetryFirst = 100 * time.Millisecond
	enqueueRetryMax   = 5 * time.Second
	enqueueChunk      = 1000 // items per transaction
)

// enqueueLoop turns the watcher's batches into queue items, one
// transaction per batch, holding and retrying what the queue refuses. Its
// end (a reload removed or changed the watch) clears the watch's mark on
// health: what it held, the next watcher's scan finds again.
func (d *Daemon) enqueueLoop(ctx context.Context, wc *config.Watch, events <-chan []watcher.Event) {
	defer d.enq.set(wc.Path, nil)
	var held heldItems
	failures := 0
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	try := func() {
		n, err := d.enqueueChunks(ctx, held.items)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			wait := min(enqueueRetryFirst<<min(failures-1, 10), enqueueRetryMax)
			if failures == 1 {
				d.log.Error("cannot queue files; holding them and retrying", "watch", wc.Path, "files", len(held.items), "err", err)
			}
			d.enq.set(wc.Path, fmt.Errorf("watch %s: cannot queue %d file(s), retrying: %w", wc.Path, len(held.items), err))
			retry.Reset(wait)
			return
		}
		if failures > 0 {
			d.log.Info("queued the files held back", "watch", wc.Path, "files", len(held.items), "attempts", failures+1)
			d.enq.set(wc.Path, nil)
		}
		failures = 0
		held = heldItems{}
		if n > 0 {
			d.log.Debug("queued", "watch", wc.Path, "files", n)
			d.wake.notify()
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-events:
			held.add(d.items(wc, batch))
			if failures == 0 {
				try()
			}
		case <-retry.C:
			try()
		}
	}
}

// items makes queue items of a watcher batch.
func (d *Daemon) items(wc *config.Watch, batch []watcher.Event) []queue.Item {
	items := make([]queue.Item, 0, len(batch))
	for _, ev := range batch {
		if ev.Gone && d.tookOwnMove(wc.Path, ev.Rel) {
			continue
		}
		if ownName(ev.Rel) {
			if !ev.Gone {
				d.leftover(wc, ev.Rel)
			}
			continue
		}
		items = append(items, queue.Item{Watch: wc.Path, Rel: ev.Rel, Target: wc.Target, FP: ev.FP, Gone: ev.Gone, Dir: ev.Dir,
			AfterUpload: wc.AfterUpload != "keep", Order: wc.Order})
	}
	return items
}

// leftover names, in one warning per path while the daemon runs, a file
// left under safefs.RemovePrefix by a move across file systems that was
// interrupted between setting the source aside and removing it (the
// daemon was killed): the name it had is not known, so it is not sent,
// and it may be a newer version saved during the copy. A move in progress
// holds that name for microseconds, never until the file has settled.
func (d *Daemon) leftover(wc *config.Watch, rel string) {
	if !strings.HasPrefix(path.Base(rel), safefs.RemovePrefix) {
		return
	}
	k := wc.Path + "\x00" + rel
	d.mu.Lock()
	seen := d.named[k]
	d.named[k] = true
	d.mu.Unlock()
	if !seen {
		d.log.Warn("a file left by an interrupted move across file systems (dropsync stopped between setting the file aside and removing it): it is the moved file, whose copy is in move_to or failed_to, or a newer version saved during the move; it is not sent: compare it with that copy, then remove it, or rename it to send it",
			"watch", wc.Path, "path", rel)
	}
}

// enqueueChunks enqueues items in transactions of at most enqueueChunk
// items. On an error, the items already queued are queued again by the
// retry, which is harmless: events for a path coalesce.
func (d *Daemon) enqueueChunks(ctx context.Context, items []queue.Item) (int, error) {
	total := 0
	for len(items) > 0 {
		n := min(len(items), enqueueChunk)
		c, err := d.q.Enqueue(ctx, items[:n])
		if err != nil {
			return total, err
		}
		total += c
		items = items[n:]
	}
	return total, nil
}

// heldItems are items waiting for the queue, one per path and kind (a
// folder's deletion and a file now at the same path are both kept).
type heldItems struct {
	items []queue.Item
	index map[string]int
}

// add merges items into h: an item of a path and kind h holds takes the
// held one's place (the latest event wins). h takes over items' memory:
// into an empty h they are merged in place, an item written at or before
// the index it is read from, and the index is made for their number.
func (h *heldItems) add(items []queue.Item) {
	if h.items == nil {
		h.items = items[:0]
	}
	if h.index == nil {
		h.index = make(map[string]int, len(items))
	}
	for _, it := range items {
		k := it.Rel
		if it.Dir {
			k += "/"
		}
		if i, ok := h.index[k]; ok {
			h.items[i] = it
			continue
		}
		h.index[k] = len(h.items)
		h.items = append(h.items, it)
	}
}

// enqueueHealth records, per watch, why the queue refuses its batches.
type enqueueHealth struct {
	mu      sync.Mutex
	failing map[string]error
}

func (e *enqueueHealth) set(watch string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failing == nil {
		e.failing = map[string]error{}
	}
	if err == nil {
		delete(e.failing, watch)
		return
	}
	e.failing[watch] = err
}

func (e *enqueueHealth) health() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, err := range e.failing {
		return err
	}
	return nil
}
