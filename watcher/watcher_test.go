package watcher

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// collector runs a watcher and gathers its events.
type collector struct {
	mu     sync.Mutex
	events []Event
	w      *Watcher
}

func start(t *testing.T, o Options) *collector {
	t.Helper()
	if o.Root == "" {
		o.Root = t.TempDir()
	}
	if o.Settle == 0 {
		o.Settle = 50 * time.Millisecond
	}
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{w: w}
	out, ctx := run(t, w)
	go func() {
		for {
			select {
			case b := <-out:
				c.mu.Lock()
				c.events = append(c.events, b...)
				c.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	return c
}

// run runs w until the test ends and returns the channel of its batches
// and the context it runs with, which ends when the test does.
func run(t *testing.T, w *Watcher) (<-chan []Event, context.Context) {
	t.Helper()
	out := make(chan []Event)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, out)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return out, ctx
}

func (c *collector) rels() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		s := e.Rel
		if e.Gone {
			s += " (gone)"
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// emitted lists the distinct events received so far, sorted, joined by
// commas.
func (c *collector) emitted() string {
	return strings.Join(slices.Compact(c.rels()), ",")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// write places a file with content s at p whole, creating folders: it is
// written in a folder of its own (the same file system) and renamed to p.
// Written in place, a writer stalled longer than settle by a loaded
// machine would have its empty file emitted, and the file emitted twice.
func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "writing")
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

func TestTreeCreatedInOneGoIsWatched(t *testing.T) {
	root := t.TempDir()
	c := start(t, Options{Root: root, Recursive: true, Ignore: []string{"*.tmp"}})
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(deep, "one.txt"), "1")
	write(t, filepath.Join(root, "a", "two.txt"), "2")
	write(t, filepath.Join(deep, "skip.tmp"), "x")
	waitFor(t, "both files", func() bool { return len(c.rels()) >= 2 })
	// Files written into the new folders after the walk arrive by events.
	write(t, filepath.Join(deep, "three.txt"), "3")
	waitFor(t, "the third file", func() bool { return len(c.rels()) >= 3 })
	if got := strings.Join(c.rels(), ","); got != "a/b/c/one.txt,a/b/c/three.txt,a/two.txt" {
		t.Fatalf("events %s", got)
	}
}

func TestSlowWriterIsEmittedOnceWithFinalContent(t *testing.T) {
	root := t.TempDir()
	c := start(t, Options{Root: root, Recursive: true, Settle: 300 * time.Millisecond})
	p := filepath.Join(root, "slow.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	for i := range 15 { // 1.5 s of writing, a chunk every 100ms
		<-tick.C
		f.Write([]byte(strings.Repeat("x", i+1)))
	}
	tick.Stop()
	f.Close()
	fi, _ := os.Stat(p)
	waitFor(t, "the file", func() bool { return len(c.rels()) == 1 })
	c.mu.Lock()
	ev := c.events[0]
	c.mu.Unlock()
	if ev.FP.Size != fi.Size() {
		t.Fatalf("emitted at size %d, final size %d", ev.FP.Size, fi.Size())
	}
}

func TestOverflowRescansTheTree(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "sub")
	os.Mkdir(sub, 0o700)
	overflows := make(chan struct{}, 1)
	c := start(t, Options{Root: root, Recursive: true, OnOverflow: func() { overflows <- struct{}{} }})
	waitFor(t, "the watch on sub", func() bool { return len(c.w.watchList()) == 2 })
	c.w.inotify().Remove(sub) // events from sub are lost from now on
	write(t, filepath.Join(sub, "missed.txt"), "m")
	c.w.inotify().Errors <- fsnotify.ErrEventOverflow
	<-overflows
	waitFor(t, "the rescan to find the file", func() bool { return len(c.rels()) == 1 })
}

func TestSymlinksAreNotFollowedByDefault(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write(t, filepath.Join(outside, "secret.txt"), "s")
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	c := start(t, Options{Root: root, Recursive: true})
	write(t, filepath.Join(root, "real.txt"), "r")
	waitFor(t, "real.txt", func() bool { return len(c.rels()) >= 1 })
	if got := strings.Join(c.rels(), ","); got != "real.txt" {
		t.Fatalf("events %s", got)
	}
}

func TestDeletesAreEmittedWhenAsked(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "x.txt"), "x")
	c := start(t, Options{Root: root, Recursive: true, EmitDeletes: true})
	waitFor(t, "x.txt", func() bool { return len(c.rels()) == 1 })
	os.Remove(filepath.Join(root, "x.txt"))
	waitFor(t, "the deletion", func() bool { return len(c.rels()) == 2 })
	if got := strings.Join(c.rels(), ","); got != "x.txt,x.txt (gone)" {
		t.Fatalf("events %s", got)
	}
}

