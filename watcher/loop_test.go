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
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	stop := runScanned(t, w, scanned, deadline.C)
	write(t, filepath.Join(root, "a.txt"), "a")
	select {
	case <-events:
	case <-deadline.C:
		t.Fatal("no event was read in 10s while a reconcile is always due")
	}
	stop("always-due reconcile")
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
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	stop := runScanned(t, w, scanned, deadline.C)
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
	stop("always-due poll")
}

// runScanned runs w until its start-up scan has ended (scanned closed),
// failing at deadline, and returns a stop that ends Run and checks that
// it returns context.Canceled within 5 s (what names the case).
func runScanned(t *testing.T, w *Watcher, scanned <-chan struct{}, deadline <-chan time.Time) (stop func(what string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, make(chan []Event)) }()
	select {
	case <-scanned:
	case <-deadline:
		t.Fatal("the start-up scan did not end in 10s")
	}
	return func(what string) {
		t.Helper()
		cancel()
		timer := time.NewTimer(5 * time.Second)
		defer timer.Stop()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run returned %v, want context.Canceled", err)
			}
		case <-timer.C:
			t.Fatalf("Run did not return 5s after its context ended (%s)", what)
		}
	}
}
