package watcher

import (
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A watch that polls (mode: poll, or auto on a network share) needs
// no inotify instance, yet New opens one and fails when the user's inotify
// instances (fs.inotify.max_user_instances, 128 by default, shared with
// every IDE, container runtime and agent of that user) are used up: the
// daemon does not start, or a reload that adds the watch is refused,
// instead of the watch polling as it would anyway. (An events watch could
// fall back to polling too, as it does when the watch budget runs out.)
func TestPolledWatchStartsWithoutInotifyInstances(t *testing.T) {
	useUpInotifyInstances(t)
	root := t.TempDir()
	write(t, filepath.Join(root, "x.txt"), "x")
	c := start(t, Options{Root: root, Mode: "poll", PollInterval: 50 * time.Millisecond})
	waitFor(t, "x.txt", func() bool { return strings.Contains(c.emitted(), "x.txt") })
}

// A watch that would use events but gets no inotify instance polls
// instead, saying so in one WARN line.
func TestEventsWatchWithoutInotifyInstancesPolls(t *testing.T) {
	useUpInotifyInstances(t)
	root := t.TempDir()
	write(t, filepath.Join(root, "x.txt"), "x")
	var log syncBuffer
	c := start(t, Options{Root: root, Mode: "auto", PollInterval: 50 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&log, nil))})
	waitFor(t, "x.txt", func() bool { return strings.Contains(c.emitted(), "x.txt") })
	write(t, filepath.Join(root, "y.txt"), "y")
	waitFor(t, "y.txt, found by polling", func() bool { return strings.Contains(c.emitted(), "y.txt") })
	if n := strings.Count(log.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d WARN lines, want 1:\n%s", n, log.String())
	}
}

// useUpInotifyInstances takes every inotify instance this user may have
// until the test ends.
func useUpInotifyInstances(t *testing.T) {
	var fds []int
	t.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	for {
		fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
		if err != nil {
			if !errors.Is(err, unix.EMFILE) {
				t.Skipf("inotify_init1: %v", err)
			}
			return
		}
		fds = append(fds, fd)
		if len(fds) > 100000 {
			t.Skip("no inotify instance limit here")
		}
	}
}
