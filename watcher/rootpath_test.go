package watcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The root's path is resolved once: when an ancestor folder of the
// root is renamed away and the path is made again (a deploy that moves
// /srv/drop aside and creates it afresh), no event reaches the root's
// watch (inotify reports IN_MOVE_SELF only to the folder moved), the mount
// table does not change, and the root probe does not run while the watch
// is healthy. Without the root check the watch stays on the old inode: a file dropped into the
// new root is never emitted until the next reconcile (1h by default).
func TestRootRecreatedUnderARenamedAncestorIsWatched(t *testing.T) {
	oldProbe, oldCheck := rootProbe, rootCheck
	rootProbe, rootCheck = 20*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { rootProbe, rootCheck = oldProbe, oldCheck }) // after the watcher stopped
	parent := t.TempDir()
	root := filepath.Join(parent, "drop", "in")
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	c := start(t, Options{Root: root, Recursive: true})
	waitFor(t, "the watch", func() bool { return len(c.w.watchList()) == 1 })
	if err := os.Rename(filepath.Join(parent, "drop"), filepath.Join(parent, "drop.old")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "new.txt"), "n")
	waitFor(t, "the file dropped into the re-created root", func() bool { return strings.Contains(c.emitted(), "new.txt") })
}

// A root that is a symlink (a release-style "current" link, or
// /srv/drop -> /data/drop) is watched on the folder the link pointed to at
// start; when the link is pointed elsewhere no event, mount change or
// probe notices, and files dropped into the folder the root now names are
// never emitted until the next reconcile.
func TestRootSymlinkRetargetedIsWatched(t *testing.T) {
	oldProbe, oldCheck := rootProbe, rootCheck
	rootProbe, rootCheck = 20*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { rootProbe, rootCheck = oldProbe, oldCheck }) // after the watcher stopped
	parent := t.TempDir()
	for _, d := range []string{"r1", "r2"} {
		if err := os.Mkdir(filepath.Join(parent, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(parent, "current")
	if err := os.Symlink("r1", root); err != nil {
		t.Fatal(err)
	}
	c := start(t, Options{Root: root, Recursive: true})
	waitFor(t, "the watch", func() bool { return len(c.w.watchList()) == 1 })
	tmp := filepath.Join(parent, "current.new")
	if err := os.Symlink("r2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, root); err != nil { // atomic retarget
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "new.txt"), "n")
	waitFor(t, "the file dropped into the folder the root names now", func() bool { return strings.Contains(c.emitted(), "new.txt") })
}
