package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
)

// A fatal watch error (here: the inotify instance of the first watch
// closes under it) stops the daemon: Run returns the error without a
// cancel from outside, so that systemd's Restart=on-failure restarts it.
// With a watch that a reload started, Run must not wait for it forever:
// apply starts it under Run's ctx, not under runCtx, which the fatal
// error cancels.
func TestFatalWatchErrorAfterAReloadEndsRun(t *testing.T) {
	dir := t.TempDir()
	a, b, state := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "state")
	for _, p := range []string{a, b} {
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	cfg := func(ws ...string) *config.Config {
		y := "state_dir: " + state + "\nworkers: 2\nshutdown_timeout: 2s\ntargets:\n  t:\n    type: rr-client\n    url: http://x\nwatches:\n"
		for _, w := range ws {
			y += "  - path: " + w + "\n    target: t\n    settle: 50ms\n"
		}
		c, err := config.Parse(strings.NewReader(y))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	d, err := New(context.Background(), cfg(a), Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for d.Watches() != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Reload(ctx, cfg(a, b)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // both scanned
	d.runMu.Lock()
	first := d.running[a].w
	d.runMu.Unlock()
	first.Close() // fsnotify closed: watcher.Run returns errClosed, a fatal error
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after a fatal watch error")
		}
		t.Logf("Run returned: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		select {
		case <-done:
			t.Fatal("after a fatal watch error, Run returned only once its ctx was cancelled: it hung on the watch a reload started")
		case <-time.After(10 * time.Second):
			t.Fatal("Run never returned")
		}
	}
}

// The same without a reload: Run returns by itself.
func TestFatalWatchErrorEndsRun(t *testing.T) {
	dir := t.TempDir()
	a, state := filepath.Join(dir, "a"), filepath.Join(dir, "state")
	if err := os.Mkdir(a, 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := config.Parse(strings.NewReader("state_dir: " + state + "\nworkers: 2\nshutdown_timeout: 2s\ntargets:\n  t:\n    type: rr-client\n    url: http://x\nwatches:\n  - path: " + a + "\n    target: t\n"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), c, Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	for d.Watches() != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	d.runMu.Lock()
	d.running[a].w.Close()
	d.runMu.Unlock()
	select {
	case err := <-done:
		t.Logf("Run returned: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after a fatal watch error")
	}
}
