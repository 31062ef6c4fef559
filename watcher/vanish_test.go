package watcher

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A folder that is removed between the event (or listing) that
// found it and its inotify_add_watch (a producer's short-lived work
// folder, a rename storm) makes the add fail with ENOENT, which walk
// reports like an unreadable folder: a WARN "cannot read, skipping" for
// every such folder (a log line per temporary folder, none of which is
// trouble), and its path is kept in w.reports for the life of the process.
func TestFolderGoneBeforeItsWatchIsNotReportedUnreadable(t *testing.T) {
	root := t.TempDir()
	var log syncBuffer
	t.Cleanup(func() { addWatch = func(w *Watcher, dir string) error { return w.fsw.Add(dir) } }) // after the watcher stopped
	addWatch = func(w *Watcher, dir string) error {
		if strings.HasSuffix(dir, "work.tmp") {
			os.Remove(dir) // the producer is done with it
		}
		return w.fsw.Add(dir)
	}
	c := start(t, Options{Root: root, Recursive: true, Log: slog.New(slog.NewTextHandler(&log, nil))})
	waitFor(t, "the root's watch", func() bool { return len(c.w.watchList()) == 1 })
	if err := os.Mkdir(filepath.Join(root, "work.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "sentinel.txt"), "s") // its event follows the folder's
	waitFor(t, "the sentinel", func() bool { return strings.Contains(c.emitted(), "sentinel.txt") })
	if s := log.String(); strings.Contains(s, "level=WARN") || strings.Contains(s, "level=ERROR") {
		t.Fatalf("a folder that merely went away was reported as trouble:\n%s", s)
	}
	c.w.mu.Lock()
	n := len(c.w.reports)
	c.w.mu.Unlock()
	if n > 0 {
		t.Fatalf("%d paths kept in reports for a folder that went away", n)
	}
}

// Every kernel event-queue overflow logs its own WARN line: a tree
// busy enough to overflow again and again (a burst producer, a scan of a
// huge folder that does not drain the queue) writes a line per rescan,
// with no summary or rate limit, where one line on trouble and one when
// it ends is the promise. (OnOverflow counts them for metrics.)
func TestRepeatedOverflowsAreLoggedOnce(t *testing.T) {
	var log syncBuffer
	overflows := make(chan struct{}, 1)
	c := start(t, Options{Recursive: true, Log: slog.New(slog.NewTextHandler(&log, nil)), OnOverflow: func() { overflows <- struct{}{} }})
	waitFor(t, "the root's watch", func() bool { return len(c.w.watchList()) == 1 })
	for range 5 {
		c.w.inotify().Errors <- fsnotify.ErrEventOverflow
		<-overflows
	}
	if n := strings.Count(log.String(), "overflowed"); n > 1 {
		t.Fatalf("%d log lines for 5 overflows in a row:\n%s", n, log.String())
	}
}
