package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// count returns how many events the collector received for rel.
func (c *collector) count(rel string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events {
		if e.Rel == rel && !e.Gone {
			n++
		}
	}
	return n
}

// A file whose permissions change (the daemon could not read it, and the
// owner fixed that) is offered again at once, with its new fingerprint:
// the chmod moved its ctime. Before, the Chmod event was dropped and the
// file waited for the next reconcile.
func TestChmodOffersAFileAgain(t *testing.T) {
	root := t.TempDir()
	c := start(t, Options{Root: root, Recursive: true})
	p := filepath.Join(root, "sub", "a.txt")
	write(t, p, "a")
	waitFor(t, "a.txt emitted", func() bool { return c.count("sub/a.txt") == 1 })
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a.txt offered again after its chmod", func() bool { return c.count("sub/a.txt") == 2 })
	c.mu.Lock()
	defer c.mu.Unlock()
	var fps []string
	for _, e := range c.events {
		fps = append(fps, fmt.Sprint(e.FP))
	}
	if fps[0] == fps[len(fps)-1] {
		t.Fatalf("offered again with the same fingerprint %s", fps[0])
	}
}

// A chmod on a marker or an ignored file offers nothing.
func TestChmodOfAnIgnoredFileOffersNothing(t *testing.T) {
	root := t.TempDir()
	c := start(t, Options{Root: root, Ignore: []string{"*.tmp"}})
	write(t, filepath.Join(root, "x.tmp"), "x")
	write(t, filepath.Join(root, "a.txt"), "a")
	waitFor(t, "a.txt emitted", func() bool { return c.count("a.txt") == 1 })
	if err := os.Chmod(filepath.Join(root, "x.tmp"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "a.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a.txt offered again", func() bool { return c.count("a.txt") == 2 })
	if n := c.count("x.tmp"); n != 0 {
		t.Fatalf("the ignored file was emitted %d times", n)
	}
}

// A folder that could not be read when it was found (no watch, not
// listed) is walked as soon as its permissions change.
func TestChmodWalksAFolderThatCouldNotBeRead(t *testing.T) {
	root := t.TempDir()
	locked := filepath.Join(root, "locked")
	write(t, filepath.Join(locked, "a.txt"), "a")
	write(t, filepath.Join(root, "b.txt"), "b")
	refuse := true                                                                                // read and written by Run's goroutine only, after set-up
	t.Cleanup(func() { addWatch = func(w *Watcher, dir string) error { return w.fsw.Add(dir) } }) // after the watcher stopped
	addWatch = func(w *Watcher, dir string) error {
		if refuse && strings.HasSuffix(dir, "locked") {
			refuse = false // the owner fixes the permissions
			return fmt.Errorf("add watch: %w", syscall.EACCES)
		}
		return w.fsw.Add(dir)
	}
	c := start(t, Options{Root: root, Recursive: true})
	waitFor(t, "b.txt emitted", func() bool { return c.count("b.txt") == 1 })
	if c.count("locked/a.txt") != 0 {
		t.Fatal("the unreadable folder's file was emitted")
	}
	if err := os.Chmod(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the folder's file, once its permissions changed", func() bool { return c.count("locked/a.txt") == 1 })
}
