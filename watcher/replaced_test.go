package watcher

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func (c *collector) has(rel string, gone, dir bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.events {
		if e.Rel == rel && e.Gone == gone && e.Dir == dir {
			return true
		}
	}
	return false
}

// A file deleted and a folder made at its path within the settle period:
// settled dropped the pending Gone (not a regular file), and noteGone had
// already dropped its files record, so no full scan ever reported it:
// with deletes: propagate the remote copy of x.txt stayed for ever.
func TestFileReplacedByFolderIsReportedGone(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "x.txt"), "x")
	c := start(t, Options{Root: root, Recursive: true, EmitDeletes: true, Settle: time.Second})
	waitFor(t, "x.txt", func() bool { return c.has("x.txt", false, false) })
	if err := os.Remove(filepath.Join(root, "x.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "x.txt"), 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "s1"), "s") // settles after x.txt's entry
	waitFor(t, "s1", func() bool { return c.has("s1", false, false) })
	c.w.Rescan()
	write(t, filepath.Join(root, "s2"), "s")
	waitFor(t, "s2", func() bool { return c.has("s2", false, false) })
	if !c.has("x.txt", true, false) {
		t.Fatalf("x.txt deleted (a folder now has its name) is never reported gone: %s", c.emitted())
	}
}

// A folder moved out of the watch and a file made at its path within the
// settle period: noteFP cleared the pending entry's dir flag, and
// unwatchTree had already dropped the records of the files below it, so
// the folder's Gone was never emitted: the remote copies of d/y.txt
// stayed for ever.
func TestFolderReplacedByFileIsReportedGone(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "d", "y.txt"), "y")
	c := start(t, Options{Root: root, Recursive: true, EmitDeletes: true, Settle: time.Second})
	waitFor(t, "d/y.txt", func() bool { return c.has("d/y.txt", false, false) })
	if err := os.Rename(filepath.Join(root, "d"), filepath.Join(t.TempDir(), "archived")); err != nil { // moved out: one event, the folder's
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "d"), "now a file")
	write(t, filepath.Join(root, "s1"), "s")
	waitFor(t, "s1", func() bool { return c.has("s1", false, false) })
	c.w.Rescan()
	write(t, filepath.Join(root, "s2"), "s")
	waitFor(t, "s2", func() bool { return c.has("s2", false, false) })
	if !c.has("d", true, true) && !c.has("d/y.txt", true, false) {
		t.Fatalf("folder d deleted (a file now has its name): neither it nor d/y.txt is reported gone: %s", c.emitted())
	}
}
