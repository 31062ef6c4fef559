package watcher

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A watch root deleted and made again (rm -rf in; mkdir in) while
// something else holds the old folder open (an operator's shell cd'ed
// into it, a backup agent, the producer's open handle) gets no
// IN_DELETE_SELF until that last reference goes: the kernel sends it when
// the inode is freed. The watch stays on the deleted folder, healthy, and
// files dropped into the new root are never emitted until the reconcile.
// (Any mount or unmount on the machine during the test has the root probed
// and hides the defect: the same test passed once, after 15 s, while
// another process mounted a tmpfs.)
func TestRootDeletedWhileHeldOpenAndMadeAgainIsWatched(t *testing.T) {
	oldProbe, oldCheck := rootProbe, rootCheck
	rootProbe, rootCheck = 20*time.Millisecond, 20*time.Millisecond
	t.Cleanup(func() { rootProbe, rootCheck = oldProbe, oldCheck }) // after the watcher stopped
	parent := t.TempDir()
	root := filepath.Join(parent, "in")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	c := start(t, Options{Root: root, Recursive: true})
	waitFor(t, "the watch", func() bool { return len(c.w.watchList()) == 1 })
	held, err := os.Open(root) // as a shell's working directory would
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "new.txt"), "n")
	waitFor(t, "the file dropped into the re-made root", func() bool { return strings.Contains(c.emitted(), "new.txt") })
}
