// Package daemontest runs the real daemon in-process for tests: watcher,
// SQLite queue in t.TempDir(), workers and the configured target, with a
// short settle time and fast retries. It registers no adapter: a test
// imports the adapter it drives (an adapter's own tests already have it).
package daemontest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/queue"
)

// Timeout bounds every Wait call.
var Timeout = 60 * time.Second

// Harness is a running daemon with one watch on Inbox.
type Harness struct {
	Inbox    string
	StateDir string
	Config   *config.Config
	Observer daemon.Observer // optional, set before Restart to observe

	t      testing.TB
	yaml   string
	mu     sync.Mutex
	d      *daemon.Daemon
	cancel context.CancelFunc
	done   chan error
}

// Start runs a daemon with one target named "t" (targetYAML: the keys under
// it, unindented) and one watch on h.Inbox (watchYAML: extra watch keys,
// unindented, e.g. "destination: {path: /Root/Content/Documents}"). The
// watch settles in 100ms unless watchYAML sets settle; retries start at
// 20ms and cap at 200ms. The daemon stops when the test ends.
func Start(t testing.TB, targetYAML, watchYAML string) *Harness {
	t.Helper()
	return StartObserved(t, nil, targetYAML, watchYAML)
}

// StartObserved is Start with an observer of the daemon (metrics, demo).
func StartObserved(t testing.TB, obs daemon.Observer, targetYAML, watchYAML string) *Harness {
	t.Helper()
	if !strings.Contains(watchYAML, "settle:") {
		watchYAML = strings.TrimRight(watchYAML, "\n") + "\nsettle: 100ms"
	}
	y := "state_dir: {{state}}\nworkers: 4\nshutdown_timeout: 5s\nretry: {initial: 20ms, max: 200ms}\n" +
		"targets:\n  t:\n" + indent(targetYAML, "    ") +
		"watches:\n  - path: {{inbox}}\n    target: t\n" + indent(watchYAML, "    ")
	return startYAML(t, obs, y)
}

// StartYAML runs a daemon from a whole configuration in which {{inbox}} and
// {{state}} stand for fresh folders.
func StartYAML(t testing.TB, y string) *Harness {
	t.Helper()
	return startYAML(t, nil, y)
}

func startYAML(t testing.TB, obs daemon.Observer, y string) *Harness {
	t.Helper()
	dir := t.TempDir()
	h := &Harness{t: t, Inbox: filepath.Join(dir, "inbox"), StateDir: filepath.Join(dir, "state"), Observer: obs}
	if err := os.MkdirAll(h.Inbox, 0o700); err != nil {
		t.Fatal(err)
	}
	h.yaml = strings.NewReplacer("{{inbox}}", h.Inbox, "{{state}}", h.StateDir).Replace(y)
	h.start()
	t.Cleanup(h.Stop)
	return h
}

