package queue

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// notifyDir is the folder in the state directory through which processes
// that change the queue (the CLI's `queue retry`) tell a running daemon: a
// daemon watches it and polls nothing, so at idle it costs no wake-ups.
const notifyDir = "notify"

// notifyChanged tells a daemon watching the state directory that the queue
// changed. Without a daemon that ever ran there, there is no one to tell.
// It creates a new file (O_EXCL) and removes it, and never goes through a
// link: the CLI may run as root in a folder the daemon's account owns.
func (q *Queue) notifyChanged() error {
	dir := filepath.Join(filepath.Dir(q.path), notifyDir)
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		return nil
	}
	f, err := os.CreateTemp(dir, "changed-")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// Changes returns a channel that receives after another process changed
// the queue in a way a daemon must act on (see RetryFailed). It is watched
// with the operating system's file notifications until ctx ends.
func (q *Queue) Changes(ctx context.Context) (<-chan struct{}, error) {
	dir := filepath.Join(filepath.Dir(q.path), notifyDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: notifications: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("queue: notifications: %w", err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("queue: notifications: %w", err)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				select {
				case out <- struct{}{}:
				default: // one pending notice is enough
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
			}
		}
	}()
	return out, nil
}
