package main

import (
	"context"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
)

// openQueueReadOnly loads the configuration and opens its queue read-only
// (SQLite mode=ro, never migrated), for the commands that only look:
// status and queue list. A monitoring user who may read the database can
// run them, and a newer binary never changes the schema under a running
// older daemon.
func openQueueReadOnly(ctx context.Context, path string) (*config.Config, *queue.Queue, error) {
	c, err := config.LoadForInspection(path)
	if err != nil {
		return nil, nil, err
	}
	q, err := queue.OpenReadOnly(ctx, c.StateDir)
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
