package watcher

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// swapForLink moves the folder dir away and puts a symlink to outside in
// its place.
func swapForLink(t *testing.T, dir, outside string) {
	t.Helper()
	if err := os.Rename(dir, filepath.Join(t.TempDir(), "moved-away")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, dir); err != nil {
		t.Fatal(err)
	}
}

// pendingRels lists the pending files, sorted.
func pendingRels(w *Watcher) []string {
	var out []string
	for rel := range w.pending {
		out = append(out, rel)
	}
	slices.Sort(out)
	return out
}

// A folder swapped for a symlink to a folder outside while a scan walks
// the tree is not entered: nothing outside is listed, noted or watched.
func TestScanDoesNotEnterAFolderSwappedForALink(t *testing.T) {
	for _, mode := range []string{"events", "poll"} {
		t.Run(mode, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			write(t, filepath.Join(root, "sub", "in.txt"), "inside")
			write(t, filepath.Join(root, "top.txt"), "inside")
			write(t, filepath.Join(outside, "secret.txt"), "outside")
			sub := filepath.Join(root, "sub")
			scanHook = func(dir string) {
				if dir == sub {
					swapForLink(t, sub, outside) // listed as a folder, a link when entered
				}
			}
			defer func() { scanHook = nil }()
			w, err := New(Options{Root: root, Recursive: true, Mode: mode, Settle: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := w.scan(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := pendingRels(w); !slices.Equal(got, []string{"top.txt"}) {
				t.Errorf("pending %v, want [top.txt]", got)
			}
			if _, ok := w.known["sub/secret.txt"]; ok {
				t.Error("a file outside the watch is recorded as polled")
			}
			if slices.Contains(w.watchList(), sub) {
				t.Error("the folder outside the watch is watched through the link")
			}
		})
	}
}

// A folder marker that appears behind a folder swapped for a link to a
// folder outside releases nothing: the folder outside is not listed.
func TestFolderMarkerOutsideReleasesNothing(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write(t, filepath.Join(outside, "x.pdf"), "outside")
	write(t, filepath.Join(outside, ".ready"), "")
	if err := os.Symlink(outside, filepath.Join(root, "batch")); err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{Root: root, Recursive: true, ReadyMarker: "{dir}/.ready"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.markerSeen("batch/.ready", false)
	if got := pendingRels(w); len(got) > 0 {
		t.Fatalf("a marker outside the watch released %v", got)
	}
}

// A pending file whose folder is swapped for a link to a folder outside,
// where a file of its name and its ready marker lie, is not emitted: the
// file and the marker outside are not the watch's.
func TestPendingFileBehindASwappedFolderIsNotEmitted(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write(t, filepath.Join(root, "sub", "a.pdf"), "inside")
	write(t, filepath.Join(outside, "a.pdf"), "outside")
	write(t, filepath.Join(outside, "a.pdf.done"), "")
	w, err := New(Options{Root: root, Recursive: true, Settle: time.Millisecond, ReadyMarker: "{name}.done"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.note("sub/a.pdf", false)
	swapForLink(t, filepath.Join(root, "sub"), outside)
	now := time.Now()
	for i := range 3 { // a changed fingerprint waits one settle more
		now = now.Add(time.Second)
		if b := w.settled(now); len(b) > 0 {
			t.Fatalf("round %d emitted %+v from outside the watch", i, b)
		}
	}
}
