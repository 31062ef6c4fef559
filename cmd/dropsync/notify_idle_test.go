package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// Outside systemd (no NOTIFY_SOCKET) the notifier has no one to tell:
// it arms no STATUS timer and reads nothing from the queue, so an idle
// daemon stays idle.
func TestNotifierIdleOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := &notifier{log: slog.New(slog.NewTextHandler(io.Discard, nil))} // no daemon: a STATUS refresh would need one
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("the notifier refreshed STATUS outside systemd: %v", r)
			}
		}()
		n.run(ctx, time.Millisecond)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the notifier keeps running outside systemd")
	}
}
