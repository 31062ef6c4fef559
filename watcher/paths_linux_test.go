package watcher

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
)

// scanOnce runs one start-up scan of root (no Run loop) and returns the
// files it noted, sorted.
func scanOnce(t *testing.T, root string) []string {
	t.Helper()
	w, err := New(Options{Root: root, Recursive: true, Mode: "events"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	if err := w.scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for rel := range w.pending {
		got = append(got, rel)
	}
	slices.Sort(got)
	return got
}

// A folder whose name begins with a backslash (legal on Linux, made by
// NFS clients or any local user) is part of the tree: its files are
// noted, not skipped as outside the root.
func TestBackslashFolderIsScanned(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, `\in`, "a.txt"), "a")
	write(t, filepath.Join(root, "plain.txt"), "p")
	got := scanOnce(t, root)
	if !slices.Contains(got, `\in/a.txt`) {
		t.Fatalf("scan noted %q: the file in folder `\\in` is never found", got)
	}
}