func TestPreflightNamesTheSysctl(t *testing.T) {
	f := filepath.Join(t.TempDir(), "max_user_watches")
	os.WriteFile(f, []byte("100\n"), 0o600)
	old := maxWatchesFile
	maxWatchesFile = f
	defer func() { maxWatchesFile = old }()
	if err := Preflight(100); err != nil {
		t.Fatal(err)
	}
	err := Preflight(5000)
	if err == nil || !strings.Contains(err.Error(), "watching 5000 folders needs 5000 inotify watches, but fs.inotify.max_user_watches is 100") ||
		!strings.Contains(err.Error(), "sysctl -w fs.inotify.max_user_watches=524288") {
		t.Fatalf("err = %v", err)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "a", "b"), 0o700)
	os.MkdirAll(filepath.Join(root, ".git", "objects"), 0o700)
	if n, _ := CountDirs(root, true, []string{"**/.git"}); n != 3 {
		t.Fatalf("CountDirs = %d, want 3", n)
	}
}

// "New folder" renamed to its real name, then filled: the files arrive
// under the new name, also in sub-folders that moved with it.
func TestRenamedFolderIsWatchedUnderItsNewName(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "New folder", "sub"), 0o700)
	c := start(t, Options{Root: root, Recursive: true})
	waitFor(t, "the initial watches", func() bool { return len(c.w.watchList()) == 3 })
	if err := os.Rename(filepath.Join(root, "New folder"), filepath.Join(root, "Invoices")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "watches on the new name", func() bool {
		wl := strings.Join(c.w.watchList(), "|")
		return strings.Contains(wl, filepath.Join(root, "Invoices", "sub")) && !strings.Contains(wl, "New folder")
	})
	write(t, filepath.Join(root, "Invoices", "x.txt"), "x")
	write(t, filepath.Join(root, "Invoices", "sub", "y.txt"), "y")
	waitFor(t, "both files", func() bool { return len(c.rels()) == 2 })
	if got := strings.Join(c.rels(), ","); got != "Invoices/sub/y.txt,Invoices/x.txt" {
		t.Fatalf("events %s", got)
	}
}

// A watch root that disappears (unmounted, renamed) is reported and
// watched again once it is back.
func TestRootThatComesBackIsWatchedAgain(t *testing.T) {
	old := rootProbe
	rootProbe = 20 * time.Millisecond
	t.Cleanup(func() { rootProbe = old }) // after the watcher stopped
	parent := t.TempDir()
	root := filepath.Join(parent, "in")
	os.Mkdir(root, 0o700)
	c := start(t, Options{Root: root, Recursive: true})
	waitFor(t, "the watch", func() bool { return len(c.w.watchList()) == 1 })
	if err := os.Rename(root, filepath.Join(parent, "in.gone")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the root reported gone", func() bool { return c.w.Health() != nil })
	write(t, filepath.Join(parent, "in.gone", "unseen.txt"), "u") // not under the watch any more
	if err := os.Rename(filepath.Join(parent, "in.gone"), root); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the root watched again", func() bool { return c.w.Health() == nil })
	write(t, filepath.Join(root, "after-back.txt"), "b")
	waitFor(t, "both files", func() bool { return len(c.rels()) == 2 })
	if got := strings.Join(c.rels(), ","); got != "after-back.txt,unseen.txt" {
		t.Fatalf("events %s", got)
	}
}

// inotify is the watch's inotify instance, read as Run sets it (nil until
// the root is watched with events).
func (w *Watcher) inotify() *fsnotify.Watcher {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fsw
}

// watchList is what the watch's inotify instance watches (nothing before
// it has one).
func (w *Watcher) watchList() []string {
	if f := w.inotify(); f != nil {
		return f.WatchList()
	}
	return nil
}
