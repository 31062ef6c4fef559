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
