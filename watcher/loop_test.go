package watcher

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Work that is always due (a reconcile every nanosecond) neither starves
// events nor keeps a stop waiting: an event is still read, and Run returns
// promptly once its context ends.
func TestAlwaysDueReconcileYieldsToEventsAndStop(t *testing.T) {
	root := t.TempDir()
	events := make(chan struct{}, 1)
	scanned := make(chan struct{})
	w, err := New(Options{Root: root, Mode: "events", Reconcile: time.Nanosecond,
		OnEvent: func() {
			select {
			case events <- struct{}{}:
			default:
			}
		},
		OnScanned: func() { close(scanned) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, make(chan []Event)) }()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case <-scanned:
	case <-deadline.C:
		t.Fatal("the start-up scan did not end in 10s")
	}
	write(t, filepath.Join(root, "a.txt"), "a")
	select {
	case <-events:
	case <-deadline.C:
		t.Fatal("no event was read in 10s while a reconcile is always due")
	}
	cancel()
	stop := time.NewTimer(5 * time.Second)
	defer stop.Stop()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-stop.C:
		t.Fatal("Run did not return 5s after its context ended (always-due reconcile)")
	}
}

// A poll that is always due (every nanosecond) does not keep a rescan
// request waiting (an overflow asks for one) nor a stop.
func TestAlwaysDuePollYieldsToRescanAndStop(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.txt"), "a")
	scanned := make(chan struct{})
	w, err := New(Options{Root: root, Mode: "poll", PollInterval: time.Nanosecond,
		OnScanned: func() { close(scanned) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, make(chan []Event)) }()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	select {
	case <-scanned:
	case <-deadline.C:
		t.Fatal("the start-up scan did not end in 10s")
	}
	w.Rescan()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for len(w.rescan) > 0 {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatal("a rescan request waited 10s while a poll is always due")
		}
	}
	cancel()
	stop := time.NewTimer(5 * time.Second)
	defer stop.Stop()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v, want context.Canceled", err)
		}
	case <-stop.C:
		t.Fatal("Run did not return 5s after its context ended (always-due poll)")
	}
}
