package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// The first file of a new folder is emitted once it has held still for
// settle, even while files keep arriving in other new folders and events
// never pause: neither the stream of events nor the walks of the folders
// created meanwhile hold the settle deadline back. (Before, every event
// re-armed the loop's timer at least a millisecond ahead, and each new
// folder's walk first handled every event waiting, so a settled file was
// emitted only once the events paused.)
func TestFirstFileOfANewFolderSettlesDuringABurst(t *testing.T) {
	const (
		settle = 100 * time.Millisecond
		margin = 150 * time.Millisecond // a loaded machine, the race detector
		// At most 150 × 101 events: below the kernel's queue (16384 by
		// default), even if the watcher read none.
		perDir  = 100
		maxDirs = 150
	)
	root := t.TempDir()
	// Folders made beforehand are renamed in, and their files arrive as
	// hard links to one file written for each: a rename or a link costs
	// the file system far less than making a folder or a file, so the
	// burst is quick (the same file system: both under TMPDIR). A link
	// changes its file's ctime, so a folder's files settle once the next
	// folder's are being made.
	stage := t.TempDir()
	for d := range maxDirs {
		if err := os.Mkdir(filepath.Join(stage, fmt.Sprintf("d%04d", d)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(stage, fmt.Sprintf("f%04d", d)), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Events never pause, as when a burst outruns the watcher: the
	// watcher reads from a channel that a relay fills with the kernel's
	// events and in which, for every event the watcher reads, it finds a
	// Chmod (metadata noise, which it drops) put back while fewer than
	// noiseLevel wait. The watcher refills it itself, so no scheduling of
	// another goroutine can make it run dry.
	const noiseLevel = 64
	var noisy atomic.Bool
	noise := fsnotify.Event{Name: filepath.Join(root, "noise"), Op: fsnotify.Chmod}
	feed := make(chan fsnotify.Event, 4096)
	scanned := make(chan struct{})
	w, err := New(Options{Root: root, Recursive: true, Settle: settle, Mode: "events",
		OnScanned: func() { close(scanned) },
		OnEvent: func() {
			if noisy.Load() && len(feed) < noiseLevel {
				select {
				case feed <- noise:
				default: // the relay filled it meanwhile
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if w.fsw, err = fsnotify.NewWatcher(); err != nil { // what Run would ask for, made here to relay its events
		t.Fatal(err)
	}
	kernel := w.fsw.Events
	w.fsw.Events = feed
	out, ctx := run(t, w)
	t.Cleanup(func() { noisy.Store(false) }) // before the watcher stops
	go func() {
		for {
			select {
			case ev := <-kernel:
				select {
				case feed <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	first := make(chan time.Time, 1)
	go func() {
		for {
			select {
			case b := <-out:
				for _, ev := range b {
					if strings.HasPrefix(ev.Rel, "d0000/") {
						select {
						case first <- time.Now():
						default:
						}
					}
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	<-scanned
	noisy.Store(true)
	for range noiseLevel {
		feed <- noise
	}

	// The burst: folder after folder, each moved in and then filled,
	// until the first file of d0000 is emitted or settle+margin has
	// passed since d0000 was moved in.
	var start, emitted time.Time
	deadline := time.NewTimer(time.Hour)
	defer deadline.Stop()
	timedOut := false
	files, folders := 0, 0
burst:
	for d := range maxDirs {
		staged := filepath.Join(stage, fmt.Sprintf("f%04d", d))
		dir := filepath.Join(root, fmt.Sprintf("d%04d", d))
		if err := os.Rename(filepath.Join(stage, fmt.Sprintf("d%04d", d)), dir); err != nil {
			t.Fatal(err)
		}
		if d == 0 {
			start = time.Now()
			deadline.Reset(settle + margin)
		}
		folders++
		for i := range perDir {
			if err := os.Link(staged, filepath.Join(dir, fmt.Sprintf("f%03d", i))); err != nil {
				t.Fatal(err)
			}
			files++
			select {
			case emitted = <-first:
				break burst
			case <-deadline.C:
				timedOut = true
				break burst
			default:
			}
		}
	}
	if emitted.IsZero() && !timedOut { // the burst ran out first
		select {
		case emitted = <-first:
		case <-deadline.C:
		}
	}
	if emitted.IsZero() || emitted.Sub(start) > settle+margin {
		t.Fatalf("the first file of the first new folder was not emitted within settle %s + %s, while %d files arrived in %d new folders",
			settle, margin, files, folders)
	}
	t.Logf("emitted %s after its folder was moved in (settle %s), while %d files arrived in %d new folders",
		emitted.Sub(start).Round(time.Millisecond), settle, files, folders)
}

// Files noted one event at a time settle one by one; they are sent in
// passes at least settleGap apart, not a pass (a queue transaction) per
// file or two, and every one of them arrives.
func TestSettlePassesBatchABurst(t *testing.T) {
	const files = 900 // fewer than maxBatch: a pass sends one batch
	root := t.TempDir()
	staged := filepath.Join(t.TempDir(), "staged") // the same file system
	if err := os.WriteFile(staged, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	scanned := make(chan struct{})
	w, err := New(Options{Root: root, Recursive: true, Settle: 50 * time.Millisecond, Mode: "events", OnScanned: func() { close(scanned) }})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, w)
	<-scanned
	// Links to one file, each an event of its own, noted one at a time.
	// The file's ctime changes with every link, so the pass that finds a
	// link changed notes it again: they settle once the last is made.
	for i := range files {
		if err := os.Link(staged, filepath.Join(root, fmt.Sprintf("f%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var first, last time.Time
	got, passes := 0, 0
	timeout := time.NewTimer(20 * time.Second)
	defer timeout.Stop()
	for got < files {
		select {
		case b := <-out:
			last = time.Now()
			if passes == 0 {
				first = last
			}
			passes++
			got += len(b)
		case <-timeout.C:
			t.Fatalf("%d of %d files emitted", got, files)
		}
	}
	if limit := int(last.Sub(first)/settleGap) + 2; passes > limit {
		t.Fatalf("%d files were sent in %d passes over %s: more than one per %s", files, passes, last.Sub(first).Round(time.Millisecond), settleGap)
	}
	t.Logf("%d files in %d passes over %s", files, passes, last.Sub(first).Round(time.Millisecond))
}
