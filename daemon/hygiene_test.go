package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dropsync/dropsync/config"
	"github.com/dropsync/dropsync/daemon"
	"github.com/dropsync/dropsync/daemon/daemontest"
	"github.com/dropsync/dropsync/queue"
)

// The records of files that left the watch go after
// retention.forgotten_state: moved away by after_upload, or deleted by
// someone with deletes: ignore. A file still in the watch keeps its record.
func TestRecordsOfFilesGoneFromTheWatchArePruned(t *testing.T) {
	const retention = "retention: {done: 200ms, failed: 200ms, forgotten_state: 200ms}\n"
	t.Run("deleted by someone, deletes: ignore", func(t *testing.T) {
		mem.reset()
		h := daemontest.StartYAML(t, "state_dir: {{state}}\n"+retention+"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\n"+
			"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n")
		shaA := h.WriteRandom(t, "a.txt", 10)
		shaB := h.WriteRandom(t, "b.txt", 10)
		h.WaitDelivered(t, "a.txt", shaA)
		h.WaitDelivered(t, "b.txt", shaB)
		os.Remove(filepath.Join(h.Inbox, "b.txt"))
		h.WaitForgotten(t, "b.txt")
		daemontest.Eventually(t, "done jobs pruned", func() bool {
			c, _ := h.Queue().Counts(context.Background())
			return c[queue.Done] == 0
		})
		if st, err := h.Queue().FileState(context.Background(), h.WatchPath(), "a.txt"); err != nil || st == nil {
			t.Fatalf("the record of a file still in the watch went: %v", err)
		}
	})
	t.Run("moved away by after_upload", func(t *testing.T) {
		mem.reset()
		h := daemontest.StartYAML(t, "state_dir: {{state}}\n"+retention+"targets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\n"+
			"watches:\n  - path: {{inbox}}\n    target: t\n    settle: 100ms\n    after_upload: delete\n")
		h.WriteRandom(t, "scan-0001.pdf", 10)
		daemontest.Eventually(t, "the upload and the local delete", func() bool {
			_, err := os.Stat(filepath.Join(h.Inbox, "scan-0001.pdf"))
			sha, _ := mem.get("scan-0001.pdf")
			return sha != "" && os.IsNotExist(err)
		})
		h.WaitForgotten(t, "scan-0001.pdf")
	})
}

// An existing state_dir open to others is tightened to 0700 at start, and
// the lock file names the daemon, so a second one says who holds it.
func TestStateDirIsTightenedAndTheLockNamesTheHolder(t *testing.T) {
	dir := t.TempDir()
	state, in := filepath.Join(dir, "state"), filepath.Join(dir, "in")
	os.Mkdir(in, 0o700)
	os.Mkdir(state, 0o755)
	os.Chmod(state, 0o755)
	y := "state_dir: " + state + "\ntargets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n  - path: " + in + "\n    target: t\n"
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	d, err := daemon.New(context.Background(), c, daemon.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state_dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	b, _ := os.ReadFile(filepath.Join(state, queue.LockFileName))
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q, want the daemon's pid %d", b, os.Getpid())
	}
	_, err = daemon.New(context.Background(), c, daemon.Options{Log: log})
	if err == nil || !strings.Contains(err.Error(), "in use by another dropsync process (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second daemon: %v", err)
	}
}

// A state_dir that cannot be tightened is refused in one line that says
// what to do (/proc/1 is 0555 and its mode cannot be changed, even by root).
func TestStateDirThatCannotBeTightenedIsRefused(t *testing.T) {
	fi, err := os.Stat("/proc/1")
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		t.Skip("needs Linux /proc")
	}
	in := t.TempDir()
	y := "state_dir: /proc/1\ntargets:\n  t:\n    type: test-memory\n    url: http://127.0.0.1:1\nwatches:\n  - path: " + in + "\n    target: t\n"
	c, err := config.Parse(strings.NewReader(y))
	if err != nil {
		t.Fatal(err)
	}
	_, err = daemon.New(context.Background(), c, daemon.Options{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "state_dir /proc/1: mode 0555 cannot be tightened to 0500 (operation not permitted): chown it to the user dropsync runs as, or chmod 700 it") || !strings.Contains(err.Error(), "chmod 700 it") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
}
