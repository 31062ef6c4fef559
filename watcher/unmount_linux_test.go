package watcher

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// goneIn returns the rels of the Gone events in batch, sorted.
func goneIn(batch []Event) []string {
	var out []string
	for _, e := range batch {
		if e.Gone {
			out = append(out, e.Rel)
		}
	}
	slices.Sort(out)
	return out
}

// A share mounted on a folder inside an events watch, unmounted while a
// full scan (reconcile, overflow) walks the tree: staleWatches checked the
// folder's device at the scan's start (still mounted), the root is
// unchanged, and the walk then lists the empty folder beneath the mount.
// With deletes: propagate, sweepFiles notes every file of the share as
// gone, and the settle pass (stat: ENOENT under the bare mount point)
// emits them as Gone: the remote copies are deleted though the files are
// safe on the share, which is back a moment later.
func TestShareUnmountedDuringAFullScanIsNotReportedGone(t *testing.T) {
	w, sub, unmount := shareInWatch(t, "events")
	ctx := context.Background()
	scanHook = func(dir string) {
		if dir == sub {
			unmount() // the share goes away for a moment, mid-walk
		}
	}
	defer func() { scanHook = nil }()
	if err := w.scan(ctx); err != nil { // a reconcile
		t.Fatal(err)
	}
	if gone := goneIn(w.settled(time.Now().Add(time.Hour))); len(gone) > 0 {
		t.Fatalf("files of a share unmounted during the scan reported gone: %q", gone)
	}
}

func relsOf(batch []Event) string {
	var out []string
	for _, e := range batch {
		s := e.Rel
		if e.Gone {
			s += " (gone)"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// A watch polled for want of an inotify instance runs prepareRoot's
// "asked for again at every full scan" branch, which unwatchTree's the
// root: known and files are forgotten before the walk. A file deleted
// after the last poll and before a full scan (reconcile) is then in no
// record: the scan cannot miss it, and no later poll or scan ever
// reports it gone. With deletes: propagate the remote copy stays for ever.
func TestFileDeletedBeforeAFullScanWithoutInotifyIsReportedGone(t *testing.T) {
	useUpInotifyInstances(t)
	root := t.TempDir()
	write(t, filepath.Join(root, "x.txt"), "x")
	w, err := New(Options{Root: root, Mode: "auto", EmitDeletes: true, Settle: time.Millisecond, PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	if err := w.scan(ctx); err != nil {
		t.Fatal(err)
	}
	if w.noInotify == nil {
		t.Skip("an inotify instance was had")
	}
	if got := relsOf(w.settled(time.Now().Add(time.Hour))); got != "x.txt" {
		t.Fatalf("start-up scan emitted %q, want x.txt", got)
	}
	if err := os.Remove(filepath.Join(root, "x.txt")); err != nil {
		t.Fatal(err)
	}
	if err := w.scan(ctx); err != nil { // a reconcile
		t.Fatal(err)
	}
	w.poll(ctx) // and the polls after it
	w.poll(ctx)
	if got := relsOf(w.settled(time.Now().Add(time.Hour))); got != "x.txt (gone)" {
		t.Fatalf("after the deletion, a full scan and polls emitted %q, want x.txt (gone)", got)
	}
}

// A share mounted on a folder inside a polled tree (mode poll, auto on a
// network root, or a sub-tree over the inotify budget) that is unmounted
// for a moment: checkMounts and staleWatches look only at folders with an
// inotify watch (dirs), so the unmount is not seen, the next poll lists the
// bare mount point and the sweep notes every file of the share as gone;
// the settle pass emits them as Gone. The package doc's "A root or folder
// whose device changed (remount, unmount) forgets them instead: nothing is
// deleted for a share that went away" does not hold for polled folders.
func TestShareUnmountedInsideAPolledTreeIsNotReportedGone(t *testing.T) {
	w, _, unmount := shareInWatch(t, "poll")
	ctx := context.Background()
	unmount()          // the share goes away for a moment
	w.checkMounts(ctx) // as Run does when the mount table changes
	w.poll(ctx)
	if gone := goneIn(w.settled(time.Now().Add(time.Hour))); len(gone) > 0 {
		t.Fatalf("files of a share unmounted inside a polled tree reported gone: %q", gone)
	}
}

// A share mounted on a folder inside an events watch whose mount point is
// removed with the unmount (udisks, gio and some automounters make and
// remove the folder they mount on). checkMounts sees the folder was a mount
// point (another device than its parent) but staleWatches forgets its
// files only when the path still stats as a folder on another device; a
// path that is gone gets dropWatches, which keeps files, so the next full
// scan sweeps every file of the share as gone and they are emitted as
// Gone: the remote copies are deleted although the share is only away.
func TestShareUnmountedWithItsMountPointIsNotReportedGone(t *testing.T) {
	w, sub, unmount := shareInWatch(t, "events")
	ctx := context.Background()
	unmount() // the share goes away, and its mount point with it
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	w.checkMounts(ctx)                  // as Run does when the mount table changes
	if err := w.scan(ctx); err != nil { // a reconcile before the share is back
		t.Fatal(err)
	}
	if gone := goneIn(w.settled(time.Now().Add(time.Hour))); len(gone) > 0 {
		t.Fatalf("files of a share unmounted with its mount point reported gone: %q", gone)
	}
}

// The same, seen by events: the folder's removal after the unmount
// reaches the parent's watch as a Remove of a watched folder, which for
// any other folder is a whole folder deleted (a Dir Gone event: every
// file delivered from below it deleted remotely). A folder recorded as a
// mount point is forgotten instead.
func TestMountPointRemovedAfterItsUnmountIsNoFolderGone(t *testing.T) {
	w, sub, unmount := shareInWatch(t, "events")
	ctx := context.Background()
	unmount()
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for removed := false; !removed; {
		select {
		case ev := <-w.fsw.Events:
			w.handle(ctx, ev)
			removed = ev.Name == sub && ev.Has(fsnotify.Remove)
		case <-timeout:
			t.Fatal("no Remove event for the mount point")
		}
	}
	if gone := goneIn(w.settled(time.Now().Add(time.Hour))); len(gone) > 0 {
		t.Fatalf("a mount point removed after its unmount reported gone: %q", gone)
	}
}

// shareInWatch mounts a tmpfs holding scan.pdf on the folder scanner of a
// new watch root, makes a watcher (mode, EmitDeletes) on that root and
// runs its start-up scan, which must emit scanner/scan.pdf. unmount takes
// the share away (once; the test's end does it otherwise).
func shareInWatch(t *testing.T, mode string) (w *Watcher, sub string, unmount func()) {
	t.Helper()
	root := t.TempDir()
	sub = filepath.Join(root, "scanner")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, sub)
	mounted := true
	t.Cleanup(func() {
		if mounted {
			exec.Command("umount", sub).Run()
		}
	})
	if err := os.WriteFile(filepath.Join(sub, "scan.pdf"), []byte("s"), 0o600); err != nil { // another file system
		t.Fatal(err)
	}
	w, err := New(Options{Root: root, Recursive: true, Mode: mode, EmitDeletes: true, Settle: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.settled(time.Now().Add(time.Hour)); !strings.Contains(relsOf(got), "scanner/scan.pdf") {
		t.Fatalf("start-up scan emitted %q, want scanner/scan.pdf", relsOf(got))
	}
	return w, sub, func() {
		if mounted {
			umount(t, sub)
			mounted = false
		}
	}
}