func (h *Harness) start() {
	h.t.Helper()
	c, err := config.Parse(strings.NewReader(h.yaml))
	if err != nil {
		h.t.Fatalf("config: %v\n%s", err, h.yaml)
	}
	h.Config = c
	log := slog.New(slog.NewTextHandler(tlogWriter{h.t}, &slog.HandlerOptions{Level: logLevel()}))
	d, err := daemon.New(context.Background(), c, daemon.Options{Log: log, Observer: h.Observer})
	if err != nil {
		h.t.Fatalf("daemon: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	h.mu.Lock()
	h.d, h.cancel, h.done = d, cancel, done
	h.mu.Unlock()
}

func logLevel() slog.Level {
	if os.Getenv("DROPSYNC_TEST_LOG") == "debug" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Stop stops the daemon and waits for it (idempotent).
func (h *Harness) Stop() { <-h.StopAsync() }

// StopAsync tells the daemon to stop, as SIGTERM does, and returns a
// channel closed once it has stopped; the stop has begun when it returns.
func (h *Harness) StopAsync() <-chan struct{} {
	stopped := make(chan struct{})
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.cancel, h.done = nil, nil
	h.mu.Unlock()
	if cancel == nil {
		close(stopped)
		return stopped
	}
	cancel()
	go func() {
		defer close(stopped)
		if err := <-done; err != nil {
			h.t.Errorf("daemon stopped with error: %v", err)
		}
	}()
	return stopped
}

// Reload applies a whole new configuration to the running daemon, as
// SIGHUP does; {{inbox}} and {{state}} stand for the harness's folders. A
// configuration that does not parse fails the test.
func (h *Harness) Reload(t testing.TB, y string) error {
	t.Helper()
	y = strings.NewReplacer("{{inbox}}", h.Inbox, "{{state}}", h.StateDir).Replace(y)
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return h.Daemon().Reload(ctx, c)
}

// Restart stops the daemon and starts it again on the same state.
func (h *Harness) Restart(t testing.TB) {
	t.Helper()
	h.Stop()
	h.start()
}

// RestartYAML stops the daemon and starts it again on the same state with
// the whole configuration y, in which {{inbox}} and {{state}} stand for the
// harness's folders.
func (h *Harness) RestartYAML(t testing.TB, y string) {
	t.Helper()
	h.Stop()
	h.yaml = strings.NewReplacer("{{inbox}}", h.Inbox, "{{state}}", h.StateDir).Replace(y)
	h.start()
}

// Daemon is the running daemon.
func (h *Harness) Daemon() *daemon.Daemon {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.d
}

// Queue is the running daemon's queue.
func (h *Harness) Queue() *queue.Queue { return h.Daemon().Queue() }

// WatchPath is the watch root as the queue records it.
func (h *Harness) WatchPath() string { return h.Config.Watches[0].Path }

// WriteFile writes data to rel under the inbox, creating folders. The file
// appears whole, by a rename (see Place).
func (h *Harness) WriteFile(t testing.TB, rel string, data []byte) {
	t.Helper()
	h.Place(t, rel, 0o600, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteRandom writes size random bytes to rel and returns their SHA-256.
// The file appears whole, by a rename (see Place).
func (h *Harness) WriteRandom(t testing.TB, rel string, size int64) string {
	t.Helper()
	hs := sha256.New()
	h.Place(t, rel, 0o644, func(f *os.File) error {
		_, err := io.CopyN(io.MultiWriter(f, hs), rand.Reader, size)
		return err
	})
	return hex.EncodeToString(hs.Sum(nil))
}

// Place writes a file beside the inbox (same file system, outside the
// watch) with mode perm and renames it to rel, creating folders, as a
// finished upload or "save as" does. Written in place, a writer stalled
// longer than the settle period by a loaded machine would hand the daemon
// a partial file that no test meant to write; tests about slow or
// in-place writers write the inbox themselves.
func (h *Harness) Place(t testing.TB, rel string, perm os.FileMode, write func(*os.File) error) {
	t.Helper()
	p := filepath.Join(h.Inbox, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(filepath.Dir(h.Inbox), "writing-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name()) // after a failure; gone after the rename
	if err := write(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		t.Fatal(err)
	}
}

// Remove deletes rel from the inbox.
func (h *Harness) Remove(t testing.TB, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(h.Inbox, filepath.FromSlash(rel))); err != nil {
		t.Fatal(err)
	}
}

// Eventually polls cond every 10ms until it returns true or Timeout passes.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", Timeout, what)
		}
		<-tick.C
	}
}

// WaitDelivered waits until the state table records rel with content sha
// (any content if sha is "") and returns the record.
func (h *Harness) WaitDelivered(t testing.TB, rel, sha string) *queue.FileState {
	t.Helper()
	var st *queue.FileState
	Eventually(t, "delivery of "+rel, func() bool {
		s, err := h.Queue().FileState(context.Background(), h.WatchPath(), rel)
		if err != nil {
			t.Fatal(err)
		}
		st = s
		return s != nil && (sha == "" || s.SHA256 == sha)
	})
	return st
}

// WaitFailed waits until the job for rel is on the failed list.
func (h *Harness) WaitFailed(t testing.TB, rel string) *queue.Job {
	t.Helper()
	var job *queue.Job
	Eventually(t, rel+" on the failed list", func() bool {
		js, err := h.Queue().Jobs(context.Background(), queue.Failed, rel, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(js) > 0 {
			job = js[0]
		}
		return job != nil
	})
	return job
}

// WaitIdle waits until no job is pending or in flight.
func (h *Harness) WaitIdle(t testing.TB) {
	t.Helper()
	Eventually(t, "an idle queue", func() bool {
		c, err := h.Queue().Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return c[queue.Pending] == 0 && c[queue.Leased] == 0
	})
}

// WaitForgotten waits until the state table no longer records rel.
func (h *Harness) WaitForgotten(t testing.TB, rel string) {
	t.Helper()
	Eventually(t, rel+" forgotten", func() bool {
		s, err := h.Queue().FileState(context.Background(), h.WatchPath(), rel)
		if err != nil {
			t.Fatal(err)
		}
		return s == nil
	})
}

// RetryFailed re-queues every failed job, as `dropsync queue retry --failed`.
func (h *Harness) RetryFailed(t testing.TB) int {
	t.Helper()
	n, err := h.Queue().RetryFailed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.Daemon().Wake()
	return n
}

// PausedUntil returns the persisted throttle pause of target, or the zero
// time.
func (h *Harness) PausedUntil(t testing.TB, target string) time.Time {
	t.Helper()
	ps, err := h.Queue().Pauses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Target == target {
			return p.Until
		}
	}
	return time.Time{}
}

func indent(s, pre string) string {
	s = strings.Trim(s, "\n")
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(pre + l + "\n")
	}
	return b.String()
}
