package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A watch root that cannot be watched at start (inotify_add_watch
// refused: EACCES, the drop folder made 0700 by the producer's account) is
// reported once as "cannot read, skipping" and then forgotten: Health stays
// nil (healthz 200 while nothing is watched), and once the owner fixes the
// permissions no event can say so (the root's IN_ATTRIB would come from
// its own watch, which is missing; its parent is not watched) and the root
// probe does not run while healthy. Files dropped after the fix are never
// emitted until the reconcile. (A sub-folder in the same state is taken at
// its chmod: TestChmodWalksAFolderThatCouldNotBeRead.)
func TestRootThatCouldNotBeWatchedIsWatchedOnceReadable(t *testing.T) {
	old := rootProbe
	rootProbe = 20 * time.Millisecond
	root := t.TempDir()
	refuse := true // read and written by Run's goroutine only, after set-up
	t.Cleanup(func() {
		addWatch = func(w *Watcher, dir string) error { return w.fsw.Add(dir) }
		rootProbe = old
	}) // after the watcher stopped
	addWatch = func(w *Watcher, dir string) error {
		if refuse && dir == root {
			refuse = false // the owner fixes the permissions
			return fmt.Errorf("add watch: %w", syscall.EACCES)
		}
		return w.fsw.Add(dir)
	}
	c := start(t, Options{Root: root, Recursive: true})
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "after-fix.txt"), "a")
	waitFor(t, "a file dropped once the root is readable", func() bool { return strings.Contains(c.emitted(), "after-fix.txt") })
}
