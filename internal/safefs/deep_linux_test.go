package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A file whose relative path is longer than PATH_MAX (a deep tree) is
// still below the root and opens: openat2 refuses such a path as a whole
// (ENAMETOOLONG), so the component walk opens it.
func TestDeepTreeOpens(t *testing.T) {
	both(t, func(t *testing.T) {
		root := t.TempDir()
		rel := deepTree(t, root, 18)
		d, f, _, err := OpenFile(root, rel+"/deep.txt", false)
		if err != nil {
			t.Fatalf("OpenFile(%d-byte path) = %v", len(rel), err)
		}
		f.Close()
		d.Close()
		if _, err := Stat(root, rel+"/deep.txt", false); err != nil {
			t.Fatalf("Stat(%d-byte path) = %v", len(rel), err)
		}
	})
}

// A deep tree is confined as any other: a folder in it swapped for a
// symlink to a folder outside is not followed.
func TestDeepTreeStaysBelowTheRoot(t *testing.T) {
	both(t, func(t *testing.T) {
		root, outside := t.TempDir(), t.TempDir()
		parts := strings.Split(deepTree(t, root, 18), "/")
		unix.Close(mkdirs(t, outside, parts[6:])) // what the link would lead to
		mid := filepath.Join(root, filepath.Join(parts[:5]...))
		if err := os.Rename(filepath.Join(mid, parts[5]), filepath.Join(mid, "moved")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(mid, parts[5])); err != nil {
			t.Fatal(err)
		}
		d, err := OpenDir(root, strings.Join(parts, "/"))
		if err == nil {
			d.Close()
		}
		if !errors.Is(err, ErrOutside) {
			t.Fatalf("OpenDir through a folder swapped for a link = %v; want ErrOutside", err)
		}
	})
}

// deepTree makes n nested folders of 250-byte names below root, with
// deep.txt at the bottom; it returns their rel path.
func deepTree(t *testing.T, root string, n int) string {
	t.Helper()
	var parts []string
	for i := range n {
		parts = append(parts, strings.Repeat(string(rune('a'+i%26)), 250))
	}
	fd := mkdirs(t, root, parts)
	defer unix.Close(fd)
	ffd, err := unix.Openat(fd, "deep.txt", unix.O_WRONLY|unix.O_CREAT, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(ffd, []byte("deep"))
	unix.Close(ffd)
	return strings.Join(parts, "/")
}

// mkdirs makes the nested folders parts below dir by descriptor (their
// path may exceed PATH_MAX) and returns the last one open.
func mkdirs(t *testing.T, dir string, parts []string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range parts {
		if err := unix.Mkdirat(fd, name, 0o700); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	return fd
}
