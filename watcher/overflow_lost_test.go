package watcher

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// A folder renamed while the kernel's event queue is overflowed (its
// Rename and Create are among the lost events) is found by the rescan under
// its new name, but its inotify watch is still the one fsnotify holds under
// the old name: inotify_add_watch on the same inode returns the old watch
// descriptor, and fsnotify then keeps reporting the folder's events under
// the old path. Every file dropped into the renamed folder afterwards is
// stat'ed at the old path, found missing and dropped: never emitted until
// the next reconcile (1h by default). The watcher's own w.dirs keeps the
// old name too.
func TestFolderRenamedDuringAnOverflowIsWatchedUnderItsNewName(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "a"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"p", "q"} {
		write(t, filepath.Join(root, n), n)
	}
	var gate atomic.Bool
	blocked, release := make(chan struct{}), make(chan struct{})
	overflows := make(chan struct{}, 8)
	c := start(t, Options{Root: root, Recursive: true, Exclude: []string{"p", "q", "trigger"},
		OnEvent: func() {
			if gate.CompareAndSwap(true, false) {
				close(blocked)
				<-release // the watcher is busy (a slow queue): the kernel's queue fills
			}
		},
		OnOverflow: func() { overflows <- struct{}{} }})
	waitFor(t, "the watches", func() bool { return len(c.w.watchList()) == 2 })
	gate.Store(true)
	write(t, filepath.Join(root, "trigger"), "t")
	<-blocked
	flood(t, root)
	if err := os.Rename(filepath.Join(root, "a"), filepath.Join(root, "b")); err != nil { // its events are lost
		t.Fatal(err)
	}
	close(release)
	select {
	case <-overflows:
	case <-t.Context().Done():
	}
	// The overflow's rescan runs in the loop before any later settle
	// pass: once this file is emitted, the rescan is over.
	write(t, filepath.Join(root, "sentinel.txt"), "s")
	waitFor(t, "the sentinel", func() bool { return strings.Contains(c.emitted(), "sentinel.txt") })
	t.Logf("watches after the rescan: %q", c.w.watchList())
	write(t, filepath.Join(root, "b", "new.txt"), "n")
	waitFor(t, "b/new.txt dropped into the folder renamed during the overflow", func() bool {
		return strings.Contains(c.emitted(), "b/new.txt")
	})
}

// With deletes: propagate (EmitDeletes), a file deleted while the
// kernel's event queue is overflowed is never reported gone: the rescan
// only notes what it finds, and only polled files have a record (known)
// that a sweep can miss. The remote copy stays for ever (and the daemon's
// prune keeps the state row for ever, as a deletion it waits for).
func TestFileDeletedDuringAnOverflowIsReportedGone(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"p", "q"} {
		write(t, filepath.Join(root, n), n)
	}
	write(t, filepath.Join(root, "x.txt"), "x")
	var gate atomic.Bool
	blocked, release := make(chan struct{}), make(chan struct{})
	overflows := make(chan struct{}, 8)
	c := start(t, Options{Root: root, Recursive: true, EmitDeletes: true, Exclude: []string{"p", "q", "trigger"},
		OnEvent: func() {
			if gate.CompareAndSwap(true, false) {
				close(blocked)
				<-release
			}
		},
		OnOverflow: func() { overflows <- struct{}{} }})
	waitFor(t, "x.txt", func() bool { return c.emitted() == "x.txt" })
	gate.Store(true)
	write(t, filepath.Join(root, "trigger"), "t")
	<-blocked
	flood(t, root)
	if err := os.Remove(filepath.Join(root, "x.txt")); err != nil { // its event is lost
		t.Fatal(err)
	}
	close(release)
	select {
	case <-overflows:
	case <-t.Context().Done():
	}
	write(t, filepath.Join(root, "sentinel.txt"), "s")
	waitFor(t, "the sentinel", func() bool { return strings.Contains(c.emitted(), "sentinel.txt") })
	waitFor(t, "x.txt reported gone", func() bool { return strings.Contains(c.emitted(), "x.txt (gone)") })
}

// flood makes far more events than max_queued_events (16384 by default)
// on the files p and q of root, alternating so that the kernel cannot
// merge them: a watcher that is not reading overflows its queue.
func flood(t *testing.T, root string) {
	t.Helper()
	for i := range 40000 {
		n := "p"
		if i%2 == 1 {
			n = "q"
		}
		if err := os.Chmod(filepath.Join(root, n), os.FileMode(0o600|(i&1)<<2)); err != nil {
			t.Fatal(err)
		}
	}
}
