package watcher

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// deepTree makes n nested folders of 250-byte names below root by
// descriptor (their path exceeds PATH_MAX), with the file name at the
// bottom; it returns the file's rel path.
func deepTree(t *testing.T, root string, n int, name string) string {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for i := range n {
		p := strings.Repeat(string(rune('a'+i%26)), 250)
		if err := unix.Mkdirat(fd, p, 0o700); err != nil && err != unix.EEXIST {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, p, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd, parts = next, append(parts, p)
	}
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(ffd)
	return strings.Join(append(parts, name), "/")
}

// A file deeper than PATH_MAX below the root is part of the tree: a scan
// notes it.
func TestDeepTreeIsScanned(t *testing.T) {
	root := t.TempDir()
	want := deepTree(t, root, 18, "deep.txt")
	got := scanOnce(t, root)
	if !slices.Contains(got, want) {
		t.Fatalf("scan noted %d file(s); the file %d bytes below the root is never found", len(got), len(want))
	}
}

// A folder whose path is too long for an inotify watch is polled, and the
// log says so once: a file that arrives there later is emitted too.
func TestFolderTooLongForEventsIsPolled(t *testing.T) {
	root := t.TempDir()
	var log syncBuffer
	first := deepTree(t, root, 18, "first.txt")
	c := start(t, Options{Root: root, Recursive: true, Mode: "events", PollInterval: 20 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(&log, nil))})
	waitFor(t, "the file found by the start-up scan", func() bool { return slices.Contains(c.rels(), first) })
	later := deepTree(t, root, 18, "later.txt")
	waitFor(t, "the file that arrived later", func() bool { return slices.Contains(c.rels(), later) })
	if n := strings.Count(log.String(), "too long for file-system events"); n != 1 {
		t.Fatalf("the reason events cannot be used there is logged %d times, want once:\n%s", n, log.String())
	}
	if strings.Contains(log.String(), "cannot read") {
		t.Fatalf("the folder is reported unreadable:\n%s", log.String())
	}
}
