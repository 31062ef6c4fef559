package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
)

// A fatal watch error (here: the inotify instance of the first watch
// closes under it) stops the daemon: Run returns the error without a
// cancel from outside, so that systemd's Restart=on-failure restarts it.
// It hung when a reload had started a watch: apply started it under Run's
// outer ctx, not under runCtx, which the fatal error cancels, and Run
// waited for it forever.
func TestFatalWatchErrorEndsRun(t *testing.T) {
	for _, reload := range []bool{false, true} {
		t.Run(fmt.Sprint("reload=", reload), func(t *testing.T) {
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
			scanned := &readySignal{ready: make(chan struct{})}
			d, err := New(context.Background(), cfg(a), Options{Log: slog.New(slog.DiscardHandler), Lifecycle: scanned})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			<-scanned.ready // the first watch has scanned: it has its inotify instance
			if reload {
				if err := d.Reload(ctx, cfg(a, b)); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the reloaded watches", func() bool { return d.Watches() == 2 })
			}
			d.runMu.Lock()
			first := d.running[a].w
			d.runMu.Unlock()
			first.Close() // fsnotify closed: watcher.Run returns errClosed, a fatal error
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Run returned nil after a fatal watch error")
				}
			case <-time.After(10 * time.Second):
				cancel()
				select {
				case <-done:
					t.Fatal("after a fatal watch error, Run returned only once its ctx was cancelled: it hung on a watch")
				case <-time.After(10 * time.Second):
					t.Fatal("Run never returned")
				}
			}
		})
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readySignal is a Lifecycle that closes ready at Ready.
type readySignal struct {
	ready chan struct{}
	once  sync.Once
}

func (r *readySignal) Ready()    { r.once.Do(func() { close(r.ready) }) }
func (r *readySignal) Stopping() {}
