package main

import (
	"context"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
)

// openQueue loads the configuration and opens its existing queue, never
// migrating it. The commands that only look (status, the list
// subcommands) open it read-only (SQLite mode=ro): a monitoring user who
// may read the database can run them, and a newer binary never changes the
// schema under a running older daemon. The commands that steer a queue
// beside a running daemon (retry, forget, resume) write through the
// queue's own methods.
func openQueue(ctx context.Context, path string, write bool) (*config.Config, *queue.Queue, error) {
	c, err := config.LoadForInspection(path)
	if err != nil {
		return nil, nil, err
	}
	open := queue.OpenReadOnly
	if write {
		open = queue.OpenExisting
	}
	q, err := open(ctx, c.StateDir)
	if err != nil {
		return nil, nil, err
	}
	return c, q, nil
}

// daemonNotice says when a change written to the queue takes effect: the
// queue tells a running daemon through a notification in the state
// directory (queue.Changes), which it acts on at once.
func daemonNotice(stateDir string) string {
	running, known := daemon.Running(stateDir)
	switch {
	case running:
		return "the running daemon picks them up within a second"
	case known:
		return "the daemon is not running: they are sent when it starts"
	}
	return "a running daemon picks them up within a second"
}
