package watcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tree makes dirs folders of files files each under root.
func tree(t testing.TB, root string, dirs, files int) {
	t.Helper()
	for d := range dirs {
		dir := filepath.Join(root, fmt.Sprintf("d%04d", d))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for i := range files {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.pdf", i)), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A stop during a start-up scan is honoured at the next folder: the walk
// does not go on through the rest of a huge tree.
func TestStopDuringStartupScanIsHonoured(t *testing.T) {
	root := t.TempDir()
	tree(t, root, 200, 1)
	w, err := New(Options{Root: root, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the stop arrives as the scan begins
	if err := w.Run(ctx, make(chan []Event)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if n := len(w.dirs); n > 1 {
		t.Fatalf("the cancelled scan watched %d folders", n)
	}
}

// Events are read while a scan runs: a file written while the walk is in
// the middle of the tree is reported by its event during the walk, not
// after it (and the kernel queue does not fill meanwhile).
func TestEventsAreReadDuringAScan(t *testing.T) {
	root := t.TempDir()
	tree(t, root, 50, 1)
	seen := make(chan struct{}, 1000)
	wrote := false
	steps := 0
	scanHook = func(dir string) {
		if filepath.Base(dir) == "d0001" && !wrote {
			wrote = true
			// The root is watched by now; its event must be handled before the
			// walk reaches the last folder.
			os.WriteFile(filepath.Join(root, "during.txt"), []byte("x"), 0o600)
		}
		if wrote && len(seen) == 0 {
			steps++
			// A folder of a huge tree takes a while: time for the event to
			// reach fsnotify's channel.
			slow := time.NewTimer(20 * time.Millisecond)
			<-slow.C
		}
	}
	defer func() { scanHook = nil }()
	w, err := New(Options{Root: root, Recursive: true, OnEvent: func() { seen <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.scan(ctx); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 {
		t.Fatalf("no event handled during a scan of %d more folders", steps)
	}
	if _, ok := w.pending["during.txt"]; !ok {
		t.Fatal("the file written during the scan is not pending")
	}
}

// An idle watch does not wake once per settle/4: its loop sleeps until the
// next poll, reconcile, settle deadline or root check (on Linux, a remount
// is noticed through the mount table, without a timer).
func TestIdleWatcherSleeps(t *testing.T) {
	root := t.TempDir()
	w, err := New(Options{Root: root, Recursive: true, Settle: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, make(chan []Event))
	}()
	timer := time.NewTimer(time.Second) // 100 ticks of settle/4 before the fix
	<-timer.C
	cancel()
	<-done
	if w.wakes > 1 { // at most the root check, due every rootCheck (30s)
		t.Fatalf("an idle watch woke %d times in 1s", w.wakes)
	}
}

// A sub-tree whose folders do not fit the inotify budget is polled instead
// of failing the watch.
func TestSubtreeBeyondTheInotifyBudgetIsPolled(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "small", "x.txt"), "x")
	os.MkdirAll(filepath.Join(root, "huge", "deep"), 0o700)
	t.Cleanup(func() { addWatch = func(w *Watcher, dir string) error { return w.fsw.Add(dir) } }) // after the watcher stopped
	addWatch = func(w *Watcher, dir string) error {
		if strings.Contains(dir, "huge") {
			return fmt.Errorf("add watch: %w", syscall.ENOSPC)
		}
		return w.fsw.Add(dir)
	}
	c := start(t, Options{Root: root, Recursive: true, PollInterval: 50 * time.Millisecond})
	waitFor(t, "x.txt", func() bool { return len(c.rels()) == 1 })
	if c.w.Health() != nil {
		t.Fatalf("health %v", c.w.Health())
	}
	write(t, filepath.Join(root, "huge", "deep", "y.txt"), "y")
	write(t, filepath.Join(root, "small", "z.txt"), "z")
	waitFor(t, "y.txt by polling and z.txt by events", func() bool { return len(c.rels()) == 3 })
	for _, d := range c.w.watchList() {
		if strings.Contains(d, "huge") {
			t.Fatalf("inotify watch on %s", d)
		}
	}
}

// Ready markers: a file goes only once its marker exists; the marker
// itself is never emitted. A folder marker releases the whole folder. A
// file may be emitted again when its marker is noticed after the file went
// (a poll that lists the marker after the settle check found it, or its
// event arriving then): the queue drops an unchanged file, so the test
// compares the files emitted, not the count of events.
func TestReadyMarkers(t *testing.T) {
	for _, mode := range []string{"events", "poll"} {
		t.Run(mode, func(t *testing.T) {
			root := t.TempDir()
			c := start(t, Options{Root: root, Recursive: true, Mode: mode, PollInterval: 50 * time.Millisecond, ReadyMarker: "{name}.done"})
			write(t, filepath.Join(root, "a.pdf"), "a")
			write(t, filepath.Join(root, "b.pdf"), "b")
			write(t, filepath.Join(root, "b.pdf.done"), "")
			waitFor(t, "b.pdf", func() bool { return c.emitted() != "" })
			if got := c.emitted(); got != "b.pdf" {
				t.Fatalf("events %s", got)
			}
			write(t, filepath.Join(root, "a.pdf.done"), "")
			waitFor(t, "a.pdf after its marker", func() bool { return c.emitted() != "b.pdf" })
			if got := c.emitted(); got != "a.pdf,b.pdf" {
				t.Fatalf("events %s", got)
			}

			root2 := t.TempDir()
			c2 := start(t, Options{Root: root2, Recursive: true, Mode: mode, PollInterval: 50 * time.Millisecond, ReadyMarker: "{dir}/.ready"})
			write(t, filepath.Join(root2, "batch", "1.pdf"), "1")
			write(t, filepath.Join(root2, "batch", "2.pdf"), "2")
			write(t, filepath.Join(root2, "other", "3.pdf"), "3")
			write(t, filepath.Join(root2, "other", ".ready"), "")
			waitFor(t, "other/3.pdf", func() bool { return c2.emitted() != "" })
			if got := c2.emitted(); got != "other/3.pdf" {
				t.Fatalf("events %s", got)
			}
			write(t, filepath.Join(root2, "batch", ".ready"), "")
			waitFor(t, "the batch folder", func() bool {
				got := c2.emitted()
				return strings.Contains(got, "batch/1.pdf") && strings.Contains(got, "batch/2.pdf")
			})
			if got := c2.emitted(); got != "batch/1.pdf,batch/2.pdf,other/3.pdf" {
				t.Fatalf("events %s", got)
			}
		})
	}
}

func TestParseMarker(t *testing.T) {
	for in, ok := range map[string]bool{"{name}.done": true, ".{name}.ok": true, "{dir}/.ready": true, "{name}": false, "done": false, "{dir}/": false, "x/{name}.done": false, "{dir}/a/b": false} {
		if _, err := ParseMarker(in); (err == nil) != ok {
			t.Errorf("ParseMarker(%q) = %v", in, err)
		}
	}
}

// min_age: a file whose mtime is younger waits until it is that old.
func TestMinAge(t *testing.T) {
	root := t.TempDir()
	old := filepath.Join(root, "old.txt")
	write(t, old, "o")
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	c := start(t, Options{Root: root, Recursive: true, MinAge: 700 * time.Millisecond})
	write(t, filepath.Join(root, "young.txt"), "y")
	begin := time.Now()
	waitFor(t, "old.txt", func() bool { return len(c.rels()) >= 1 })
	if got := strings.Join(c.rels(), ","); got != "old.txt" {
		t.Fatalf("events %s", got)
	}
	waitFor(t, "young.txt", func() bool { return len(c.rels()) == 2 })
	if took := time.Since(begin); took < 600*time.Millisecond {
		t.Fatalf("young.txt emitted after %s, before min_age", took)
	}
}

// A scan's files reach the queue in batches of at most maxBatch, so no
// queue transaction spans a whole scan.
func TestScanIsSentInBoundedBatches(t *testing.T) {
	root := t.TempDir()
	tree(t, root, 5, 500)
	w, err := New(Options{Root: root, Recursive: true, Settle: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, w)
	total := 0
	for total < 2500 {
		b := <-out
		if len(b) > maxBatch {
			t.Fatalf("a batch of %d events", len(b))
		}
		total += len(b)
	}
}

// The files a folder marker releases go to the queue together, in one
// batch: a folder marker is removed once none of its folder's files is
// queued, so a file that came a moment later would wait for a marker that
// is gone.
func TestFolderMarkerReleasesTheFolderInOneBatch(t *testing.T) {
	root := t.TempDir()
	tree(t, root, 1, 500)
	w, err := New(Options{Root: root, Recursive: true, Settle: 20 * time.Millisecond, ReadyMarker: "{dir}/.ready"})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, w)
	write(t, filepath.Join(root, "d0000", ".ready"), "")
	if b := <-out; len(b) != 500 {
		t.Fatalf("the first batch has %d of the folder's 500 files", len(b))
	}
}
